//! The client half of the Raft transport: one HTTP/2 connection over mutual TLS per peer
//! address, shared by replication, votes, snapshots and forwarded requests, re-established
//! on demand. Every call has a deadline, so a dead peer costs a bounded wait, never a hang.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::{self, SendRequest};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::rpc;

/// Connecting (TCP, TLS and HTTP/2 handshakes) takes at most this long.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// How a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// Nothing reached the peer (no connection, bad address): safe to retry anywhere.
    #[error("{0}")]
    NotSent(String),
    /// The request may have reached the peer; its outcome is unknown.
    #[error("{0}")]
    Failed(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered with an error status (503: it is shutting down).
    #[error("answered {code}: {body}")]
    Status { code: u16, body: String },
}

/// Connections to every peer this member talks to, by address.
pub(crate) struct Peers {
    tls: Option<TlsConnector>,
    peers: Mutex<HashMap<String, Arc<Peer>>>,
}

struct Peer {
    target: Result<Target, String>,
    /// The live connection, if any (a cheap handle onto the shared HTTP/2 connection).
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
    /// Serializes connection attempts, so concurrent callers do not all dial at once.
    dialing: tokio::sync::Mutex<()>,
    last_ok: Mutex<Option<Instant>>,
}

struct Target {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    /// `https://host:port`, the prefix of every request URI.
    base: String,
}

// Poisoning is recovered from: the guarded values are plain handles and timestamps.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Peers {
    /// `tls` is the manager's client configuration (cluster CA + client certificate); ALPN is
    /// set to h2 here. `None`: every call fails with `NotSent`.
    pub(crate) fn new(tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let tls = tls.map(|config| {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            TlsConnector::from(Arc::new(config))
        });
        Peers {
            tls,
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn peer(&self, addr: &str) -> Arc<Peer> {
        lock(&self.peers)
            .entry(addr.to_string())
            .or_insert_with(|| {
                Arc::new(Peer {
                    target: parse_target(addr),
                    conn: Mutex::new(None),
                    dialing: tokio::sync::Mutex::new(()),
                    last_ok: Mutex::new(None),
                })
            })
            .clone()
    }

    /// When a call to `addr` last succeeded.
    pub(crate) fn last_ok(&self, addr: &str) -> Option<Instant> {
        let peer = lock(&self.peers).get(addr).cloned()?;
        *lock(&peer.last_ok)
    }

    /// POST `body` to `path` on the peer at `addr` and return the response body, all within
    /// `timeout`. Time spent connecting counts as `NotSent`: nothing reached the peer.
    pub(crate) async fn call(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let peer = self.peer(addr);
        let result = self.call_peer(&peer, path, body, timeout).await;
        match &result {
            Ok(_) => *lock(&peer.last_ok) = Some(Instant::now()),
            // A timeout may mean a dead connection the OS has not noticed yet; a 503 comes
            // from a member shutting down behind a connection that outlives it. Either way,
            // dial again next time.
            Err(CallError::Timeout(_) | CallError::Failed(_) | CallError::Status { .. }) => {
                lock(&peer.conn).take();
            }
            Err(CallError::NotSent(_)) => {}
        }
        if let Err(e) = &result {
            tracing::trace!(addr, path, error = %e, "peer call failed");
        }
        result
    }

    async fn call_peer(
        &self,
        peer: &Peer,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let started = Instant::now();
        let target = peer
            .target
            .as_ref()
            .map_err(|e| CallError::NotSent(e.clone()))?;
        let dial_for = timeout.min(DIAL_TIMEOUT);
        let sender = tokio::time::timeout(dial_for, self.sender(peer, target))
            .await
            .map_err(|_| {
                CallError::NotSent(format!(
                    "connecting to {} timed out after {dial_for:?}",
                    target.base
                ))
            })??;
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::timeout(left, send(sender, target, path, body))
            .await
            .map_err(|_| CallError::Timeout(timeout))?
    }

    /// The peer's live connection, dialing a new one if there is none.
    async fn sender(
        &self,
        peer: &Peer,
        target: &Target,
    ) -> Result<SendRequest<Full<Bytes>>, CallError> {
        let live = |peer: &Peer| lock(&peer.conn).clone().filter(|c| !c.is_closed());
        if let Some(conn) = live(peer) {
            return Ok(conn);
        }
        let _dialing = peer.dialing.lock().await;
        if let Some(conn) = live(peer) {
            return Ok(conn);
        }
        let conn = self.dial(target).await?;
        *lock(&peer.conn) = Some(conn.clone());
        Ok(conn)
    }

    async fn dial(&self, target: &Target) -> Result<SendRequest<Full<Bytes>>, CallError> {
        let not_sent = |what: &str, e: &dyn std::fmt::Display| {
            CallError::NotSent(format!("{what} {}: {e}", target.base))
        };
        let Some(tls) = &self.tls else {
            return Err(CallError::NotSent(format!(
                "cannot reach {}: this manager has no peer TLS configuration",
                target.base
            )));
        };
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| not_sent("connecting to", &e))?;
        let _ = tcp.set_nodelay(true);
        let stream = tls
            .connect(target.server_name.clone(), tcp)
            .await
            .map_err(|e| not_sent("TLS handshake with", &e))?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| not_sent("HTTP/2 handshake with", &e))?;
        let base = target.base.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %base, error = %e, "peer connection ended");
            }
        });
        tracing::debug!(peer = %target.base, "connected to peer");
        Ok(sender)
    }
}

/// Send one request on a live connection and read the whole answer.
async fn send(
    mut sender: SendRequest<Full<Bytes>>,
    target: &Target,
    path: &str,
    body: Vec<u8>,
) -> Result<Bytes, CallError> {
    let uri = format!("{}{path}", target.base);
    let request = Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, rpc::CONTENT_TYPE)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CallError::NotSent(format!("building request: {e}")))?;
    sender
        .ready()
        .await
        .map_err(|e| CallError::NotSent(format!("connection to {} closed: {e}", target.base)))?;
    let response = sender.send_request(request).await.map_err(|e| {
        let message = format!("request to {}{path}: {e}", target.base);
        if e.is_canceled() {
            CallError::NotSent(message)
        } else {
            CallError::Failed(message)
        }
    })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CallError::Failed(format!("reading answer of {}{path}: {e}", target.base)))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(CallError::Status {
            code: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(body)
}

/// `https://host:port` → where to dial and which name the peer's certificate must carry.
fn parse_target(addr: &str) -> Result<Target, String> {
    let invalid =
        |why: &str| format!("invalid peer address {addr:?} ({why}); expected https://host:port");
    let uri: Uri = addr
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("the scheme must be https"));
    }
    let host = uri
        .host()
        .ok_or_else(|| invalid("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let server_name =
        ServerName::try_from(host.clone()).map_err(|e| invalid(&format!("host: {e}")))?;
    let base = match uri.authority() {
        Some(authority) => format!("https://{authority}"),
        None => return Err(invalid("no authority")),
    };
    Ok(Target {
        host,
        port,
        server_name,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_into_dial_targets() {
        let t = parse_target("https://10.0.0.2:6443").expect("ip");
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.2", 6443));
        assert_eq!(t.base, "https://10.0.0.2:6443");
        let t = parse_target("https://[::1]:7000").expect("ipv6");
        assert_eq!((t.host.as_str(), t.port), ("::1", 7000));
        let t = parse_target("https://manager-1.example").expect("dns");
        assert_eq!((t.host.as_str(), t.port), ("manager-1.example", 443));
        assert!(parse_target("http://10.0.0.2:6443").is_err());
        assert!(parse_target("node-1").is_err());
    }
}
