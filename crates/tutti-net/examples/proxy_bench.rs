//! Benchmark of the service proxy on loopback.
//!
//! ```text
//! cargo run --release -p tutti-net --example proxy_bench -- [--quick] [--json <file>]
//! ```
//!
//! Three backends answer a minimal HTTP/1.1 request (one per connection, `Connection:
//! close`) with their name; a service on 127.200.0.1 sends to them through the proxy. It
//! measures:
//!
//! - **latency**: one request per new connection, sequentially, straight to a backend and
//!   through the proxy (p50/p99/mean);
//! - **throughput**: requests per second with C concurrent clients for a fixed time, each
//!   request on a new connection, straight and through the proxy;
//! - **endpoint changes**: after publishing a snapshot that removes an endpoint, how long
//!   until a request completes without reaching it and whether any later one still does;
//!   after adding one, how long until a request reaches it;
//! - **new service**: from publishing a snapshot with a new service to the first request
//!   through its new socket.
//!
//! Clients, proxy and backends share one tokio runtime (and this machine's cores), so the
//! proxy's numbers include contention with the load generator.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tutti_net::catalog::{
    Catalog, CatalogFeed, Endpoint, Protocol, ServiceEntry, ServiceKey, ServicePort, ServiceType,
    Snapshot,
};
use tutti_net::proxy::{Proxy, ProxyConfig};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";

struct Settings {
    quick: bool,
    json: Option<PathBuf>,
    sequential: usize,
    concurrency: usize,
    duration: Duration,
    change_rounds: usize,
}

fn settings() -> Result<Settings> {
    let mut quick = false;
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = Some(PathBuf::from(args.next().context("--json needs a file")?)),
            other => bail!("unknown argument {other:?} (expected --quick, --json <file>)"),
        }
    }
    Ok(Settings {
        quick,
        json,
        sequential: if quick { 2_000 } else { 10_000 },
        concurrency: 64,
        duration: if quick {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(10)
        },
        change_rounds: if quick { 20 } else { 100 },
    })
}

/// A backend that reads one request head and answers with its name, then closes.
async fn http_backend(name: &str, at: Ipv4Addr) -> Result<SocketAddrV4> {
    let listener = TcpListener::bind((at, 0)).await?;
    let SocketAddr::V4(addr) = listener.local_addr()? else {
        bail!("not IPv4");
    };
    let response = Arc::new(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
            name.len()
        )
        .into_bytes(),
    );
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                let mut head = Vec::with_capacity(256);
                let mut buf = [0u8; 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = conn.write_all(&response).await;
            });
        }
    });
    Ok(addr)
}

/// One request on a new connection; returns the body (the backend's name).
async fn request(to: SocketAddrV4) -> Result<String> {
    let mut conn = TcpStream::connect(to).await?;
    conn.set_nodelay(true)?;
    conn.write_all(REQUEST).await?;
    let mut response = Vec::with_capacity(128);
    conn.read_to_end(&mut response).await?;
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &response[i + 4..])
        .context("no response head")?;
    Ok(String::from_utf8_lossy(body).into_owned())
}

fn endpoint(addr: SocketAddrV4) -> Endpoint {
    Endpoint {
        ip: *addr.ip(),
        ready: true,
        hostname: None,
        node_name: None,
        pod: None,
        ports: BTreeMap::from([(("http".to_string(), Protocol::Tcp), addr.port())]),
    }
}

fn service(name: &str, vip: Ipv4Addr, port: u16, endpoints: &[SocketAddrV4]) -> ServiceEntry {
    ServiceEntry {
        key: ServiceKey {
            namespace: "bench".into(),
            name: name.into(),
        },
        service_type: ServiceType::ClusterIp,
        cluster_ip: Some(vip),
        headless: false,
        ports: vec![ServicePort {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port,
            node_port: None,
        }],
        session_affinity: None,
        external_ips: vec![],
        endpoints: endpoints.iter().map(|a| endpoint(*a)).collect(),
    }
}

fn snapshot(entries: Vec<ServiceEntry>) -> Snapshot {
    Snapshot {
        services: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
    }
}

#[derive(Debug, Clone, Copy)]
struct Summary {
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    max_us: f64,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().map_or(0.0, us)
    };
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64
    };
    Summary {
        p50_us: at(0.50),
        p99_us: at(0.99),
        mean_us: mean,
        max_us: samples.last().copied().map_or(0.0, us),
    }
}

