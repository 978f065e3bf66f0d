//! UDP: one socket per service address. Datagrams from a client address form a session
//! with one endpoint: a connected upstream socket whose replies are sent back to the client
//! from the service socket, so they come from the address the client talked to (except on
//! a `0.0.0.0` node-port socket, where the kernel picks the source address).
//!
//! A session ends when it has been idle for `udp_idle_timeout`, when its endpoint stops
//! being a ready candidate, or when the endpoint refuses (ICMP port unreachable); the
//! client's next datagram then opens a new session with another endpoint. The table is
//! bounded by `udp_max_sessions`; datagrams that would open a session beyond it are
//! dropped and counted as rejected.
//!
//! Only the serving task owns the service socket (session tasks hand replies to it through
//! a queue), so cancelling that task closes the socket at once.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::debug;

use super::backend::Backend;
use super::stats::ActiveGuard;
use super::task::TaskGuard;
use crate::catalog::Snapshot;

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// Replies waiting to be sent from the service socket.
const REPLY_QUEUE: usize = 1024;

pub(crate) async fn bind(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    UdpSocket::bind(addr).await
}

struct Session {
    endpoint: SocketAddr,
    upstream: Arc<UdpSocket>,
    activity: Arc<Activity>,
    _relay: TaskGuard,
    _active: ActiveGuard,
}

/// When a session last carried a datagram either way, and whether its endpoint refused.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    refused: AtomicBool,
}

impl Activity {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

struct Relay {
    socket: UdpSocket,
    backend: Arc<Backend>,
    sessions: HashMap<SocketAddr, Session>,
    replies: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
}

/// Serve datagrams until the task is cancelled.
pub(crate) async fn serve(socket: UdpSocket, backend: Arc<Backend>) {
    let idle = backend.config.udp_idle_timeout;
    let (replies, mut reply_queue) = mpsc::channel(REPLY_QUEUE);
    let snapshots = backend.snapshots();
    let mut relay = Relay {
        socket,
        backend,
        sessions: HashMap::new(),
        replies,
        snapshots,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let sweep_every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watching = true;
    loop {
        tokio::select! {
            received = relay.socket.recv_from(&mut buf) => match received {
                Ok((n, client)) => relay.forward(&buf[..n], client).await,
                Err(e) => debug!(service = %relay.backend.frontend.service.name, error = %e, "receiving a datagram failed"),
            },
            Some((client, data)) = reply_queue.recv() => {
                match relay.socket.send_to(&data, client).await {
                    Ok(n) => relay.backend.stats.bytes_out(n as u64),
                    Err(e) => debug!(client = %client, error = %e, "sending a reply failed"),
                }
            }
            _ = sweep.tick() => relay.expire(),
            changed = relay.snapshots.changed(), if watching => match changed {
                Ok(()) => relay.drop_stale(),
                // The catalog is gone; the last snapshot stays in force.
                Err(_) => watching = false,
            },
        }
    }
}

impl Relay {
    async fn forward(&mut self, data: &[u8], client: SocketAddr) {
        // A datagram sent after a snapshot was published must not reach an endpoint that
        // snapshot withdrew, even if the change has not been handled above yet.
        if self.snapshots.has_changed().unwrap_or(false) {
            self.snapshots.mark_unchanged();
            self.drop_stale();
        }
        let stats = self.backend.stats.clone();
        let mut refused_before = false;
        if let Some(session) = self.sessions.get(&client) {
            if !session.activity.refused.load(Ordering::Relaxed) {
                match session.upstream.send(data).await {
                    Ok(n) => {
                        session.activity.touch();
                        stats.bytes_in(n as u64);
                        return;
                    }
                    Err(e) => {
                        stats.endpoint_error();
                        debug!(endpoint = %session.endpoint, error = %e, "endpoint socket failed; choosing again");
                    }
                }
            }
            refused_before = true;
            self.sessions.remove(&client);
        }
        if self.sessions.len() >= self.backend.config.udp_max_sessions {
            self.expire();
            if self.sessions.len() >= self.backend.config.udp_max_sessions {
                stats.rejected();
                debug!(service = %self.backend.frontend.service.name, client = %client, "UDP session table full; datagram dropped");
                return;
            }
        }
        let (order, affinity) = self.backend.plan_connection(client.ip());
        let mut failures = 0usize;
        for endpoint in order {
            match open_upstream(endpoint, data).await {
                Ok((upstream, n)) => {
                    stats.bytes_in(n as u64);
                    if failures > 0 || refused_before {
                        stats.failed_over();
                    }
                    self.backend.connected(client.ip(), endpoint, affinity);
                    self.start_session(client, endpoint, upstream);
                    return;
                }
                Err(e) => {
                    failures += 1;
                    stats.endpoint_error();
                    debug!(endpoint = %endpoint, error = %e, "endpoint unusable; trying the next");
                }
            }
        }
        stats.rejected();
        debug!(service = %self.backend.frontend.service.name, namespace = %self.backend.frontend.service.namespace, client = %client, tried = failures, "no reachable endpoint; datagram dropped");
    }

    fn start_session(&mut self, client: SocketAddr, endpoint: SocketAddr, upstream: UdpSocket) {
        let upstream = Arc::new(upstream);
        let activity = Arc::new(Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            refused: AtomicBool::new(false),
        });
        let relay = TaskGuard::spawn(relay_replies(
            upstream.clone(),
            client,
            self.replies.clone(),
            activity.clone(),
        ));
        let session = Session {
            endpoint,
            upstream,
            activity,
            _relay: relay,
            _active: self.backend.stats.open(),
        };
        self.sessions.insert(client, session);
    }

    /// End idle sessions and those whose endpoint refused.
    fn expire(&mut self) {
        let idle = self.backend.config.udp_idle_timeout;
        self.sessions
            .retain(|_, s| s.activity.idle() < idle && !s.activity.refused.load(Ordering::Relaxed));
    }

    /// End sessions whose endpoint is no longer a ready candidate of the service.
    fn drop_stale(&mut self) {
        if self.sessions.is_empty() {
            return;
        }
        let candidates = self.backend.candidates();
        self.sessions
            .retain(|_, s| candidates.endpoints.contains(&s.endpoint));
    }
}

/// A socket connected to `endpoint` that has sent `first` there.
async fn open_upstream(endpoint: SocketAddr, first: &[u8]) -> io::Result<(UdpSocket, usize)> {
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).await?;
    socket.connect(endpoint).await?;
    let n = socket.send(first).await?;
    Ok((socket, n))
}

/// Hand every datagram the endpoint sends back to the serving task, addressed to `client`.
async fn relay_replies(
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    replies: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    activity: Arc<Activity>,
) {
    loop {
        if let Err(e) = upstream.readable().await {
            debug!(error = %e, "endpoint socket failed");
            activity.refused.store(true, Ordering::Relaxed);
            return;
        }
        // A full-size buffer only while a datagram is being read: idle sessions hold none.
        let mut buf = vec![0u8; MAX_DATAGRAM];
        match upstream.try_recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                buf.shrink_to_fit();
                activity.touch();
                if replies.send((client, buf)).await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // Typically ECONNREFUSED: the endpoint answered with ICMP port unreachable.
                debug!(client = %client, error = %e, "endpoint refused; the session ends");
                activity.refused.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}
