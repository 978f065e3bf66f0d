//! Forwarding to the node's upstream resolvers: one question at a time over UDP, again over
//! TCP when the UDP answer is truncated, the next upstream when one fails, all within one
//! time budget.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};
use tracing::debug;

/// The UDP payload size advertised upstream: the DNS-flag-day value that avoids IP
/// fragmentation on common paths; larger answers come over TCP.
const UPSTREAM_PAYLOAD: u16 = 1232;

/// Why one upstream did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("no answer within the time budget")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the query: {0}")]
    Encode(String),
    #[error("answered {0}")]
    Refused(ResponseCode),
    #[error("answer over TCP is malformed or for another question: {0}")]
    BadTcpAnswer(String),
}

/// Why forwarding a question failed altogether.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("no upstream resolvers are configured")]
    NoUpstreams,
    #[error("no upstream answered; last error from {upstream}: {source}")]
    AllFailed {
        upstream: SocketAddr,
        source: UpstreamError,
    },
}

/// The node's upstream resolvers and how long one question may take in all.
#[derive(Debug, Clone)]
pub(crate) struct Forwarder {
    upstreams: Vec<SocketAddr>,
    budget: Duration,
}

impl Forwarder {
    pub(crate) fn new(upstreams: Vec<SocketAddr>, budget: Duration) -> Forwarder {
        Forwarder { upstreams, budget }
    }

    /// Asks the upstreams in order until one answers with anything but SERVFAIL or REFUSED
    /// (NXDOMAIN is an answer). Each upstream gets an equal share of what is left of the budget.
    pub(crate) async fn ask(
        &self,
        query: &Query,
        recursion_desired: bool,
        checking_disabled: bool,
    ) -> Result<Message, ForwardError> {
        let deadline = Instant::now() + self.budget;
        let mut last = None;
        for (i, &upstream) in self.upstreams.iter().enumerate() {
            let left = u32::try_from(self.upstreams.len() - i).unwrap_or(u32::MAX);
            let share = deadline.saturating_duration_since(Instant::now()) / left;
            let attempt_deadline = Instant::now() + share;
            let mut request = Message::query();
            request.metadata.recursion_desired = recursion_desired;
            request.metadata.checking_disabled = checking_disabled;
            request.add_query(query.clone());
            let mut edns = Edns::new();
            edns.set_max_payload(UPSTREAM_PAYLOAD);
            request.set_edns(edns);
            match exchange(upstream, &request, attempt_deadline).await {
                Ok(response) => return Ok(response),
                Err(error) => {
                    debug!(%upstream, name = %query.name(), %error, "upstream failed");
                    last = Some((upstream, error));
                }
            }
        }
        match last {
            Some((upstream, source)) => Err(ForwardError::AllFailed { upstream, source }),
            None => Err(ForwardError::NoUpstreams),
        }
    }
}

/// One question to one upstream: UDP, then TCP if the answer came back truncated.
async fn exchange(
    upstream: SocketAddr,
    request: &Message,
    deadline: Instant,
) -> Result<Message, UpstreamError> {
    let bytes = request
        .to_vec()
        .map_err(|e| UpstreamError::Encode(e.to_string()))?;
    let udp = timeout_at(deadline, over_udp(upstream, request, &bytes))
        .await
        .map_err(|_| UpstreamError::Timeout)??;
    let response = if udp.metadata.truncation {
        timeout_at(deadline, over_tcp(upstream, request, &bytes))
            .await
            .map_err(|_| UpstreamError::Timeout)??
    } else {
        udp
    };
    match response.metadata.response_code {
        code @ (ResponseCode::ServFail | ResponseCode::Refused) => {
            Err(UpstreamError::Refused(code))
        }
        _ => Ok(response),
    }
}

/// Sends over a fresh connected UDP socket and waits for the datagram that answers this
/// question; anything else arriving on the socket is dropped.
async fn over_udp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> Result<Message, UpstreamError> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(bytes).await?;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let n = socket.recv(&mut buf).await?;
        match Message::from_vec(&buf[..n]) {
            Ok(response) if answers(request, &response) => return Ok(response),
            Ok(_) => debug!(%upstream, "dropping a datagram that answers another question"),
            Err(error) => debug!(%upstream, %error, "dropping a malformed datagram"),
        }
    }
}

/// Sends over a fresh TCP connection (two-byte length prefix each way).
async fn over_tcp(
    upstream: SocketAddr,
    request: &Message,
    bytes: &[u8],
) -> Result<Message, UpstreamError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| UpstreamError::Encode("query longer than 65535 bytes".to_string()))?;
    let mut stream = TcpStream::connect(upstream).await?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    let response =
        Message::from_vec(&buf).map_err(|e| UpstreamError::BadTcpAnswer(e.to_string()))?;
    if !answers(request, &response) {
        return Err(UpstreamError::BadTcpAnswer(
            "id or question does not match".to_string(),
        ));
    }
    Ok(response)
}

/// Whether `response` is the answer to `request`: same id, a response, same question.
fn answers(request: &Message, response: &Message) -> bool {
    if response.metadata.id != request.metadata.id
        || response.metadata.message_type != MessageType::Response
    {
        return false;
    }
    match (request.queries.first(), response.queries.first()) {
        (Some(q), Some(r)) => {
            q.query_type() == r.query_type()
                && q.query_class() == r.query_class()
                && q.name().eq_ignore_root(r.name())
        }
        _ => false,
    }
}
