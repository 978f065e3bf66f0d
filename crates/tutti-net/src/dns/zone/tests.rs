use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{Found, Lookup, Zone};
use crate::catalog::{
    Endpoint, Protocol, ServiceEntry, ServiceKey, ServicePort, ServiceType, Snapshot,
};
use crate::dns::names::Domain;

const TTL: u32 = 7;

fn zone() -> Zone {
    Zone::new(Domain::parse("cluster.local").unwrap(), TTL)
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn port(name: &str, protocol: Protocol, port: u16) -> ServicePort {
    ServicePort {
        name: name.into(),
        protocol,
        port,
        node_port: None,
    }
}

fn endpoint(addr: &str, ready: bool, hostname: Option<&str>, http: u16) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        ready,
        hostname: hostname.map(Into::into),
        node_name: None,
        pod: None,
        ports: BTreeMap::from([(("http".to_string(), Protocol::Tcp), http)]),
    }
}

fn service(ns: &str, name: &str) -> ServiceEntry {
    ServiceEntry {
        key: ServiceKey {
            namespace: ns.into(),
            name: name.into(),
        },
        service_type: ServiceType::ClusterIp,
        cluster_ip: None,
        headless: false,
        ports: Vec::new(),
        session_affinity: None,
        external_ips: Vec::new(),
        endpoints: Vec::new(),
    }
}