fn summary_json(s: Summary) -> serde_json::Value {
    json!({"p50_us": s.p50_us, "p99_us": s.p99_us, "mean_us": s.mean_us, "max_us": s.max_us})
}

async fn sequential_latency(to: SocketAddrV4, n: usize) -> Result<Summary> {
    for _ in 0..n / 10 {
        request(to).await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        request(to).await?;
        samples.push(start.elapsed());
    }
    Ok(summarize(samples))
}

struct Throughput {
    requests: u64,
    errors: u64,
    per_second: f64,
}

async fn throughput(to: SocketAddrV4, clients: usize, duration: Duration) -> Throughput {
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (done, ok, failed) = (done.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    match request(to).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    done.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let requests = ok.load(Ordering::Relaxed);
    Throughput {
        requests,
        errors: failed.load(Ordering::Relaxed),
        per_second: requests as f64 / elapsed,
    }
}

struct ChangeResult {
    removal: Summary,
    stale_hits: usize,
    checked_after_removal: usize,
    addition: Summary,
    addition_requests_max: usize,
}

/// Alternately remove and re-add the third endpoint, timing how soon traffic follows.
async fn endpoint_changes(
    feed: &CatalogFeed,
    vip: Ipv4Addr,
    port: u16,
    backends: &[SocketAddrV4],
    names: &[String],
    rounds: usize,
) -> Result<ChangeResult> {
    let to = SocketAddrV4::new(vip, port);
    let moving = names.last().context("no backends")?.clone();
    let keep = &backends[..backends.len() - 1];
    let mut removal = Vec::new();
    let mut addition = Vec::new();
    let mut stale_hits = 0;
    let mut checked = 0;
    let mut addition_requests_max = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        feed.publish(snapshot(vec![service("web", vip, port, keep)]));
        loop {
            let got = request(to).await?;
            if got != moving {
                removal.push(start.elapsed());
                break;
            }
            stale_hits += 1;
        }
        for _ in 0..keep.len() * 3 {
            checked += 1;
            if request(to).await? == moving {
                stale_hits += 1;
            }
        }
        let start = Instant::now();
        feed.publish(snapshot(vec![service("web", vip, port, backends)]));
        let mut tries = 0;
        loop {
            tries += 1;
            if request(to).await? == moving {
                addition.push(start.elapsed());
                break;
            }
            if tries > 100 {
                bail!("the added endpoint never got a request");
            }
        }
        addition_requests_max = addition_requests_max.max(tries);
    }
    Ok(ChangeResult {
        removal: summarize(removal),
        stale_hits,
        checked_after_removal: checked,
        addition: summarize(addition),
        addition_requests_max,
    })
}

/// Publish a snapshot with one more service and time the first request through it.
async fn new_service_latency(
    feed: &CatalogFeed,
    base: &ServiceEntry,
    backends: &[SocketAddrV4],
    rounds: usize,
) -> Result<Summary> {
    let mut samples = Vec::new();
    for i in 0..rounds {
        let vip = Ipv4Addr::new(127, 201, (i / 250) as u8, (i % 250) as u8 + 1);
        let port = TcpListener::bind((vip, 0)).await?.local_addr()?.port();
        let extra = service(&format!("new-{i}"), vip, port, backends);
        let start = Instant::now();
        feed.publish(snapshot(vec![base.clone(), extra]));
        let deadline = start + Duration::from_secs(5);
        loop {
            if request(SocketAddrV4::new(vip, port)).await.is_ok() {
                samples.push(start.elapsed());
                break;
            }
            if Instant::now() > deadline {
                bail!("the new service never answered");
            }
            tokio::task::yield_now().await;
        }
    }
    feed.publish(snapshot(vec![base.clone()]));
    Ok(summarize(samples))
}

