//! The node's DNS server for its pods: answers names inside the cluster domain from the
//! catalog [`Snapshot`] (services, headless endpoints, named-port SRV, pod A records, PTR for
//! known addresses) and forwards everything else to the node's resolvers. Built on hickory.
//!
//! ```text
//! serve(config, catalog rx) ──► DnsHandle (UDP + TCP on config.listen)
//!        │
//!        ▼ per question
//!   DnsServer ── zone (pure lookup in the current snapshot)
//!             └─ forward (upstreams: UDP, TCP on truncation, next on failure, 2 s budget)
//! ```
//!
//! Seam: the only input is a `watch::Receiver<Arc<Snapshot>>`; whoever builds snapshots
//! publishes on it and the next question sees the change.
//!
//! hickory's server logs one `info` line per query under the `hickory_server` target; the
//! binary should filter that target to `warn`.

mod forward;
mod handler;
mod names;
mod resolv_conf;
mod stats;
mod zone;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tracing::info;

pub use handler::DnsServer;
pub use resolv_conf::{upstreams_from_resolv_conf, without_loopback};
pub use stats::{DnsCounters, DnsStats};

use crate::NetError;
use crate::catalog::Snapshot;

/// The cluster DNS address pods are given in production.
pub const CLUSTER_DNS_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10)), 53);

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers queued per TCP connection before the connection applies back-pressure.
const TCP_RESPONSE_BUFFER: usize = 32;
/// With port 0, how many times to look for a port free on both UDP and TCP.
const BIND_ATTEMPTS: usize = 16;

/// How the DNS server listens and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Address for both UDP and TCP. Port 0 picks one port free for both
    /// ([`DnsHandle::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The cluster domain, `cluster.local` unless the cluster says otherwise.
    pub cluster_domain: String,
    /// The node's resolvers for names outside the cluster domain, tried in order (see
    /// [`upstreams_from_resolv_conf`]). None: such names get SERVFAIL.
    pub upstreams: Vec<SocketAddr>,
    /// TTL of every record this server owns, and of its negative answers. Short, so clients do
    /// not keep using a moved or deleted service for long.
    pub ttl: u32,
    /// Time budget for one forwarded question across all upstreams; SERVFAIL after it.
    pub forward_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: CLUSTER_DNS_ADDRESS,
            cluster_domain: "cluster.local".to_string(),
            upstreams: Vec::new(),
            ttl: 5,
            forward_timeout: Duration::from_secs(2),
        }
    }
}

/// A running DNS server. Dropping the handle stops it at once; [`DnsHandle::shutdown`]
/// stops it after in-flight TCP connections end.
pub struct DnsHandle {
    server: Server<DnsServer>,
    local_addr: SocketAddr,
    counters: DnsCounters,
}

impl std::fmt::Debug for DnsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsHandle")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl DnsHandle {
    /// The address the server answers on, UDP and TCP alike.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The query counters, as a shared handle that outlives this one.
    pub fn counters(&self) -> DnsCounters {
        self.counters.clone()
    }

    /// The query counters now.
    pub fn stats(&self) -> DnsStats {
        self.counters.snapshot()
    }

    /// Resolves when the server stops on its own, which happens only when a socket fails.
    pub async fn stopped(&mut self) -> Result<(), NetError> {
        self.server
            .block_until_done()
            .await
            .map_err(|e| NetError::DnsServer {
                detail: e.to_string(),
            })
    }

    /// Stops accepting questions and waits for the listeners to finish.
    pub async fn shutdown(mut self) -> Result<(), NetError> {
        self.server
            .shutdown_gracefully()
            .await
            .map_err(|e| NetError::DnsServer {
                detail: e.to_string(),
            })
    }
}

/// Starts the DNS server on `config.listen` (UDP and TCP), answering from the snapshots
/// published on `catalog`.
pub async fn serve(
    config: DnsConfig,
    catalog: watch::Receiver<Arc<Snapshot>>,
) -> Result<DnsHandle, NetError> {
    let handler = DnsServer::new(&config, catalog)?;
    let counters = handler.counters();
    let (udp, tcp) = bind(config.listen).await?;
    let local_addr = udp.local_addr()?;
    let mut server = Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
    info!(
        listen = %local_addr,
        domain = %config.cluster_domain,
        upstreams = ?config.upstreams,
        ttl = config.ttl,
        "dns server started"
    );
    Ok(DnsHandle {
        server,
        local_addr,
        counters,
    })
}

/// Binds UDP and TCP on one address; with port 0, on one port free for both.
async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), NetError> {
    let listen_error = |addr, source| NetError::Listen { addr, source };
    if listen.port() != 0 {
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|e| listen_error(listen, e))?;
        let tcp = TcpListener::bind(listen)
            .await
            .map_err(|e| listen_error(listen, e))?;
        return Ok((udp, tcp));
    }
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|e| listen_error(listen, e))?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some((addr, e)),
            Err(e) => return Err(listen_error(addr, e)),
        }
    }
    let (addr, source) =
        last.unwrap_or_else(|| (listen, std::io::Error::from(std::io::ErrorKind::AddrInUse)));
    Err(listen_error(addr, source))
}
