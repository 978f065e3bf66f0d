//! The cluster zone: what a name inside the cluster domain (or a reverse name of a service or
//! endpoint address) resolves to in one catalog [`Snapshot`], following the Kubernetes DNS
//! specification. Pure: no sockets, no clock, no upstreams.

use std::net::Ipv4Addr;

use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::names::{self, ClusterName, Domain, Place};
use crate::catalog::{Endpoint, Protocol, ServiceEntry, ServiceKey, ServiceType, Snapshot};

#[cfg(test)]
mod tests;

/// SOA timers, as other cluster DNS servers publish them; nothing transfers this zone, so only
/// `minimum` (the negative-caching TTL) matters to clients.
const SOA_REFRESH: i32 = 7200;
const SOA_RETRY: i32 = 1800;
const SOA_EXPIRE: i32 = 86400;
/// The zone is rebuilt from every snapshot and never transferred, so its serial carries no
/// meaning; a constant keeps answers deterministic.
const SOA_SERIAL: u32 = 1;

/// The cluster zone's fixed parameters.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    domain: Domain,
    ttl: u32,
}

/// The outcome of looking a question up in the zone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// The name exists. No answers means it has no data of the asked type (NODATA).
    Found(Found),
    /// The name is inside the zone and does not exist.
    NxDomain,
    /// Not this zone's to answer: ask the upstream resolvers.
    Forward,
}

/// Records for a name that exists.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Found {
    pub(crate) answers: Vec<Record>,
    pub(crate) additionals: Vec<Record>,
    /// The name is an alias (an ExternalName service) whose target still has to be resolved
    /// for the asked type; the CNAME is already in `answers`.
    pub(crate) alias: Option<Name>,
}

impl Found {
    fn nodata() -> Lookup {
        Lookup::Found(Found::default())
    }

    fn answers(answers: Vec<Record>) -> Lookup {
        Lookup::Found(Found {
            answers,
            ..Found::default()
        })
    }
}

impl Zone {
    pub(crate) fn new(domain: Domain, ttl: u32) -> Zone {
        Zone { domain, ttl }
    }

    /// The zone's SOA record: in the authority section of negative answers, its TTL and
    /// `minimum` both set to the configured TTL so clients cache a miss only that long.
    pub(crate) fn soa(&self) -> Record {
        let soa = SOA::new(
            self.domain.child(["ns", "dns"]),
            self.domain.child(["hostmaster"]),
            SOA_SERIAL,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            self.ttl,
        );
        Record::from_rdata(self.domain.name(), self.ttl, RData::SOA(soa))
    }

    /// Answers `qname`/`qtype` from `snapshot`. Records owned by the queried name carry
    /// `qname` as given (keeping the client's letter case); other names are lowercase.
    pub(crate) fn lookup(&self, snapshot: &Snapshot, qname: &Name, qtype: RecordType) -> Lookup {
        match names::place(qname, &self.domain) {
            Place::Cluster(name) => self.cluster(snapshot, qname, qtype, name),
            Place::Reverse(ip) => self.reverse(snapshot, qname, qtype, ip),
            Place::Outside => Lookup::Forward,
        }
    }

