//! The node DNS server over real sockets: a hickory client asks, a fake upstream (plain
//! sockets answering canned hickory-proto messages) stands in for the node's resolvers.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tutti_net::catalog::{
    Endpoint, Protocol, ServiceEntry, ServiceKey, ServicePort, ServiceType, Snapshot,
};
use tutti_net::dns::{self, DnsConfig, DnsHandle};

const TTL: u32 = 7;

// ---------------------------------------------------------------------------------------------
// The catalog

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
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

fn http_port(port: u16) -> ServicePort {
    ServicePort {
        name: "http".into(),
        protocol: Protocol::Tcp,
        port,
        node_port: None,
    }
}

fn endpoint(addr: &str, ready: bool, hostname: Option<&str>) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        ready,
        hostname: hostname.map(Into::into),
        node_name: None,
        pod: None,
        ports: BTreeMap::from([(("http".to_string(), Protocol::Tcp), 8080)]),
    }
}

/// default/web (ClusterIP 10.96.0.20, http/80), default/db (headless, db-0 and db-2 ready,
/// db-1 not), default/ext (ExternalName www.example.com), default/alias (ExternalName to
/// web), default/big (headless, 400 ready endpoints).
fn snapshot() -> Snapshot {
    let mut web = service("default", "web");
    web.cluster_ip = Some(ip("10.96.0.20"));
    web.ports = vec![http_port(80)];
    web.endpoints = vec![endpoint("10.244.0.5", true, None)];

    let mut db = service("default", "db");
    db.headless = true;
    db.ports = vec![http_port(80)];
    db.endpoints = vec![
        endpoint("10.244.1.2", true, Some("db-0")),
        endpoint("10.244.1.3", false, Some("db-1")),
        endpoint("10.244.1.4", true, Some("db-2")),
    ];

    let mut ext = service("default", "ext");
    ext.service_type = ServiceType::ExternalName("www.example.com".into());

    let mut alias = service("default", "alias");
    alias.service_type = ServiceType::ExternalName("web.default.svc.cluster.local".into());

    let mut big = service("default", "big");
    big.headless = true;
    big.endpoints = (0..400u32)
        .map(|i| endpoint(&Ipv4Addr::from(0x0af5_0000 + i).to_string(), true, None))
        .collect();

    Snapshot {
        services: [web, db, ext, alias, big]
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// A fake upstream resolver

/// How the fake upstream behaves.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    /// Answers A for any name with 192.0.2.1, except `missing.example.com` (NXDOMAIN).
    Answer,
    /// As `Answer` over TCP, but over UDP only with an empty truncated message.
    TruncateUdp,
    /// Answers everything with SERVFAIL.
    ServFail,
    /// Reads questions and never answers.
    Silent,
}

struct FakeUpstream {
    addr: SocketAddr,
    udp_questions: Arc<AtomicUsize>,
    tcp_questions: Arc<AtomicUsize>,
}

fn upstream_answer(request: &Message, behaviour: Upstream, over_tcp: bool) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(request.queries.clone());
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    match behaviour {
        Upstream::ServFail => response.metadata.response_code = ResponseCode::ServFail,
        Upstream::TruncateUdp if !over_tcp => response.metadata.truncation = true,
        _ if query.name().to_ascii().starts_with("missing.") => {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        _ if query.query_type() == RecordType::A => {
            response.add_answer(Record::from_rdata(
                query.name().clone(),
                300,
                RData::A(A(ip("192.0.2.1"))),
            ));
        }
        _ => {}
    }
    response
}

async fn fake_upstream(behaviour: Upstream) -> Result<FakeUpstream> {
    let udp = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = udp.local_addr()?;
    let tcp = TcpListener::bind(addr).await?;
    let udp_questions = Arc::new(AtomicUsize::new(0));
    let tcp_questions = Arc::new(AtomicUsize::new(0));

    let counter = udp_questions.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            counter.fetch_add(1, Ordering::SeqCst);
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if behaviour == Upstream::Silent {
                continue;
            }
            let answer = upstream_answer(&request, behaviour, false);
            let _ = udp.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });

    let counter = tcp_questions.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(request) = Message::from_vec(&buf) else {
                    return;
                };
                if behaviour == Upstream::Silent {
                    return;
                }
                let bytes = upstream_answer(&request, behaviour, true).to_vec().unwrap();
                let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                let _ = stream.write_all(&framed).await;
            });
        }
    });

    Ok(FakeUpstream {
        addr,
        udp_questions,
        tcp_questions,
    })
}

