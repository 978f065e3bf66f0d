//! The service data path: an async userspace L4 proxy. For every service port it listens
//! on the cluster IP, the external addresses and (NodePort, LoadBalancer) the node ports,
//! and sends each new connection to a ready endpoint of that port.
//!
//! Why userspace rather than nftables: it works the same inside a network namespace and
//! without kernel modules, it counts per connection, and it can retry a refused connection
//! on another endpoint, so a rolling update that stops a pod before its endpoint is
//! withdrawn loses no requests.
//!
//! How a change travels: the catalog publishes a new [`Snapshot`]; each new connection
//! reads the latest one when it is accepted (so endpoint changes apply to the very next
//! connection), and a table task opens and closes sockets to match it within
//! milliseconds. Closing a socket stops new connections; open ones run to their end.
//!
//! Layout: [`plan`] (pure: snapshot → sockets), `balance` (pure: endpoint order),
//! `backend` (one service port's live state), `tcp` and `udp` (the data path), `table`
//! (opening and closing sockets), `stats` (counters).
//!
//! Starting it (the node agent): make the service range local to the node (see
//! [`crate::host::make_local`]), start a [`Catalog`](crate::catalog::Catalog), wait for it
//! to sync, then `Proxy::start(catalog.subscribe(), config).await`.

mod backend;
mod balance;
pub mod plan;
mod stats;
mod table;
mod task;
mod tcp;
mod udp;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::catalog::{Protocol, ServiceKey, Snapshot};
pub use stats::ServiceCounters;
use task::TaskGuard;

/// How the proxy runs on this node.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Addresses NodePorts answer on. `0.0.0.0` means all of the node's addresses (and
    /// replaces any others); empty means node ports are not served.
    pub node_ips: Vec<Ipv4Addr>,
    /// Cluster and external IPs not to proxy, e.g. the cluster DNS address, which the
    /// DNS server owns.
    pub skip_ips: Vec<Ipv4Addr>,
    /// How long a connection attempt to one endpoint may take before the next is tried.
    pub connect_timeout: Duration,
    /// A UDP session with no datagram either way for this long ends.
    pub udp_idle_timeout: Duration,
    /// Most UDP sessions per service socket.
    pub udp_max_sessions: usize,
    /// How often sockets that could not be opened are tried again (besides on every
    /// snapshot change).
    pub rebind_interval: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            node_ips: vec![Ipv4Addr::UNSPECIFIED],
            skip_ips: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            udp_idle_timeout: Duration::from_secs(30),
            udp_max_sessions: 4096,
            rebind_interval: Duration::from_secs(5),
        }
    }
}

/// One socket the current snapshot asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    pub addr: SocketAddrV4,
    pub protocol: Protocol,
    pub service: ServiceKey,
    pub port_name: String,
    pub state: ListenerState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerState {
    Listening,
    /// Could not be opened (address not local, port taken, ...); retried every
    /// `rebind_interval` and on every snapshot change.
    Failed(String),
}

/// What the proxy tasks and the [`Proxy`] handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    stats: Mutex<BTreeMap<ServiceKey, Arc<stats::ServiceStats>>>,
    listeners: Mutex<Vec<ListenerStatus>>,
    applied: watch::Sender<Arc<Snapshot>>,
}

/// The running proxy. Dropping it closes every socket at once;
/// [`shutdown`](Proxy::shutdown) does the same and waits until they are closed.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    task: Option<TaskGuard>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Proxy {
    /// Open the sockets of the current snapshot on `snapshots`, then keep them in step
    /// with every later snapshot in the background. Returns once the first set is open
    /// (sockets that fail are reported by [`listeners`](Proxy::listeners) and retried).
    /// Must be called inside a tokio runtime.
    pub async fn start(snapshots: watch::Receiver<Arc<Snapshot>>, config: ProxyConfig) -> Proxy {
        let (applied, _) = watch::channel(Arc::new(Snapshot::default()));
        let shared = Arc::new(Shared {
            stats: Mutex::new(BTreeMap::new()),
            listeners: Mutex::new(Vec::new()),
            applied,
        });
        let mut table = table::Table::new(Arc::new(config), snapshots, shared.clone());
        table.apply_latest().await;
        let (shutdown, stop) = oneshot::channel();
        let task = TaskGuard::spawn(table.run(stop));
        Proxy {
            shared,
            task: Some(task),
            shutdown: Some(shutdown),
        }
    }

    /// Counters of every service in the snapshot applied last.
    pub fn stats(&self) -> BTreeMap<ServiceKey, ServiceCounters> {
        lock(&self.shared.stats)
            .iter()
            .map(|(k, s)| (k.clone(), s.read()))
            .collect()
    }

    /// Counters of one service, if it is in the snapshot applied last.
    pub fn service_stats(&self, key: &ServiceKey) -> Option<ServiceCounters> {
        lock(&self.shared.stats).get(key).map(|s| s.read())
    }

    /// Every socket the snapshot applied last asks for, sorted by address.
    pub fn listeners(&self) -> Vec<ListenerStatus> {
        lock(&self.shared.listeners).clone()
    }

    /// The snapshot whose sockets are open now; changes each time the table catches up.
    pub fn applied(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.shared.applied.subscribe()
    }

    /// Close every socket and wait until they are closed. Connections in flight are not
    /// interrupted.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The table task may already be gone; then there is nothing left to close.
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.join().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data behind these locks is replaced whole, never left half-written, so a
    // panic elsewhere cannot have broken it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