    fn cluster(
        &self,
        snapshot: &Snapshot,
        qname: &Name,
        qtype: RecordType,
        name: ClusterName,
    ) -> Lookup {
        match name {
            ClusterName::Apex if wants(qtype, RecordType::SOA) => Found::answers(vec![self.soa()]),
            ClusterName::Apex | ClusterName::Services | ClusterName::Pods => Found::nodata(),
            ClusterName::Namespace { ns } => {
                let exists = snapshot
                    .services
                    .range(key(&ns, "")..)
                    .next()
                    .is_some_and(|(k, _)| k.namespace == ns);
                if exists {
                    Found::nodata()
                } else {
                    Lookup::NxDomain
                }
            }
            ClusterName::Service { ns, svc } => match snapshot.services.get(&key(&ns, &svc)) {
                Some(entry) => self.service(entry, qname, qtype),
                None => Lookup::NxDomain,
            },
            ClusterName::Endpoint { ns, svc, endpoint } => {
                match snapshot.services.get(&key(&ns, &svc)) {
                    Some(entry) => self.endpoint(entry, qname, qtype, &endpoint),
                    None => Lookup::NxDomain,
                }
            }
            ClusterName::Protocol { ns, svc, proto } => {
                let exists = snapshot
                    .services
                    .get(&key(&ns, &svc))
                    .is_some_and(|e| e.ports.iter().any(|p| is_named(p, None, &proto)));
                if exists {
                    Found::nodata()
                } else {
                    Lookup::NxDomain
                }
            }
            ClusterName::Port {
                ns,
                svc,
                port,
                proto,
            } => match snapshot.services.get(&key(&ns, &svc)) {
                Some(entry) => self.port(entry, qname, qtype, &port, &proto),
                None => Lookup::NxDomain,
            },
            ClusterName::Pod { ip } if wants(qtype, RecordType::A) => {
                Found::answers(vec![self.a(qname.clone(), ip)])
            }
            ClusterName::Pod { .. } => Found::nodata(),
            ClusterName::Unknown => Lookup::NxDomain,
        }
    }

    /// `<svc>.<ns>.svc.<domain>`: the cluster IP, the ready endpoints of a headless service,
    /// or a CNAME for an ExternalName service.
    fn service(&self, entry: &ServiceEntry, qname: &Name, qtype: RecordType) -> Lookup {
        if let ServiceType::ExternalName(external) = &entry.service_type {
            let Some(target) = external_target(external) else {
                return Found::nodata();
            };
            let cname =
                Record::from_rdata(qname.clone(), self.ttl, RData::CNAME(CNAME(target.clone())));
            let alias = (qtype != RecordType::CNAME).then_some(target);
            return Lookup::Found(Found {
                answers: vec![cname],
                additionals: Vec::new(),
                alias,
            });
        }
        if !wants(qtype, RecordType::A) {
            return Found::nodata();
        }
        if entry.headless {
            let answers = entry
                .ready()
                .map(|ep| self.a(qname.clone(), ep.ip))
                .collect();
            return Found::answers(answers);
        }
        let answers = entry
            .cluster_ip
            .map(|ip| self.a(qname.clone(), ip))
            .into_iter()
            .collect();
        Found::answers(answers)
    }

    /// `<endpoint>.<svc>.<ns>.svc.<domain>`: a ready endpoint of a headless service, named by
    /// its hostname or, without one, its dashed IP.
    fn endpoint(
        &self,
        entry: &ServiceEntry,
        qname: &Name,
        qtype: RecordType,
        label: &str,
    ) -> Lookup {
        if !entry.headless {
            return Lookup::NxDomain;
        }
        let matching: Vec<&Endpoint> = entry
            .ready()
            .filter(|ep| endpoint_label(ep) == label)
            .collect();
        if matching.is_empty() {
            return Lookup::NxDomain;
        }
        if !wants(qtype, RecordType::A) {
            return Found::nodata();
        }
        Found::answers(
            matching
                .into_iter()
                .map(|ep| self.a(qname.clone(), ep.ip))
                .collect(),
        )
    }

