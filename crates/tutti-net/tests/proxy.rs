//! The service proxy over real loopback sockets: backends are tiny tokio servers that
//! answer with their own name, "cluster IPs" are 127.x.y.z addresses (all local on Linux),
//! and snapshots are pushed through an in-memory catalog.
//!
//! Each test owns one 127.N.0.0/16 block, so tests running in parallel never share an
//! address; ports come from the kernel (bound to 0, then released).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tutti_net::catalog::{
    Catalog, CatalogFeed, Endpoint, Protocol, ServiceEntry, ServiceKey, ServicePort, ServiceType,
    Snapshot,
};
use tutti_net::proxy::{ListenerState, Proxy, ProxyConfig};

/// Generous bound for anything that should take milliseconds: a hang fails the test
/// instead of blocking it, and nothing asserts on timing.
const PATIENCE: Duration = Duration::from_secs(5);

fn ip(block: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, block, c, d)
}

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

/// A TCP server that reads the request until the client half-closes, then answers with
/// its name and closes.
struct TcpBackend {
    name: String,
    addr: SocketAddrV4,
    task: JoinHandle<()>,
}

impl TcpBackend {
    async fn start(name: &str, at: Ipv4Addr) -> Result<TcpBackend> {
        let listener = TcpListener::bind((at, 0)).await?;
        let SocketAddr::V4(addr) = listener.local_addr()? else {
            bail!("not IPv4");
        };
        let answer = name.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    if conn.read_to_end(&mut request).await.is_ok() {
                        let _ = conn.write_all(answer.as_bytes()).await;
                        let _ = conn.shutdown().await;
                    }
                });
            }
        });
        Ok(TcpBackend {
            name: name.into(),
            addr,
            task,
        })
    }

    /// Close the listening socket (new connections are refused) and wait until it is.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    fn endpoint(&self, ready: bool) -> Endpoint {
        Endpoint {
            ip: *self.addr.ip(),
            ready,
            hostname: None,
            node_name: None,
            pod: Some(self.name.clone()),
            ports: BTreeMap::from([(("http".to_string(), Protocol::Tcp), self.addr.port())]),
        }
    }
}

fn service(name: &str, cluster_ip: Ipv4Addr, port: u16, endpoints: Vec<Endpoint>) -> ServiceEntry {
    ServiceEntry {
        key: key(name),
        service_type: ServiceType::ClusterIp,
        cluster_ip: Some(cluster_ip),
        headless: false,
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port,
            node_port: None,
        }],
        session_affinity: None,
        external_ips: vec![],
        endpoints,
    }
}

fn snapshot(entries: Vec<ServiceEntry>) -> Snapshot {
    Snapshot {
        services: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
    }
}

fn set_endpoints(snap: &mut Snapshot, name: &str, endpoints: Vec<Endpoint>) {
    if let Some(entry) = snap.services.get_mut(&key(name)) {
        entry.endpoints = endpoints;
    }
}

/// A port free on `at` right now.
async fn free_tcp_port(at: Ipv4Addr) -> Result<u16> {
    Ok(TcpListener::bind((at, 0)).await?.local_addr()?.port())
}

async fn free_udp_port(at: Ipv4Addr) -> Result<u16> {
    Ok(UdpSocket::bind((at, 0)).await?.local_addr()?.port())
}

async fn start_proxy(initial: Snapshot, config: ProxyConfig) -> (Proxy, CatalogFeed) {
    let (catalog, feed) = Catalog::manual(initial);
    let proxy = Proxy::start(catalog.subscribe(), config).await;
    (proxy, feed)
}

/// Publish and wait until the proxy's sockets match.
async fn publish(proxy: &Proxy, feed: &CatalogFeed, snap: Snapshot) -> Result<()> {
    let published = feed.publish(snap);
    let mut applied = proxy.applied();
    tokio::time::timeout(PATIENCE, applied.wait_for(|s| Arc::ptr_eq(s, &published)))
        .await
        .context("proxy did not apply the snapshot")??;
    Ok(())
}

/// What a client saw.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Answer(String),
    /// Connected, then the stream ended with no answer.
    Closed,
    /// Refused or reset.
    Failed(std::io::ErrorKind),
}