#[tokio::main]
async fn main() -> Result<()> {
    let s = settings()?;
    let names: Vec<String> = (0..3).map(|i| format!("backend-{i}")).collect();
    let mut backends = Vec::new();
    for (i, name) in names.iter().enumerate() {
        backends.push(http_backend(name, Ipv4Addr::new(127, 200, 1, i as u8 + 1)).await?);
    }
    let vip = Ipv4Addr::new(127, 200, 0, 1);
    let port = TcpListener::bind((vip, 0)).await?.local_addr()?.port();
    let base = service("web", vip, port, &backends);
    let (catalog, feed) = Catalog::manual(snapshot(vec![base.clone()]));
    let proxy = Proxy::start(catalog.subscribe(), ProxyConfig::default()).await;
    let via_proxy = SocketAddrV4::new(vip, port);
    let direct = backends[0];
    println!(
        "proxy_bench ({}): {} sequential requests, {} clients for {:?}, {} change rounds",
        if s.quick { "quick" } else { "full" },
        s.sequential,
        s.concurrency,
        s.duration,
        s.change_rounds
    );

    let lat_direct = sequential_latency(direct, s.sequential).await?;
    let lat_proxy = sequential_latency(via_proxy, s.sequential).await?;
    let tp_direct = throughput(direct, s.concurrency, s.duration).await;
    let tp_proxy = throughput(via_proxy, s.concurrency, s.duration).await;
    let changes = endpoint_changes(&feed, vip, port, &backends, &names, s.change_rounds).await?;
    let new_service = new_service_latency(&feed, &base, &backends, s.change_rounds).await?;
    let stats = proxy
        .stats()
        .get(&base.key)
        .copied()
        .context("no stats for the service")?;

    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "latency, new connection per request", "p50 µs", "p99 µs", "mean µs"
    );
    for (label, l) in [("direct", lat_direct), ("through proxy", lat_proxy)] {
        println!(
            "{label:<44} {:>10.1} {:>10.1} {:>10.1}",
            l.p50_us, l.p99_us, l.mean_us
        );
    }
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        format!("throughput, {} clients", s.concurrency),
        "req/s",
        "requests",
        "errors"
    );
    for (label, t) in [("direct", &tp_direct), ("through proxy", &tp_proxy)] {
        println!(
            "{label:<44} {:>10.0} {:>10} {:>10}",
            t.per_second, t.requests, t.errors
        );
    }
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "changes (publish → request done)", "p50 µs", "p99 µs", "max µs"
    );
    for (label, l) in [
        (
            "endpoint removed: first request avoiding it",
            changes.removal,
        ),
        (
            "endpoint added: first request reaching it",
            changes.addition,
        ),
        ("service added: first request through it", new_service),
    ] {
        println!(
            "{label:<44} {:>10.1} {:>10.1} {:>10.1}",
            l.p50_us, l.p99_us, l.max_us
        );
    }
    println!(
        "removed endpoint reached after publish: {} of {} requests; added endpoint reached within {} requests",
        changes.stale_hits, changes.checked_after_removal, changes.addition_requests_max
    );
    println!(
        "proxy counters: {} connections, {} rejected, {} failed over, {} bytes in, {} bytes out",
        stats.connections_total, stats.rejected, stats.failed_over, stats.bytes_in, stats.bytes_out
    );

    if let Some(path) = &s.json {
        let report = json!({
            "mode": if s.quick { "quick" } else { "full" },
            "sequential_requests": s.sequential,
            "latency": {"direct": summary_json(lat_direct), "proxy": summary_json(lat_proxy)},
            "throughput": {
                "clients": s.concurrency,
                "seconds": s.duration.as_secs_f64(),
                "direct": {"rps": tp_direct.per_second, "requests": tp_direct.requests, "errors": tp_direct.errors},
                "proxy": {"rps": tp_proxy.per_second, "requests": tp_proxy.requests, "errors": tp_proxy.errors},
            },
            "changes": {
                "rounds": s.change_rounds,
                "endpoint_removed": summary_json(changes.removal),
                "endpoint_removed_stale_hits": changes.stale_hits,
                "endpoint_removed_checked": changes.checked_after_removal,
                "endpoint_added": summary_json(changes.addition),
                "endpoint_added_requests_max": changes.addition_requests_max,
                "service_added": summary_json(new_service),
            },
            "counters": {
                "connections_total": stats.connections_total,
                "rejected": stats.rejected,
                "failed_over": stats.failed_over,
                "bytes_in": stats.bytes_in,
                "bytes_out": stats.bytes_out,
            },
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    proxy.shutdown().await;
    Ok(())
}