    /// `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: SRV records for a named port, pointing at the
    /// service name (with a cluster IP) or at each ready endpoint (headless), with the
    /// targets' A records as additionals.
    fn port(
        &self,
        entry: &ServiceEntry,
        qname: &Name,
        qtype: RecordType,
        port: &str,
        proto: &str,
    ) -> Lookup {
        let Some(service_port) = entry.ports.iter().find(|p| is_named(p, Some(port), proto)) else {
            return Lookup::NxDomain;
        };
        if !wants(qtype, RecordType::SRV) {
            return Found::nodata();
        }
        let svc = entry.key.name.as_str();
        let ns = entry.key.namespace.as_str();
        let mut found = Found::default();
        if entry.headless {
            let targets: Vec<(Name, Ipv4Addr, u16)> = entry
                .ready()
                .filter_map(|ep| {
                    let target_port = ep
                        .ports
                        .get(&(service_port.name.clone(), service_port.protocol))?;
                    let label = endpoint_label(ep);
                    let target = self.domain.child([label.as_str(), svc, ns, "svc"]);
                    Some((target, ep.ip, *target_port))
                })
                .collect();
            let weight = share(targets.len());
            for (target, ip, target_port) in targets {
                found
                    .answers
                    .push(self.srv(qname, weight, target_port, target.clone()));
                found.additionals.push(self.a(target, ip));
            }
        } else if !matches!(entry.service_type, ServiceType::ExternalName(_)) {
            let target = self.domain.child([svc, ns, "svc"]);
            found
                .answers
                .push(self.srv(qname, 100, service_port.port, target.clone()));
            if let Some(ip) = entry.cluster_ip {
                found.additionals.push(self.a(target, ip));
            }
        }
        Lookup::Found(found)
    }

    /// PTR for a service's cluster IP (→ the service name) or a headless service's ready
    /// endpoint (→ the endpoint name). Addresses the catalog does not know are forwarded.
    fn reverse(
        &self,
        snapshot: &Snapshot,
        qname: &Name,
        qtype: RecordType,
        ip: Ipv4Addr,
    ) -> Lookup {
        let mut targets = Vec::new();
        for entry in snapshot.services.values() {
            let svc = entry.key.name.as_str();
            let ns = entry.key.namespace.as_str();
            if entry.cluster_ip == Some(ip) {
                targets.push(self.domain.child([svc, ns, "svc"]));
            }
            if entry.headless {
                for ep in entry.ready().filter(|ep| ep.ip == ip) {
                    let label = endpoint_label(ep);
                    targets.push(self.domain.child([label.as_str(), svc, ns, "svc"]));
                }
            }
        }
        if targets.is_empty() {
            return Lookup::Forward;
        }
        if !wants(qtype, RecordType::PTR) {
            return Found::nodata();
        }
        Found::answers(
            targets
                .into_iter()
                .map(|t| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(t))))
                .collect(),
        )
    }

    fn a(&self, owner: Name, ip: Ipv4Addr) -> Record {
        Record::from_rdata(owner, self.ttl, RData::A(A(ip)))
    }

    fn srv(&self, owner: &Name, weight: u16, port: u16, target: Name) -> Record {
        Record::from_rdata(
            owner.clone(),
            self.ttl,
            RData::SRV(SRV::new(0, weight, port, target)),
        )
    }
}

fn key(ns: &str, svc: &str) -> ServiceKey {
    ServiceKey {
        namespace: ns.to_string(),
        name: svc.to_string(),
    }
}

/// Whether a question of type `qtype` asks for records of type `have`.
fn wants(qtype: RecordType, have: RecordType) -> bool {
    qtype == have || qtype == RecordType::ANY
}

/// A port named `name` (any named port if None) with protocol `proto` (lowercase label).
fn is_named(port: &crate::catalog::ServicePort, name: Option<&str>, proto: &str) -> bool {
    !port.name.is_empty()
        && name.is_none_or(|n| port.name.eq_ignore_ascii_case(n))
        && proto_label(port.protocol) == proto
}

fn proto_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The DNS label of an endpoint: its hostname, else its IP with dashes.
fn endpoint_label(ep: &Endpoint) -> String {
    match &ep.hostname {
        Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
        _ => names::ip_dashed(ep.ip),
    }
}

/// Equal SRV weights adding up to about 100.
fn share(targets: usize) -> u16 {
    let n = u16::try_from(targets.max(1)).unwrap_or(u16::MAX);
    (100 / n).max(1)
}

/// An ExternalName value as an absolute name; None if it is not a usable DNS name.
fn external_target(external: &str) -> Option<Name> {
    let trimmed = external.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return None;
    }
    let mut name = Name::from_ascii(trimmed).ok()?;
    name.set_fqdn(true);
    Some(name)
}