/// One request over a new connection from `from` (or the default source address).
async fn request(to: SocketAddrV4, from: Option<Ipv4Addr>) -> Result<Outcome> {
    let attempt = async {
        let socket = TcpSocket::new_v4()?;
        if let Some(src) = from {
            socket.bind(SocketAddr::from((src, 0)))?;
        }
        let mut conn = socket.connect(to.into()).await?;
        conn.write_all(b"hello").await?;
        conn.shutdown().await?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(PATIENCE, attempt).await {
        Err(_) => bail!("request to {to} hung"),
        Ok(Ok(answer)) if answer.is_empty() => Ok(Outcome::Closed),
        Ok(Ok(answer)) => Ok(Outcome::Answer(answer)),
        Ok(Err(e)) => Ok(Outcome::Failed(e.kind())),
    }
}

/// The name of the backend that answered, or an error.
async fn ask(to: SocketAddrV4) -> Result<String> {
    ask_from(to, None).await
}

async fn ask_from(to: SocketAddrV4, from: Option<Ipv4Addr>) -> Result<String> {
    match request(to, from).await? {
        Outcome::Answer(name) => Ok(name),
        other => bail!("request to {to} got {other:?}"),
    }
}

async fn tally(to: SocketAddrV4, n: usize) -> Result<HashMap<String, usize>> {
    let mut hits = HashMap::new();
    for _ in 0..n {
        *hits.entry(ask(to).await?).or_insert(0) += 1;
    }
    Ok(hits)
}

/// Poll `check` until it holds or PATIENCE runs out.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

#[tokio::test]
async fn round_robin_spreads_connections_evenly() -> Result<()> {
    let b = 101;
    let backends = [
        TcpBackend::start("a", ip(b, 1, 1)).await?,
        TcpBackend::start("b", ip(b, 1, 2)).await?,
        TcpBackend::start("c", ip(b, 1, 3)).await?,
    ];
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let eps = backends.iter().map(|be| be.endpoint(true)).collect();
    let (proxy, _feed) = start_proxy(
        snapshot(vec![service("web", vip, port, eps)]),
        ProxyConfig::default(),
    )
    .await;

    let hits = tally(SocketAddrV4::new(vip, port), 300).await?;
    assert_eq!(hits.len(), 3, "{hits:?}");
    for (name, n) in &hits {
        assert!((80..=120).contains(n), "{name} got {n} of 300: {hits:?}");
    }
    let stats = proxy.service_stats(&key("web")).context("no stats")?;
    assert_eq!(stats.connections_total, 300);
    assert_eq!(stats.rejected, 0);
    assert_eq!(stats.bytes_in, 300 * 5, "every request was 5 bytes");
    assert_eq!(stats.bytes_out, 300, "every answer was 1 byte");
    eventually("connections to finish", || {
        proxy
            .service_stats(&key("web"))
            .is_some_and(|s| s.connections_active == 0)
    })
    .await
}

#[tokio::test]
async fn only_ready_endpoints_get_traffic_from_the_next_connection_on() -> Result<()> {
    let b = 102;
    let a = TcpBackend::start("a", ip(b, 1, 1)).await?;
    let bb = TcpBackend::start("b", ip(b, 1, 2)).await?;
    let c = TcpBackend::start("c", ip(b, 1, 3)).await?;
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let mut snap = snapshot(vec![service(
        "web",
        vip,
        port,
        vec![a.endpoint(true), bb.endpoint(true), c.endpoint(false)],
    )]);
    let (proxy, feed) = start_proxy(snap.clone(), ProxyConfig::default()).await;

    let hits = tally(to, 60).await?;
    assert_eq!(
        hits.get("c"),
        None,
        "the unready endpoint got traffic: {hits:?}"
    );
    assert_eq!(hits.len(), 2, "{hits:?}");

    // Readiness changes need no socket change: the very next connection sees them.
    set_endpoints(
        &mut snap,
        "web",
        vec![a.endpoint(true), bb.endpoint(false), c.endpoint(false)],
    );
    feed.publish(snap.clone());
    let hits = tally(to, 30).await?;
    assert_eq!(hits.get("a"), Some(&30), "{hits:?}");

    set_endpoints(
        &mut snap,
        "web",
        vec![a.endpoint(true), bb.endpoint(false), c.endpoint(true)],
    );
    feed.publish(snap);
    let hits = tally(to, 30).await?;
    assert_eq!(hits.get("b"), None, "{hits:?}");
    assert_eq!(hits.get("c"), Some(&15), "{hits:?}");
    drop(proxy);
    Ok(())
}

#[tokio::test]
async fn refused_endpoints_are_skipped_during_a_rolling_update() -> Result<()> {
    let b = 103;
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let mut live = vec![
        TcpBackend::start("v1-0", ip(b, 1, 1)).await?,
        TcpBackend::start("v1-1", ip(b, 1, 2)).await?,
        TcpBackend::start("v1-2", ip(b, 1, 3)).await?,
    ];
    let eps = |live: &[TcpBackend]| live.iter().map(|be| be.endpoint(true)).collect();
    let (proxy, feed) = start_proxy(
        snapshot(vec![service("web", vip, port, eps(&live))]),
        ProxyConfig::default(),
    )
    .await;

    // Each step: the oldest pod stops before its endpoint is withdrawn (the window a
    // rolling update opens), clients keep connecting, then the endpoints catch up with a
    // replacement. No client may notice.
    let mut failures = Vec::new();
    let mut answered = BTreeSet::new();
    let mut next_pod = 0u8;
    for i in 0..200u32 {
        if i % 20 == 10 {
            let old = live.remove(0);
            old.stop().await;
        }
        if i % 20 == 15 {
            let name = format!("v2-{next_pod}");
            live.push(TcpBackend::start(&name, ip(b, 2, next_pod + 1)).await?);
            next_pod += 1;
            feed.publish(snapshot(vec![service("web", vip, port, eps(&live))]));
        }
        match request(to, None).await? {
            Outcome::Answer(name) => {
                answered.insert(name);
            }
            other => failures.push((i, other)),
        }
    }
    assert!(failures.is_empty(), "clients saw failures: {failures:?}");
    assert!(
        answered.contains("v2-9"),
        "the last new pod served: {answered:?}"
    );
    let stats = proxy.service_stats(&key("web")).context("no stats")?;
    assert_eq!(stats.rejected, 0);
    assert!(stats.failed_over > 0, "{stats:?}");
    assert!(stats.endpoint_errors >= stats.failed_over, "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn without_a_reachable_endpoint_connections_are_rejected_not_left_hanging() -> Result<()> {
    let b = 104;
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let unready = TcpBackend::start("unready", ip(b, 1, 1)).await?;
    let gone = TcpBackend::start("gone", ip(b, 1, 2)).await?;
    let gone_endpoint = gone.endpoint(true);
    gone.stop().await;
    let (proxy, _feed) = start_proxy(
        snapshot(vec![
            service("empty", vip, port, vec![]),
            service("unready", ip(b, 0, 2), port, vec![unready.endpoint(false)]),
            service("dead", ip(b, 0, 3), port, vec![gone_endpoint]),
        ]),
        ProxyConfig::default(),
    )
    .await;

    for (name, vip) in [
        ("empty", vip),
        ("unready", ip(b, 0, 2)),
        ("dead", ip(b, 0, 3)),
    ] {
        let outcome = request(SocketAddrV4::new(vip, port), None).await?;
        assert!(
            matches!(outcome, Outcome::Closed | Outcome::Failed(_)),
            "{name}: {outcome:?}"
        );
        let stats = proxy.service_stats(&key(name)).context("no stats")?;
        assert_eq!(stats.rejected, 1, "{name}: {stats:?}");
    }
    let dead = proxy.service_stats(&key("dead")).context("no stats")?;
    assert_eq!(dead.endpoint_errors, 1, "{dead:?}");
    Ok(())
}

#[tokio::test]
async fn session_affinity_keeps_a_client_on_its_endpoint() -> Result<()> {
    let b = 105;
    let backends = [
        TcpBackend::start("a", ip(b, 1, 1)).await?,
        TcpBackend::start("b", ip(b, 1, 2)).await?,
        TcpBackend::start("c", ip(b, 1, 3)).await?,
    ];
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let mut entry = service(
        "web",
        vip,
        port,
        backends.iter().map(|be| be.endpoint(true)).collect(),
    );
    entry.session_affinity = Some(Duration::from_secs(600));
    let (_proxy, feed) = start_proxy(snapshot(vec![entry]), ProxyConfig::default()).await;

    let mut pinned = BTreeMap::new();
    for client in 1..=3u8 {
        let from = Some(ip(b, 9, client));
        let first = ask_from(to, from).await?;
        for _ in 0..10 {
            assert_eq!(ask_from(to, from).await?, first, "client {client} moved");
        }
        pinned.insert(client, first);
    }
    let distinct: BTreeSet<&String> = pinned.values().collect();
    assert_eq!(
        distinct.len(),
        3,
        "clients spread over endpoints: {pinned:?}"
    );

    // The pinned endpoint of client 1 goes unready: the client moves and sticks again.
    let lost = pinned[&1].clone();
    feed.update(|snap| {
        if let Some(e) = snap.services.get_mut(&key("web")) {
            for ep in &mut e.endpoints {
                ep.ready = ep.pod.as_deref() != Some(lost.as_str());
            }
        }
    });
    let from = Some(ip(b, 9, 1));
    let moved = ask_from(to, from).await?;
    assert_ne!(moved, lost);
    for _ in 0..10 {
        assert_eq!(ask_from(to, from).await?, moved);
    }
    Ok(())
}

#[tokio::test]
async fn node_port_and_external_addresses_reach_the_service() -> Result<()> {
    let b = 106;
    let backend = TcpBackend::start("a", ip(b, 1, 1)).await?;
    let vip = ip(b, 0, 1);
    let node_ip = ip(b, 5, 1);
    let external = ip(b, 6, 1);
    let port = free_tcp_port(vip).await?;
    let node_port = free_tcp_port(node_ip).await?;
    let mut entry = service("web", vip, port, vec![backend.endpoint(true)]);
    entry.service_type = ServiceType::NodePort;
    entry.ports[0].node_port = Some(node_port);
    // 192.0.2.1 (TEST-NET) is not local: reported, not fatal.
    entry.external_ips = vec![external, Ipv4Addr::new(192, 0, 2, 1)];
    let skipped = service("dns", ip(b, 0, 10), port, vec![backend.endpoint(true)]);
    let config = ProxyConfig {
        node_ips: vec![node_ip],
        skip_ips: vec![ip(b, 0, 10)],
        ..ProxyConfig::default()
    };
    let (proxy, _feed) = start_proxy(snapshot(vec![entry, skipped]), config).await;

    assert_eq!(ask(SocketAddrV4::new(vip, port)).await?, "a");
    assert_eq!(ask(SocketAddrV4::new(node_ip, node_port)).await?, "a");
    assert_eq!(ask(SocketAddrV4::new(external, port)).await?, "a");

    let listeners = proxy.listeners();
    let states: BTreeMap<String, &ListenerState> = listeners
        .iter()
        .map(|l| (l.addr.to_string(), &l.state))
        .collect();
    assert_eq!(states.len(), 4, "{states:?}");
    assert!(
        matches!(
            states.get(&format!("192.0.2.1:{port}")),
            Some(ListenerState::Failed(_))
        ),
        "{states:?}"
    );
    assert!(
        listeners.iter().all(|l| l.service == key("web")),
        "the skipped cluster IP is not served: {listeners:?}"
    );
    Ok(())
}

#[tokio::test]
async fn removing_a_service_closes_its_socket_but_not_open_connections() -> Result<()> {
    let b = 107;
    let backend = TcpBackend::start("a", ip(b, 1, 1)).await?;
    let vip = ip(b, 0, 1);
    let port = free_tcp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let (proxy, feed) = start_proxy(
        snapshot(vec![service(
            "web",
            vip,
            port,
            vec![backend.endpoint(true)],
        )]),
        ProxyConfig::default(),
    )
    .await;
    assert_eq!(ask(to).await?, "a");

    // A connection open across the removal still completes.
    let mut open = TcpStream::connect(to).await?;
    open.write_all(b"hel").await?;
    eventually("the open connection to reach the endpoint", || {
        proxy
            .service_stats(&key("web"))
            .is_some_and(|s| s.bytes_in >= 5 + 3)
    })
    .await?;

    publish(&proxy, &feed, Snapshot::default()).await?;
    let after = request(to, None).await?;
    assert_eq!(
        after,
        Outcome::Failed(std::io::ErrorKind::ConnectionRefused),
        "the port is closed"
    );
    assert!(proxy.listeners().is_empty());

    open.write_all(b"lo").await?;
    open.shutdown().await?;
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, open.read_to_string(&mut answer)).await??;
    assert_eq!(answer, "a");

    // And it comes back on the same address.
    publish(
        &proxy,
        &feed,
        snapshot(vec![service(
            "web",
            vip,
            port,
            vec![backend.endpoint(true)],
        )]),
    )
    .await?;
    assert_eq!(ask(to).await?, "a");
    proxy.shutdown().await;
    assert!(matches!(request(to, None).await?, Outcome::Failed(_)));
    Ok(())
}

/// A UDP server that answers every datagram with `<name>:<payload>`.
async fn udp_backend(name: &str, at: Ipv4Addr) -> Result<(SocketAddrV4, JoinHandle<()>)> {
    let socket = UdpSocket::bind((at, 0)).await?;
    let SocketAddr::V4(addr) = socket.local_addr()? else {
        bail!("not IPv4");
    };
    let name = name.to_string();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut reply = format!("{name}:").into_bytes();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    Ok((addr, task))
}

fn udp_endpoint(addr: SocketAddrV4, ready: bool) -> Endpoint {
    Endpoint {
        ip: *addr.ip(),
        ready,
        hostname: None,
        node_name: None,
        pod: None,
        ports: BTreeMap::from([(("dns".to_string(), Protocol::Udp), addr.port())]),
    }
}

async fn udp_ask(
    client: &UdpSocket,
    to: SocketAddrV4,
    payload: &str,
) -> Result<(String, SocketAddr)> {
    client.send_to(payload.as_bytes(), to).await?;
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(PATIENCE, client.recv_from(&mut buf))
        .await
        .context("no UDP reply")??;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

#[tokio::test]
async fn udp_sessions_reach_endpoints_and_replies_come_from_the_service_address() -> Result<()> {
    let b = 108;
    let (u1, _t1) = udp_backend("u1", ip(b, 1, 1)).await?;
    let (u2, _t2) = udp_backend("u2", ip(b, 1, 2)).await?;
    let vip = ip(b, 0, 1);
    let port = free_udp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let entry = ServiceEntry {
        ports: vec![ServicePort {
            name: "dns".into(),
            protocol: Protocol::Udp,
            port,
            node_port: None,
        }],
        ..service(
            "dns",
            vip,
            port,
            vec![udp_endpoint(u1, true), udp_endpoint(u2, true)],
        )
    };
    let (proxy, feed) = start_proxy(snapshot(vec![entry.clone()]), ProxyConfig::default()).await;

    let mut seen = BTreeMap::new();
    let mut clients = Vec::new();
    for i in 0..4u8 {
        let client = UdpSocket::bind((ip(b, 9, 1), 0)).await?;
        let (reply, from) = udp_ask(&client, to, &format!("ping{i}")).await?;
        assert_eq!(from, SocketAddr::V4(to), "reply from the service address");
        let (backend, payload) = reply.split_once(':').context("malformed reply")?;
        assert_eq!(payload, format!("ping{i}"));
        // A session stays with its endpoint.
        let (again, _) = udp_ask(&client, to, "again").await?;
        assert_eq!(again, format!("{backend}:again"));
        seen.insert(i, backend.to_string());
        clients.push(client);
    }
    let distinct: BTreeSet<&String> = seen.values().collect();
    assert_eq!(
        distinct.len(),
        2,
        "sessions spread over both endpoints: {seen:?}"
    );

    // An endpoint that goes unready loses its sessions: their next datagram goes to the
    // other one.
    let mut unready = entry;
    unready.endpoints = vec![udp_endpoint(u1, true), udp_endpoint(u2, false)];
    publish(&proxy, &feed, snapshot(vec![unready])).await?;
    for client in &clients {
        assert_eq!(udp_ask(client, to, "after").await?.0, "u1:after");
    }
    let stats = proxy.service_stats(&key("dns")).context("no stats")?;
    assert!(stats.connections_total >= 4, "{stats:?}");
    assert_eq!(stats.rejected, 0, "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn udp_sessions_expire_when_idle_and_the_table_is_bounded() -> Result<()> {
    let b = 109;
    let (u1, _t1) = udp_backend("u1", ip(b, 1, 1)).await?;
    let vip = ip(b, 0, 1);
    let port = free_udp_port(vip).await?;
    let to = SocketAddrV4::new(vip, port);
    let entry = ServiceEntry {
        ports: vec![ServicePort {
            name: "dns".into(),
            protocol: Protocol::Udp,
            port,
            node_port: None,
        }],
        ..service("dns", vip, port, vec![udp_endpoint(u1, true)])
    };
    let config = ProxyConfig {
        // Long enough that the first session cannot idle out before the second client
        // sends (microseconds apart), short enough to keep the test quick.
        udp_idle_timeout: Duration::from_secs(1),
        udp_max_sessions: 1,
        ..ProxyConfig::default()
    };
    let (proxy, _feed) = start_proxy(snapshot(vec![entry]), config).await;
    let stats = || proxy.service_stats(&key("dns")).unwrap_or_default();

    let first = UdpSocket::bind((ip(b, 9, 1), 0)).await?;
    let second = UdpSocket::bind((ip(b, 9, 2), 0)).await?;
    assert_eq!(udp_ask(&first, to, "one").await?.0, "u1:one");
    assert_eq!(stats().connections_active, 1);

    // The table holds one session: the second client's datagram is dropped.
    second.send_to(b"two", to).await?;
    eventually("the datagram to be rejected", || stats().rejected == 1).await?;

    // Once the first session has idled out, the second client gets through.
    eventually("the idle session to end", || {
        stats().connections_active == 0
    })
    .await?;
    assert_eq!(udp_ask(&second, to, "two").await?.0, "u1:two");
    assert_eq!(stats().connections_total, 2);
    Ok(())
}