/// default/web (cluster IP, ports http/TCP and dns/UDP and one unnamed), default/db (headless:
/// db-0 ready, db-1 not ready, one ready without hostname), default/empty (headless, nothing
/// ready), default/ext (ExternalName), default/alias (ExternalName to web).
fn snapshot() -> Snapshot {
    let mut web = service("default", "web");
    web.cluster_ip = Some(ip("10.96.0.20"));
    web.ports = vec![
        port("http", Protocol::Tcp, 80),
        port("dns", Protocol::Udp, 53),
        port("", Protocol::Tcp, 8080),
    ];
    web.endpoints = vec![endpoint("10.244.0.5", true, None, 8080)];

    let mut db = service("default", "db");
    db.headless = true;
    db.ports = vec![port("http", Protocol::Tcp, 80)];
    db.endpoints = vec![
        endpoint("10.244.1.2", true, Some("db-0"), 8000),
        endpoint("10.244.1.3", false, Some("db-1"), 8000),
        endpoint("10.244.1.4", true, None, 8001),
    ];

    let mut empty = service("default", "empty");
    empty.headless = true;
    empty.endpoints = vec![endpoint("10.244.2.2", false, None, 80)];

    let mut ext = service("default", "ext");
    ext.service_type = ServiceType::ExternalName("db.example.com".into());

    let mut alias = service("default", "alias");
    alias.service_type = ServiceType::ExternalName("web.default.svc.cluster.local".into());

    Snapshot {
        services: [web, db, empty, ext, alias]
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect(),
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn lookup(qname: &str, qtype: RecordType) -> Lookup {
    zone().lookup(&snapshot(), &name(qname), qtype)
}

fn found(qname: &str, qtype: RecordType) -> Found {
    match lookup(qname, qtype) {
        Lookup::Found(f) => f,
        other => panic!("{qname} {qtype}: {other:?}"),
    }
}

fn addresses(records: &[Record]) -> Vec<Ipv4Addr> {
    records
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0,
            other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

fn srv_targets(records: &[Record]) -> Vec<(u16, String)> {
    records
        .iter()
        .map(|r| match &r.data {
            RData::SRV(srv) => (srv.port, srv.target.to_ascii()),
            other => panic!("not an SRV record: {other:?}"),
        })
        .collect()
}

#[test]
fn service_a_is_the_cluster_ip_with_the_configured_ttl() {
    let f = found("web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(&f.answers), vec![ip("10.96.0.20")]);
    assert!(f.answers.iter().all(|r| r.ttl == TTL));
    assert_eq!(f.alias, None);
}

#[test]
fn answers_keep_the_letter_case_of_the_question() {
    let f = found("Web.Default.SVC.cluster.local.", RecordType::A);
    assert_eq!(
        f.answers[0].name.to_ascii(),
        "Web.Default.SVC.cluster.local."
    );
}

#[test]
fn existing_names_without_data_of_the_type_are_nodata() {
    for (qname, qtype) in [
        ("web.default.svc.cluster.local.", RecordType::AAAA),
        ("web.default.svc.cluster.local.", RecordType::MX),
        ("db.default.svc.cluster.local.", RecordType::AAAA),
        ("cluster.local.", RecordType::A),
        ("svc.cluster.local.", RecordType::A),
        ("default.svc.cluster.local.", RecordType::A),
        ("pod.cluster.local.", RecordType::A),
        ("_tcp.web.default.svc.cluster.local.", RecordType::SRV),
        ("_http._tcp.web.default.svc.cluster.local.", RecordType::A),
        ("10-1-2-3.default.pod.cluster.local.", RecordType::AAAA),
    ] {
        assert_eq!(found(qname, qtype), Found::default(), "{qname} {qtype}");
    }
}

#[test]
fn missing_names_in_the_domain_are_nxdomain() {
    for qname in [
        "nope.default.svc.cluster.local.",
        "web.other.svc.cluster.local.",
        "other.svc.cluster.local.",
        "foo.cluster.local.",
        "x.y.web.default.svc.cluster.local.",
        "_udp.db.default.svc.cluster.local.",
        "_dns._tcp.web.default.svc.cluster.local.",
        "_http._udp.web.default.svc.cluster.local.",
        "db-0.web.default.svc.cluster.local.",
        "db-1.db.default.svc.cluster.local.",
        "db-9.db.default.svc.cluster.local.",
        "300-1-1-1.default.pod.cluster.local.",
    ] {
        assert_eq!(lookup(qname, RecordType::A), Lookup::NxDomain, "{qname}");
    }
}

#[test]
fn headless_answers_only_ready_endpoints() {
    let f = found("db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        addresses(&f.answers),
        vec![ip("10.244.1.2"), ip("10.244.1.4")]
    );
    let none = found("empty.default.svc.cluster.local.", RecordType::A);
    assert!(none.answers.is_empty());
}

#[test]
fn endpoint_names_by_hostname_or_dashed_ip() {
    let f = found("db-0.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(&f.answers), vec![ip("10.244.1.2")]);
    let f = found("10-244-1-4.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(&f.answers), vec![ip("10.244.1.4")]);
}

#[test]
fn srv_for_a_cluster_ip_service_points_at_the_service() {
    let f = found("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        srv_targets(&f.answers),
        vec![(80, "web.default.svc.cluster.local.".to_string())]
    );
    assert_eq!(addresses(&f.additionals), vec![ip("10.96.0.20")]);
    assert_eq!(
        f.additionals[0].name.to_ascii(),
        "web.default.svc.cluster.local."
    );
    let f = found("_dns._udp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(srv_targets(&f.answers)[0].0, 53);
}

#[test]
fn srv_for_a_headless_service_points_at_each_ready_endpoint() {
    let f = found("_http._tcp.db.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        srv_targets(&f.answers),
        vec![
            (8000, "db-0.db.default.svc.cluster.local.".to_string()),
            (8001, "10-244-1-4.db.default.svc.cluster.local.".to_string()),
        ]
    );
    assert_eq!(
        addresses(&f.additionals),
        vec![ip("10.244.1.2"), ip("10.244.1.4")]
    );
    let names: Vec<String> = f.additionals.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(
        names,
        vec![
            "db-0.db.default.svc.cluster.local.",
            "10-244-1-4.db.default.svc.cluster.local."
        ]
    );
}

#[test]
fn external_name_is_a_cname_to_resolve_further() {
    let f = found("ext.default.svc.cluster.local.", RecordType::A);
    assert_eq!(f.answers.len(), 1);
    match &f.answers[0].data {
        RData::CNAME(c) => assert_eq!(c.0.to_ascii(), "db.example.com."),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.alias, Some(name("db.example.com.")));
    // Asking for the CNAME itself needs nothing more.
    let f = found("ext.default.svc.cluster.local.", RecordType::CNAME);
    assert_eq!(f.alias, None);
    assert_eq!(f.answers.len(), 1);
}

#[test]
fn pod_names_resolve_to_their_dashed_address() {
    let f = found("10-244-3-9.anything.pod.cluster.local.", RecordType::A);
    assert_eq!(addresses(&f.answers), vec![ip("10.244.3.9")]);
}

#[test]
fn names_outside_the_domain_are_forwarded() {
    assert_eq!(lookup("example.com.", RecordType::A), Lookup::Forward);
    assert_eq!(
        lookup("web.default.svc.cluster.example.", RecordType::A),
        Lookup::Forward
    );
}

#[test]
fn reverse_names_of_known_addresses_are_answered() {
    let ptr = |qname: &str| -> Vec<String> {
        found(qname, RecordType::PTR)
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::PTR(p) => p.0.to_ascii(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(
        ptr("20.0.96.10.in-addr.arpa."),
        vec!["web.default.svc.cluster.local."]
    );
    assert_eq!(
        ptr("2.1.244.10.in-addr.arpa."),
        vec!["db-0.db.default.svc.cluster.local."]
    );
    // Not ready, and a plain service's endpoint: not ours to name.
    assert_eq!(
        lookup("3.1.244.10.in-addr.arpa.", RecordType::PTR),
        Lookup::Forward
    );
    assert_eq!(
        lookup("5.0.244.10.in-addr.arpa.", RecordType::PTR),
        Lookup::Forward
    );
}

#[test]
fn soa_carries_the_ttl_as_negative_ttl() {
    let soa = zone().soa();
    assert_eq!(soa.name.to_ascii(), "cluster.local.");
    assert_eq!(soa.ttl, TTL);
    match &soa.data {
        RData::SOA(s) => assert_eq!(s.minimum, TTL),
        other => panic!("{other:?}"),
    }
    let f = found("cluster.local.", RecordType::SOA);
    assert_eq!(f.answers, vec![soa]);
}

#[test]
fn a_deleted_service_stops_resolving() {
    let mut snap = snapshot();
    snap.services.remove(&ServiceKey {
        namespace: "default".into(),
        name: "web".into(),
    });
    assert_eq!(
        zone().lookup(
            &snap,
            &name("web.default.svc.cluster.local."),
            RecordType::A
        ),
        Lookup::NxDomain
    );
}
