//! TCP: the accept loop of one listening socket, and for each accepted connection: choose
//! an endpoint, connect (moving on to the next ready endpoint when one refuses, is
//! unreachable or does not answer in time), then copy bytes both ways until both sides
//! have closed. A connection no endpoint takes is reset at once, like kube-proxy's REJECT.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{debug, warn};

use super::backend::Backend;
use super::stats::ServiceStats;

/// Pending connections the kernel queues per listening socket.
const BACKLOG: u32 = 1024;
/// Copy buffer per direction per connection.
const COPY_BUFFER: usize = 16 * 1024;
/// Pause after an accept error that is not about a single connection (out of file
/// descriptors, memory), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Open a listening socket on `addr`. `SO_REUSEADDR` lets a port that was just closed (its
/// connections in TIME_WAIT) be opened again when a service comes back.
pub(crate) fn bind(addr: SocketAddrV4) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr.into())?;
    socket.listen(BACKLOG)
}

/// Accept connections until the task is cancelled.
pub(crate) async fn serve(listener: TcpListener, backend: Arc<Backend>) {
    let mut failing = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                failing = false;
                tokio::spawn(handle(stream, peer, backend.clone()));
            }
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                if !failing {
                    warn!(service = %backend.frontend.service.name, namespace = %backend.frontend.service.namespace, error = %e, "accepting connections failed; pausing");
                    failing = true;
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

async fn handle(client: TcpStream, peer: SocketAddr, backend: Arc<Backend>) {
    let stats = &backend.stats;
    let _active = stats.open();
    // Best effort: a socket that refuses the option still carries the bytes.
    let _ = client.set_nodelay(true);
    let (order, affinity) = backend.plan_connection(peer.ip());
    let mut failures = 0usize;
    let mut reached = None;
    for endpoint in order {
        match connect(endpoint, backend.config.connect_timeout).await {
            Ok(stream) => {
                reached = Some((endpoint, stream));
                break;
            }
            Err(e) => {
                failures += 1;
                stats.endpoint_error();
                debug!(service = %backend.frontend.service.name, endpoint = %endpoint, error = %e, "endpoint did not take the connection; trying the next");
            }
        }
    }
    let Some((endpoint, upstream)) = reached else {
        stats.rejected();
        debug!(service = %backend.frontend.service.name, namespace = %backend.frontend.service.namespace, client = %peer, tried = failures, "no reachable endpoint; resetting the connection");
        reset(&client);
        return;
    };
    if failures > 0 {
        stats.failed_over();
    }
    backend.connected(peer.ip(), endpoint, affinity);
    let _ = upstream.set_nodelay(true);
    let mut client = Counted {
        stream: client,
        stats: stats.clone(),
        direction: Direction::In,
    };
    let mut upstream = Counted {
        stream: upstream,
        stats: stats.clone(),
        direction: Direction::Out,
    };
    // `copy_bidirectional` passes a half-close on: when one side finishes sending, the
    // other side's write half is shut down and the opposite direction keeps flowing.
    let copied = tokio::io::copy_bidirectional_with_sizes(
        &mut client,
        &mut upstream,
        COPY_BUFFER,
        COPY_BUFFER,
    )
    .await;
    if let Err(e) = copied {
        // One side reset or broke: reset the other too instead of a clean close, so it
        // does not take a truncated stream for a complete one.
        debug!(service = %backend.frontend.service.name, client = %peer, endpoint = %endpoint, error = %e, "connection broke");
        reset(&client.stream);
        reset(&upstream.stream);
    }
}

async fn connect(endpoint: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(endpoint)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

/// Make the coming close send RST instead of FIN.
fn reset(stream: &TcpStream) {
    // If the option cannot be set the close is a plain FIN, which still ends the stream.
    let _ = stream.set_zero_linger();
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    /// Bytes read from the client.
    In,
    /// Bytes read from the endpoint.
    Out,
}

/// A stream that counts the bytes read from it into the service's counters as they flow,
/// so long-lived connections show up before they end.
struct Counted {
    stream: TcpStream,
    stats: Arc<ServiceStats>,
    direction: Direction,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            match self.direction {
                Direction::In => self.stats.bytes_in(n),
                Direction::Out => self.stats.bytes_out(n),
            }
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
