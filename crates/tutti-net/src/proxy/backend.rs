//! One service port as the data path sees it: where its connections may go right now (read
//! from the latest snapshot at the moment of each new connection), its balancer and its
//! counters. Shared by every socket of the port and every connection through them.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::ProxyConfig;
use super::balance::Balancer;
use super::plan::Frontend;
use super::stats::ServiceStats;
use crate::catalog::Snapshot;

#[derive(Debug)]
pub(crate) struct Backend {
    pub frontend: Frontend,
    pub balancer: Balancer,
    pub stats: Arc<ServiceStats>,
    pub config: Arc<ProxyConfig>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
}

/// Where a new connection may go, as of the latest snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Candidates {
    /// Ready endpoints that serve this port, at their target port, sorted by address.
    pub endpoints: Vec<SocketAddr>,
    pub affinity: Option<Duration>,
}

impl Backend {
    pub fn new(
        frontend: Frontend,
        stats: Arc<ServiceStats>,
        config: Arc<ProxyConfig>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
    ) -> Backend {
        Backend {
            frontend,
            balancer: Balancer::default(),
            stats,
            config,
            snapshots,
        }
    }

    /// The candidates in the snapshot published last. A service that is gone has none.
    pub fn candidates(&self) -> Candidates {
        // Clone the Arc so the channel's lock is held only for the clone.
        let snapshot = Arc::clone(&self.snapshots.borrow());
        let Some(entry) = snapshot.services.get(&self.frontend.service) else {
            return Candidates::default();
        };
        let port_key = (self.frontend.port_name.clone(), self.frontend.protocol);
        let endpoints = entry
            .ready()
            .filter_map(|e| {
                let port = *e.ports.get(&port_key)?;
                Some(SocketAddr::V4(SocketAddrV4::new(e.ip, port)))
            })
            .collect();
        Candidates {
            endpoints,
            affinity: entry.session_affinity,
        }
    }

    /// The endpoints a new connection from `client` should try, in order.
    pub fn plan_connection(&self, client: IpAddr) -> (Vec<SocketAddr>, Option<Duration>) {
        let candidates = self.candidates();
        let order = self.balancer.order(
            client,
            &candidates.endpoints,
            candidates.affinity,
            Instant::now(),
        );
        (order, candidates.affinity)
    }

    /// `client` got through to `endpoint`.
    pub fn connected(&self, client: IpAddr, endpoint: SocketAddr, affinity: Option<Duration>) {
        self.balancer
            .connected(client, endpoint, affinity, Instant::now());
    }

    /// A receiver of new snapshots (for sockets that re-check long-lived state).
    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }
}