// ---------------------------------------------------------------------------------------------
// The server under test and a client

struct Cluster {
    dns: DnsHandle,
    catalog: watch::Sender<Arc<Snapshot>>,
}

async fn start(upstreams: Vec<SocketAddr>) -> Result<Cluster> {
    let (catalog, rx) = watch::channel(Arc::new(snapshot()));
    let config = DnsConfig {
        listen: "127.0.0.1:0".parse()?,
        cluster_domain: "cluster.local".into(),
        upstreams,
        ttl: TTL,
        forward_timeout: Duration::from_secs(2),
    };
    let dns = dns::serve(config, rx).await?;
    Ok(Cluster { dns, catalog })
}

#[derive(Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

async fn ask(
    server: SocketAddr,
    transport: Transport,
    name: &str,
    rtype: RecordType,
) -> Result<Message> {
    let provider = TokioRuntimeProvider::default();
    let mut client = match transport {
        Transport::Udp => {
            let stream = UdpClientStream::builder(server, provider)
                .with_timeout(Some(Duration::from_secs(10)))
                // One datagram per question, so upstream question counts are exact.
                .with_max_retries(1)
                .build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
        Transport::Tcp => {
            let (stream, sender) =
                TcpClientStream::new(server, None, Some(Duration::from_secs(10)), provider);
            let (client, bg) = Client::<TokioRuntimeProvider>::with_timeout(
                stream.await?,
                sender,
                Duration::from_secs(10),
            );
            tokio::spawn(bg);
            client
        }
    };
    let response = client
        .query(Name::from_ascii(name)?, DNSClass::IN, rtype)
        .await?;
    Ok(response.into_message())
}

async fn udp(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Message> {
    ask(server, Transport::Udp, name, rtype).await
}

fn addresses(records: &[Record]) -> Vec<Ipv4Addr> {
    let mut ips: Vec<Ipv4Addr> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

// ---------------------------------------------------------------------------------------------
// Cluster names

#[tokio::test]
async fn service_name_resolves_to_its_cluster_ip_with_the_configured_ttl() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();
    for name in [
        "web.default.svc.cluster.local.",
        "web.default.svc.cluster.local",
        "WEB.Default.Svc.Cluster.Local.",
    ] {
        let m = udp(addr, name, RecordType::A).await?;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert!(m.metadata.authoritative, "{name}: AA");
        assert!(m.metadata.recursion_available, "{name}: RA");
        assert_eq!(addresses(&m.answers), vec![ip("10.96.0.20")], "{name}");
        assert!(m.answers.iter().all(|r| r.ttl == TTL), "{name}: ttl");
    }
    // IPv4 only: AAAA for an existing name is an empty NOERROR.
    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::AAAA).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(c.dns.stats().answered, 4);
    Ok(())
}

#[tokio::test]
async fn headless_service_has_one_a_per_ready_endpoint() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();
    let m = udp(addr, "db.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        addresses(&m.answers),
        vec![ip("10.244.1.2"), ip("10.244.1.4")]
    );

    let m = udp(addr, "db-0.db.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(addresses(&m.answers), vec![ip("10.244.1.2")]);
    // db-1 is not ready: its name does not exist.
    let m = udp(addr, "db-1.db.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // With no endpoint ready the service still exists.
    let mut snap = snapshot();
    for service in snap.services.values_mut() {
        for ep in &mut service.endpoints {
            ep.ready = false;
        }
    }
    c.catalog.send_replace(Arc::new(snap));
    let m = udp(addr, "db.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    Ok(())
}

#[tokio::test]
async fn srv_records_for_named_ports() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();

    let m = udp(
        addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let srv: Vec<(u16, String)> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect();
    assert_eq!(
        srv,
        vec![(80, "web.default.svc.cluster.local.".to_string())]
    );
    assert_eq!(addresses(&m.additionals), vec![ip("10.96.0.20")]);

    let m = udp(
        addr,
        "_http._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await?;
    let mut srv: Vec<(u16, String)> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect();
    srv.sort();
    assert_eq!(
        srv,
        vec![
            (8080, "db-0.db.default.svc.cluster.local.".to_string()),
            (8080, "db-2.db.default.svc.cluster.local.".to_string()),
        ]
    );
    assert_eq!(
        addresses(&m.additionals),
        vec![ip("10.244.1.2"), ip("10.244.1.4")]
    );
    assert!(m.answers.iter().all(|r| r.ttl == TTL));

    let m = udp(
        addr,
        "_grpc._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    Ok(())
}

#[tokio::test]
async fn pod_name_resolves_to_its_dashed_address() -> Result<()> {
    let c = start(Vec::new()).await?;
    let m = udp(
        c.dns.local_addr(),
        "10-244-7-19.default.pod.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&m.answers), vec![ip("10.244.7.19")]);
    Ok(())
}

#[tokio::test]
async fn missing_service_is_nxdomain_with_the_zone_soa() -> Result<()> {
    let c = start(Vec::new()).await?;
    let m = udp(
        c.dns.local_addr(),
        "nope.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    let soa = m
        .authorities
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(s) => Some((r.name.to_ascii(), r.ttl, s.minimum)),
            _ => None,
        })
        .expect("an SOA in the authority section");
    assert_eq!(soa, ("cluster.local.".to_string(), TTL, TTL));
    assert_eq!(c.dns.stats().nxdomain, 1);

    // Parents of existing names exist.
    let m = udp(
        c.dns.local_addr(),
        "default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    Ok(())
}

#[tokio::test]
async fn deleted_service_stops_resolving_on_the_next_query() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();
    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(addresses(&m.answers), vec![ip("10.96.0.20")]);

    let mut snap = snapshot();
    snap.services.remove(&ServiceKey {
        namespace: "default".into(),
        name: "web".into(),
    });
    c.catalog.send_replace(Arc::new(snap));

    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    Ok(())
}

#[tokio::test]
async fn external_name_is_a_cname_with_the_target_resolved_upstream() -> Result<()> {
    let up = fake_upstream(Upstream::Answer).await?;
    let c = start(vec![up.addr]).await?;
    let m = udp(
        c.dns.local_addr(),
        "ext.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let cname = m
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::CNAME(c) => Some((r.name.to_ascii(), c.0.to_ascii(), r.ttl)),
            _ => None,
        })
        .expect("a CNAME answer");
    assert_eq!(
        cname,
        (
            "ext.default.svc.cluster.local.".to_string(),
            "www.example.com.".to_string(),
            TTL
        )
    );
    assert_eq!(addresses(&m.answers), vec![ip("192.0.2.1")]);
    Ok(())
}

#[tokio::test]
async fn external_name_to_a_cluster_name_is_followed_locally() -> Result<()> {
    let c = start(Vec::new()).await?;
    let m = udp(
        c.dns.local_addr(),
        "alias.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.iter().any(
        |r| matches!(&r.data, RData::CNAME(c) if c.0.to_ascii() == "web.default.svc.cluster.local.")
    ));
    assert_eq!(addresses(&m.answers), vec![ip("10.96.0.20")]);
    Ok(())
}

#[tokio::test]
async fn answers_too_large_for_udp_are_truncated_and_complete_over_tcp() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();
    let name = "big.default.svc.cluster.local.";
    let m = udp(addr, name, RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.truncation);
    assert!(m.answers.len() < 400);
    let m = ask(addr, Transport::Tcp, name, RecordType::A).await?;
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 400);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Forwarding

#[tokio::test]
async fn outside_names_are_forwarded_upstream() -> Result<()> {
    let up = fake_upstream(Upstream::Answer).await?;
    let c = start(vec![up.addr]).await?;
    let addr = c.dns.local_addr();

    let m = udp(addr, "www.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.recursion_available);
    assert!(!m.metadata.authoritative);
    assert_eq!(addresses(&m.answers), vec![ip("192.0.2.1")]);
    // The upstream's TTL is relayed, not replaced.
    assert_eq!(m.answers[0].ttl, 300);

    let m = udp(addr, "missing.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    assert_eq!(up.udp_questions.load(Ordering::SeqCst), 2);
    let stats = c.dns.stats();
    assert_eq!(stats.forwarded, 2);
    assert_eq!(
        stats.nxdomain, 0,
        "an upstream NXDOMAIN counts as forwarded"
    );
    Ok(())
}

#[tokio::test]
async fn truncated_upstream_answer_is_retried_over_tcp() -> Result<()> {
    let up = fake_upstream(Upstream::TruncateUdp).await?;
    let c = start(vec![up.addr]).await?;
    let m = udp(c.dns.local_addr(), "big.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.truncation);
    assert_eq!(addresses(&m.answers), vec![ip("192.0.2.1")]);
    assert_eq!(up.udp_questions.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp_questions.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn failing_upstreams_are_skipped_for_the_next() -> Result<()> {
    let silent = fake_upstream(Upstream::Silent).await?;
    let broken = fake_upstream(Upstream::ServFail).await?;
    let good = fake_upstream(Upstream::Answer).await?;
    let c = start(vec![silent.addr, broken.addr, good.addr]).await?;
    let m = udp(c.dns.local_addr(), "www.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&m.answers), vec![ip("192.0.2.1")]);
    assert_eq!(silent.udp_questions.load(Ordering::SeqCst), 1);
    assert_eq!(broken.udp_questions.load(Ordering::SeqCst), 1);
    assert_eq!(good.udp_questions.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() -> Result<()> {
    let silent = fake_upstream(Upstream::Silent).await?;
    let broken = fake_upstream(Upstream::ServFail).await?;
    let c = start(vec![silent.addr, broken.addr]).await?;
    let m = udp(c.dns.local_addr(), "www.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(m.metadata.recursion_available);
    assert_eq!(c.dns.stats().failed, 1);

    let lonely = start(Vec::new()).await?;
    let m = udp(lonely.dns.local_addr(), "www.example.com.", RecordType::A).await?;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Transport

#[tokio::test]
async fn tcp_queries_are_answered() -> Result<()> {
    let up = fake_upstream(Upstream::Answer).await?;
    let c = start(vec![up.addr]).await?;
    let addr = c.dns.local_addr();
    let m = ask(
        addr,
        Transport::Tcp,
        "web.default.svc.cluster.local.",
        RecordType::A,
    )
    .await?;
    assert_eq!(addresses(&m.answers), vec![ip("10.96.0.20")]);
    assert_eq!(m.answers[0].ttl, TTL);
    let m = ask(addr, Transport::Tcp, "www.example.com.", RecordType::A).await?;
    assert_eq!(addresses(&m.answers), vec![ip("192.0.2.1")]);
    Ok(())
}

#[tokio::test]
async fn shutdown_releases_the_port() -> Result<()> {
    let c = start(Vec::new()).await?;
    let addr = c.dns.local_addr();
    c.dns.shutdown().await?;
    // Both sockets are closed: the same address can be bound again.
    let _udp = UdpSocket::bind(addr).await?;
    let _tcp = TcpListener::bind(addr).await?;
    Ok(())
}
