//! The request handler: turns one DNS question into one answer, from the cluster zone for
//! names this server owns and from the upstream resolvers for the rest.

use std::sync::Arc;

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::sync::watch;
use tracing::debug;

use super::DnsConfig;
use super::forward::Forwarder;
use super::names::Domain;
use super::stats::{DnsCounters, Outcome};
use super::zone::{Lookup, Zone};
use crate::NetError;
use crate::catalog::Snapshot;

/// How many aliases (ExternalName services pointing at other cluster names) are followed
/// before the chain is handed to the client as is.
const MAX_ALIAS_CHAIN: usize = 8;

/// The node's DNS request handler (a hickory [`RequestHandler`]). [`serve`](super::serve)
/// runs it on UDP and TCP sockets; it can also be registered on a hickory server directly.
///
/// Every question reads the catalog's current snapshot, so a change is visible from the next
/// question on.
pub struct DnsServer {
    zone: Zone,
    catalog: watch::Receiver<Arc<Snapshot>>,
    forwarder: Forwarder,
    counters: DnsCounters,
}

/// The answer being assembled for one question.
struct Reply {
    code: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    soa: Option<Record>,
    additionals: Vec<Record>,
    outcome: Outcome,
}

impl Reply {
    fn error(code: ResponseCode) -> Reply {
        Reply {
            code,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            soa: None,
            additionals: Vec::new(),
            outcome: Outcome::Failed,
        }
    }
}

impl DnsServer {
    /// Checks the configuration and builds the handler. Upstreams equal to the listening
    /// address are dropped, since forwarding to them would loop.
    pub fn new(
        config: &DnsConfig,
        catalog: watch::Receiver<Arc<Snapshot>>,
    ) -> Result<DnsServer, NetError> {
        let domain =
            Domain::parse(&config.cluster_domain).map_err(|detail| NetError::DnsConfig {
                field: "cluster_domain",
                detail: format!("{:?}: {detail}", config.cluster_domain),
            })?;
        let upstreams: Vec<_> = config
            .upstreams
            .iter()
            .copied()
            .filter(|u| *u != config.listen)
            .collect();
        if upstreams.len() != config.upstreams.len() {
            tracing::warn!(
                listen = %config.listen,
                "an upstream resolver is this DNS server's own address; ignoring it"
            );
        }
        Ok(DnsServer {
            zone: Zone::new(domain, config.ttl),
            catalog,
            forwarder: Forwarder::new(upstreams, config.forward_timeout),
            counters: DnsCounters::default(),
        })
    }

    /// The server's query counters (shared; keep the clone to read them later).
    pub fn counters(&self) -> DnsCounters {
        self.counters.clone()
    }

    async fn reply(&self, request: &Request) -> Reply {
        if request.metadata.op_code != OpCode::Query {
            return Reply::error(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            return Reply::error(ResponseCode::FormErr);
        };
        let query = info.query.original();
        if query.query_class() != DNSClass::IN {
            return Reply::error(ResponseCode::Refused);
        }
        let snapshot = Arc::clone(&self.catalog.borrow());
        match self
            .zone
            .lookup(&snapshot, query.name(), query.query_type())
        {
            Lookup::Found(found) => {
                let mut answers = found.answers;
                if let Some(target) = found.alias {
                    self.chase(&snapshot, target, query.query_type(), &mut answers)
                        .await;
                }
                let soa = answers.is_empty().then(|| self.zone.soa());
                Reply {
                    code: ResponseCode::NoError,
                    authoritative: true,
                    answers,
                    authorities: Vec::new(),
                    soa,
                    additionals: found.additionals,
                    outcome: Outcome::Answered,
                }
            }
            Lookup::NxDomain => Reply {
                code: ResponseCode::NXDomain,
                authoritative: true,
                answers: Vec::new(),
                authorities: Vec::new(),
                soa: Some(self.zone.soa()),
                additionals: Vec::new(),
                outcome: Outcome::NxDomain,
            },
            Lookup::Forward => {
                let rd = request.metadata.recursion_desired;
                let cd = request.metadata.checking_disabled;
                match self.forwarder.ask(query, rd, cd).await {
                    Ok(upstream) => Reply {
                        code: upstream.metadata.response_code,
                        authoritative: false,
                        answers: upstream.answers,
                        authorities: upstream.authorities,
                        soa: None,
                        additionals: upstream.additionals,
                        outcome: Outcome::Forwarded,
                    },
                    Err(error) => {
                        debug!(name = %query.name(), %error, "forwarding failed");
                        Reply::error(ResponseCode::ServFail)
                    }
                }
            }
        }
    }

    /// Resolves an alias target for `qtype` and appends what it finds: from the zone when the
    /// target is a cluster name, else from upstream. Failures leave just the CNAME, which the
    /// client may chase itself.
    async fn chase(
        &self,
        snapshot: &Snapshot,
        mut target: Name,
        qtype: RecordType,
        answers: &mut Vec<Record>,
    ) {
        for _ in 0..MAX_ALIAS_CHAIN {
            match self.zone.lookup(snapshot, &target, qtype) {
                Lookup::Found(found) => {
                    answers.extend(found.answers);
                    match found.alias {
                        Some(next) => target = next,
                        None => return,
                    }
                }
                Lookup::NxDomain => return,
                Lookup::Forward => {
                    let query = Query::query(target.clone(), qtype);
                    match self.forwarder.ask(&query, true, false).await {
                        Ok(upstream)
                            if upstream.metadata.response_code == ResponseCode::NoError =>
                        {
                            answers.extend(upstream.answers);
                        }
                        Ok(upstream) => {
                            debug!(%target, code = %upstream.metadata.response_code, "alias target did not resolve");
                        }
                        Err(error) => debug!(%target, %error, "alias target did not resolve"),
                    }
                    return;
                }
            }
        }
    }
}

/// The OPT record of the answer: present when the question had one, offering the client's
/// own payload size (at least the classic 512 bytes).
fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|asked| {
        let mut edns = Edns::new();
        edns.set_max_payload(asked.max_payload().max(512));
        edns.set_version(0);
        edns
    })
}

#[async_trait::async_trait]
impl RequestHandler for DnsServer {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let reply = self.reply(request).await;
        if let Ok(info) = request.request_info() {
            debug!(
                name = %info.query.name(),
                qtype = %info.query.query_type(),
                code = %reply.code,
                answers = reply.answers.len(),
                "dns query"
            );
        }
        let edns = response_edns(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        metadata.authoritative = reply.authoritative;
        metadata.response_code = reply.code;
        let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
            metadata,
            reply.answers.iter(),
            reply.authorities.iter(),
            reply.soa.iter(),
            reply.additionals.iter(),
        );
        match response_handle.send_response(response).await {
            Ok(info) => {
                self.counters.record(reply.outcome);
                info
            }
            Err(error) => {
                debug!(%error, "cannot send a dns answer");
                self.counters.record(Outcome::Failed);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}
