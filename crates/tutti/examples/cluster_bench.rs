//! End-to-end control-plane benchmark: a real `tutti server` (the release binary next to
//! this example) with N hollow nodes (`tutti agent --hollow N`, a second process), then
//! pods created through the API, as bare pods (many concurrent writers) and as one
//! Deployment. For each run it measures:
//!
//! - pods/s from the first create to the last pod bound (`spec.nodeName` seen in a watch)
//!   and to the last pod Running (reported by its hollow node);
//! - API latency p50/p99 while it happens: the creates themselves (bare pods) and a probe
//!   that GETs one object every 50 ms (both modes);
//! - watch delay: from a create's acknowledgement to its ADDED event on a watch;
//! - the time to LIST every pod in the cluster afterwards;
//! - the server's RSS (peak and after), CPU seconds used;
//!
//! and, once: time from the server's start to `/readyz` ok, time for the
//! hollow nodes to be Ready, idle CPU of the server while N nodes renew their leases.
//!
//! ```text
//! cargo build --release -p tutti --bin tutti --example cluster_bench
//! ./target/release/examples/cluster_bench [--quick] [--nodes 5000] [--runs pods:10000,deployment:10000,pods:150000,deployment:150000]
//!     [--writers 64] [--json FILE]
//! ```

#[path = "support/proc_stats.rs"]
mod proc_stats;
use proc_stats::{cpu_secs, rss_kib};

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

struct Options {
    quick: bool,
    nodes: usize,
    runs: Vec<(Mode, usize)>,
    writers: usize,
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pods,
    Deployment,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pods => "pods",
            Mode::Deployment => "deployment",
        }
    }
}

fn parse_options() -> anyhow::Result<Options> {
    let mut o = Options {
        quick: false,
        nodes: 5000,
        // About 7 minutes in all on 2 cores (the issue's bound is 10).
        runs: vec![
            (Mode::Pods, 10_000),
            (Mode::Deployment, 10_000),
            (Mode::Pods, 150_000),
            (Mode::Deployment, 150_000),
        ],
        writers: 64,
        json: None,
    };
    let mut runs_given = false;
    let mut nodes_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => o.quick = true,
            "--nodes" => {
                o.nodes = value()?.parse()?;
                nodes_given = true;
            }
            "--writers" => o.writers = value()?.parse()?,
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--runs" => {
                runs_given = true;
                o.runs = value()?
                    .split(',')
                    .map(|r| {
                        let (mode, n) = r.split_once(':').with_context(|| {
                            format!("--runs: {r:?} is not <pods|deployment>:<count>")
                        })?;
                        let mode = match mode {
                            "pods" => Mode::Pods,
                            "deployment" => Mode::Deployment,
                            m => bail!("--runs: unknown mode {m:?} (pods or deployment)"),
                        };
                        Ok((mode, n.parse()?))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: cluster_bench [--quick] [--nodes N] [--runs pods:N,deployment:N] [--writers W] [--json FILE]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if o.quick {
        if !nodes_given {
            o.nodes = 100;
        }
        if !runs_given {
            o.runs = vec![(Mode::Pods, 1000), (Mode::Deployment, 1000)];
        }
    }
    Ok(o)
}

fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Kills the child processes when the bench ends, however it ends.
struct Procs(Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        // The last started first: the hollow agent before the server it talks to.
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("tutti"))
        .context("no binary directory next to this example")?;
    if !bin.exists() {
        bail!(
            "{} not found: build it with `cargo build -p tutti` in the same profile",
            bin.display()
        );
    }
    Ok(bin)
}

/// Starts `tutti server` and returns it with its kubeconfig and the time until it was written.
fn start_server(bin: &Path, dir: &Path) -> anyhow::Result<(Child, PathBuf, Duration)> {
    let started = Instant::now();
    let mut child = Command::new(bin)
        // A pod range with a /24 for each of up to 32,768 nodes (the default /16 has 256).
        .args(["server", "--init", "--listen", "127.0.0.1:0"])
        .args(["--cluster-cidr", "10.128.0.0/9", "--data-dir"])
        .arg(dir)
        .env("TUTTI_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let kubeconfig = loop {
        let line = lines
            .next()
            .context("tutti server exited before it was ready")??;
        if let Some(p) = line.strip_prefix("export KUBECONFIG=") {
            break PathBuf::from(p);
        }
    };
    let ready = started.elapsed();
    std::thread::spawn(move || for _ in lines {});
    Ok((child, kubeconfig, ready))
}

async fn client_for(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.read_timeout = Some(Duration::from_secs(300));
    Ok(kube::Client::try_from(config)?)
}

async fn ready_nodes(client: &kube::Client) -> anyhow::Result<usize> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes
        .list(&ListParams::default().labels("tutti.dev/hollow=true"))
        .await?;
    Ok(list
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count())
}

/// What the watch saw of each pod, by name: when it first appeared, was bound, ran.
#[derive(Default)]
struct Seen {
    added: HashMap<String, Instant>,
    bound: HashMap<String, Instant>,
    running: HashMap<String, Instant>,
}

struct Progress {
    /// Acknowledged creates (bare pods) or pods seen by the watch (a Deployment's).
    created: AtomicUsize,
    /// Pods the watch has shown.
    seen: AtomicUsize,
    bound: AtomicUsize,
    running: AtomicUsize,
}

fn pod_object(name: &str) -> Pod {
    let v = json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{
            "name": "web", "image": "nginx",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }]},
    });
    serde_json::from_value(v).unwrap_or_default()
}

fn deployment_object(replicas: usize) -> Deployment {
    let v = json!({
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    });
    serde_json::from_value(v).unwrap_or_default()
}

/// Follows the pods of `ns` and records when each was added, bound and running.
fn spawn_watch(
    client: kube::Client,
    ns: String,
    seen: Arc<Mutex<Seen>>,
    progress: Arc<Progress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let mut rv = "0".to_string();
        loop {
            let params = WatchParams::default().timeout(290);
            let stream = match pods.watch(&params, &rv).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("watch failed: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut stream = std::pin::pin!(stream);
            while let Ok(Some(ev)) = stream.try_next().await {
                let pod = match ev {
                    WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
                    WatchEvent::Bookmark(b) => {
                        rv = b.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Deleted(p) => {
                        if let Some(v) = p.metadata.resource_version {
                            rv = v;
                        }
                        continue;
                    }
                    WatchEvent::Error(e) => {
                        eprintln!("watch error: {e}");
                        break;
                    }
                };
                let now = Instant::now();
                if let Some(v) = &pod.metadata.resource_version {
                    rv = v.clone();
                }
                let Some(name) = pod.metadata.name.clone() else {
                    continue;
                };
                let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
                let running = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|p| p == "Running");
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                if !s.added.contains_key(&name) {
                    s.added.insert(name.clone(), now);
                    progress.seen.fetch_add(1, Ordering::Relaxed);
                }
                if bound && !s.bound.contains_key(&name) {
                    s.bound.insert(name.clone(), now);
                    progress.bound.fetch_add(1, Ordering::Relaxed);
                }
                if running && !s.running.contains_key(&name) {
                    s.running.insert(name, now);
                    progress.running.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}

/// GETs one ConfigMap every 50 ms and records the latencies until stopped.
fn spawn_probe(client: kube::Client, stop: Arc<AtomicU64>) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let mut lat = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while stop.load(Ordering::Relaxed) == 0 {
            tick.tick().await;
            let t = Instant::now();
            if cms.get("bench-probe").await.is_ok() {
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        lat
    })
}

struct RunResult {
    json: Value,
}

async fn one_run(
    client: &kube::Client,
    server_pid: u32,
    mode: Mode,
    count: usize,
    writers: usize,
    index: usize,
) -> anyhow::Result<RunResult> {
    let ns = format!("bench-{index}-{}-{count}", mode.name());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let progress = Arc::new(Progress {
        created: AtomicUsize::new(0),
        seen: AtomicUsize::new(0),
        bound: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
    });
    let watch = spawn_watch(client.clone(), ns.clone(), seen.clone(), progress.clone());
    // Give the watch a moment to be established before the first create.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = Arc::new(AtomicU64::new(0));
    let probe = spawn_probe(client.clone(), stop.clone());
    let cpu0 = cpu_secs(server_pid);
    let peak_rss = Arc::new(AtomicU64::new(rss_kib(server_pid)));
    let t0 = Instant::now();
    let timeline = Arc::new(Mutex::new(Vec::<[f64; 4]>::new()));
    let sampler = {
        let (progress, peak_rss, timeline, stop) = (
            progress.clone(),
            peak_rss.clone(),
            timeline.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut last_print = Instant::now();
            while stop.load(Ordering::Relaxed) == 0 {
                tick.tick().await;
                peak_rss.fetch_max(rss_kib(server_pid), Ordering::Relaxed);
                let (c, b, r) = (
                    match mode {
                        Mode::Pods => progress.created.load(Ordering::Relaxed),
                        // The ReplicaSet controller creates them: count what the watch shows.
                        Mode::Deployment => progress.seen.load(Ordering::Relaxed),
                    },
                    progress.bound.load(Ordering::Relaxed),
                    progress.running.load(Ordering::Relaxed),
                );
                timeline.lock().unwrap_or_else(|e| e.into_inner()).push([
                    t0.elapsed().as_secs_f64(),
                    c as f64,
                    b as f64,
                    r as f64,
                ]);
                if last_print.elapsed() >= Duration::from_secs(5) {
                    last_print = Instant::now();
                    eprintln!(
                        "  {:>6.1} s  created {c:>7}  bound {b:>7}  running {r:>7}  server RSS {:.0} MiB",
                        t0.elapsed().as_secs_f64(),
                        rss_kib(server_pid) as f64 / 1024.0
                    );
                }
            }
        })
    };

    // Create.
    let acks: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut create_lat: Vec<f64> = Vec::new();
    let mut failed = 0usize;
    match mode {
        Mode::Pods => {
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..writers.max(1) {
                let (pods, next, acks, progress) =
                    (pods.clone(), next.clone(), acks.clone(), progress.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut failed = 0usize;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let name = format!("p-{i}");
                        let pod = pod_object(&name);
                        let t = Instant::now();
                        match pods.create(&PostParams::default(), &pod).await {
                            Ok(_) => {
                                let now = Instant::now();
                                lat.push((now - t).as_secs_f64() * 1000.0);
                                acks.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(name, now);
                                progress.created.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                if failed == 0 {
                                    eprintln!("create {name} failed: {e}");
                                }
                                failed += 1;
                            }
                        }
                    }
                    (lat, failed)
                }));
            }
            for t in tasks {
                let (l, f) = t.await?;
                create_lat.extend(l);
                failed += f;
            }
        }
        Mode::Deployment => {
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
            deployments
                .create(&PostParams::default(), &deployment_object(count))
                .await?;
        }
    }
    let created_after = t0.elapsed();
    // Wait for every pod to be bound and running (or a generous deadline).
    let expected = count - failed;
    let deadline = Duration::from_secs(120 + (count / 200) as u64);
    let mut timed_out = false;
    while progress.running.load(Ordering::Relaxed) < expected {
        if t0.elapsed() > deadline {
            timed_out = true;
            eprintln!(
                "  deadline: {} of {expected} running after {:.0} s",
                progress.running.load(Ordering::Relaxed),
                t0.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(1, Ordering::Relaxed);
    let mut probe_lat = probe.await?;
    sampler.await?;
    watch.abort();
    let cpu_used = cpu_secs(server_pid) - cpu0;

    let (added_s, bound_s, running_s, mut watch_delay) = {
        let s = seen.lock().unwrap_or_else(|e| e.into_inner());
        let last = |m: &HashMap<String, Instant>| m.values().max().map(|t| (*t - t0).as_secs_f64());
        let acks = acks.lock().unwrap_or_else(|e| e.into_inner());
        let delays: Vec<f64> = acks
            .iter()
            .filter_map(|(name, ack)| {
                let added = s.added.get(name)?;
                // An event may arrive before the response to the create: count that as 0.
                Some(added.saturating_duration_since(*ack).as_secs_f64() * 1000.0)
            })
            .collect();
        (
            last(&s.added).unwrap_or(f64::NAN),
            last(&s.bound).unwrap_or(f64::NAN),
            last(&s.running).unwrap_or(f64::NAN),
            delays,
        )
    };
    create_lat.sort_by(f64::total_cmp);
    probe_lat.sort_by(f64::total_cmp);
    watch_delay.sort_by(f64::total_cmp);

    // LIST every pod in the cluster, from the store (a consistent read) and from the cache.
    let all: Api<Pod> = Api::all(client.clone());
    let t = Instant::now();
    let listed = all.list(&ListParams::default()).await?.items.len();
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let listed_rv0 = all
        .list(&ListParams::default().match_any())
        .await?
        .items
        .len();
    let list_rv0_ms = t.elapsed().as_secs_f64() * 1000.0;
    let rss_after = rss_kib(server_pid);

    let per_sec = |secs: f64| expected as f64 / secs;
    let create_s = match mode {
        Mode::Pods => created_after.as_secs_f64(),
        Mode::Deployment => added_s,
    };
    let timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(|e| e.into_inner()));
    let json = json!({
        "mode": mode.name(),
        "namespace": ns,
        "pods": count,
        "failed_creates": failed,
        "timed_out": timed_out,
        // Bare pods: until the last create was acknowledged. A Deployment: until the watch
        // showed the ReplicaSet controller's last pod.
        "create_s": create_s,
        "creates_per_s": per_sec(create_s),
        "bound_s": bound_s,
        "bound_per_s": per_sec(bound_s),
        "running_s": running_s,
        "running_per_s": per_sec(running_s),
        "create_p50_ms": percentile_ms(&create_lat, 0.5),
        "create_p99_ms": percentile_ms(&create_lat, 0.99),
        "probe_get_p50_ms": percentile_ms(&probe_lat, 0.5),
        "probe_get_p99_ms": percentile_ms(&probe_lat, 0.99),
        "probe_gets": probe_lat.len(),
        "watch_delay_p50_ms": percentile_ms(&watch_delay, 0.5),
        "watch_delay_p99_ms": percentile_ms(&watch_delay, 0.99),
        "list_all_pods": listed,
        "list_all_ms": list_ms,
        "list_all_rv0_pods": listed_rv0,
        "list_all_rv0_ms": list_rv0_ms,
        "server_rss_peak_mib": peak_rss.load(Ordering::Relaxed) as f64 / 1024.0,
        "server_rss_after_mib": rss_after as f64 / 1024.0,
        "server_cpu_s": cpu_used,
        "timeline": timeline,
    });
    Ok(RunResult { json })
}

/// Waits (up to 120 s) until every hollow node's lease carries the same duration and the
/// hollow nodes renew by it (one renewal period more); returns the duration in seconds and
/// when it settled, in seconds since `since`.
async fn lease_durations_settled(
    client: &kube::Client,
    since: Instant,
) -> anyhow::Result<(i32, f64)> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    loop {
        let list = leases.list(&ListParams::default()).await?;
        let durations: BTreeSet<i32> = list
            .items
            .iter()
            .filter_map(|l| l.spec.as_ref()?.lease_duration_seconds)
            .collect();
        if durations.len() == 1 {
            let d = durations.into_iter().next().unwrap_or(0);
            let settled = since.elapsed().as_secs_f64();
            // Each hollow node adopts the duration at its next renewal.
            tokio::time::sleep(Duration::from_secs(u64::try_from(d).unwrap_or(0) / 4)).await;
            return Ok((d, settled));
        }
        if since.elapsed() > Duration::from_secs(120) {
            bail!("lease durations still differ after 120 s: {durations:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes a run's namespace and waits until its pods are gone; returns the seconds it took.
async fn delete_run(client: &kube::Client, ns: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete(ns, &DeleteParams::default()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    loop {
        let left = pods.list_metadata(&ListParams::default().limit(1)).await?;
        if left.items.is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!("namespace {ns}: pods still there after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn fmt_f(v: &Value, key: &str, digits: usize) -> String {
    match v[key].as_f64() {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let o = parse_options()?;
    let bin = binary()?;
    let dir = tempfile::tempdir()?;
    let mut procs = Procs(Vec::new());

    eprintln!("== tutti server ({})", bin.display());
    let started = Instant::now();
    let (server, kubeconfig, _) = start_server(&bin, &dir.path().join("server"))?;
    let server_pid = server.id();
    procs.0.push(server);
    let client = client_for(&kubeconfig).await?;
    let ready = loop {
        let req = http::Request::get("/readyz").body(Vec::new())?;
        if client.request_text(req).await.is_ok() {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("tutti server not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // The store may still be electing itself: retry the first write briefly.
    let probe_cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "bench-probe"}, "data": {"k": "v"}}))?;
    let mut first = Instant::now();
    loop {
        match cms.create(&PostParams::default(), &probe_cm).await {
            Ok(_) => break,
            Err(e) if first.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).context("first write to the new server"),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_kib(server_pid);
    eprintln!(
        "   /readyz ok {} ms after start, idle RSS {:.1} MiB",
        ready.as_millis(),
        idle_rss as f64 / 1024.0
    );

    eprintln!("== {} hollow nodes", o.nodes);
    first = Instant::now();
    let hollow = Command::new(&bin)
        .args(["agent", "--hollow", &o.nodes.to_string(), "--kubeconfig"])
        .arg(&kubeconfig)
        .env("TUTTI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("hollow.log"))?)
        .spawn()?;
    let hollow_pid = hollow.id();
    procs.0.push(hollow);
    loop {
        let ready = ready_nodes(&client).await.unwrap_or(0);
        if ready >= o.nodes {
            break;
        }
        if first.elapsed() > Duration::from_secs(300) {
            bail!("only {ready} of {} hollow nodes Ready after 300 s", o.nodes);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let nodes_ready_s = first.elapsed().as_secs_f64();
    eprintln!("   all Ready after {nodes_ready_s:.1} s");
    // Beyond the heartbeat budget the server lengthens every lease (a few hundred a second)
    // and the hollow nodes slow their renewals as they see it: idle is measured after that.
    let (lease_s, converged_s) = lease_durations_settled(&client, first).await?;
    eprintln!(
        "   leases settled at {lease_s} s ({:.1} s after the nodes started)",
        converged_s
    );
    // Idle with every node renewing its Lease: what the server spends doing nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_window = if o.quick { 2.0 } else { 10.0 };
    let (c0, h0) = (cpu_secs(server_pid), cpu_secs(hollow_pid));
    tokio::time::sleep(Duration::from_secs_f64(idle_window)).await;
    let idle_cpu = (cpu_secs(server_pid) - c0) / idle_window;
    let hollow_idle_cpu = (cpu_secs(hollow_pid) - h0) / idle_window;
    let nodes_rss = rss_kib(server_pid);
    let hollow_rss = rss_kib(hollow_pid);
    eprintln!(
        "   server with {} nodes: RSS {:.1} MiB, {:.0}% of a core idle; hollow agent RSS {:.1} MiB, {:.0}% of a core",
        o.nodes,
        nodes_rss as f64 / 1024.0,
        idle_cpu * 100.0,
        hollow_rss as f64 / 1024.0,
        hollow_idle_cpu * 100.0
    );

    let mut runs = Vec::new();
    let mut previous: Option<String> = None;
    for (i, (mode, count)) in o.runs.iter().enumerate() {
        if let Some(ns) = previous.take() {
            let secs = delete_run(&client, &ns).await?;
            eprintln!("   deleted the previous run's pods in {secs:.1} s");
            if let Some(r) = runs.last_mut() {
                let r: &mut Value = r;
                r["delete_s"] = json!(secs);
            }
        }
        eprintln!("== {} {count} pods ({} nodes)", mode.name(), o.nodes);
        let r = one_run(&client, server_pid, *mode, *count, o.writers, i).await?;
        let j = r.json;
        eprintln!(
            "   bound {} pods/s, running {} pods/s, list {} ms",
            fmt_f(&j, "bound_per_s", 0),
            fmt_f(&j, "running_per_s", 0),
            fmt_f(&j, "list_all_ms", 0)
        );
        previous = j["namespace"].as_str().map(String::from);
        runs.push(j);
    }
    let hollow_rss_end = rss_kib(hollow_pid);

    println!(
        "server: /readyz ok {} ms after start; idle RSS {:.1} MiB; with {} hollow nodes Ready ({:.1} s): RSS {:.1} MiB, idle CPU {:.0}% of a core (leases of {} s)",
        ready.as_millis(),
        idle_rss as f64 / 1024.0,
        o.nodes,
        nodes_ready_s,
        nodes_rss as f64 / 1024.0,
        idle_cpu * 100.0,
        lease_s
    );
    println!(
        "hollow agent: RSS {:.1} MiB with {} nodes ({:.1} KiB per node), {:.1} MiB at the end",
        hollow_rss as f64 / 1024.0,
        o.nodes,
        hollow_rss as f64 / o.nodes.max(1) as f64,
        hollow_rss_end as f64 / 1024.0
    );
    println!(
        "{:>10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>13} {:>12} {:>12} {:>10} {:>9}",
        "mode",
        "pods",
        "create/s",
        "bound/s",
        "running/s",
        "create p99",
        "GET p50/p99 ms",
        "watch p50/p99",
        "LIST all ms",
        "RSS peak",
        "delete s"
    );
    for r in &runs {
        println!(
            "{:>10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>13} {:>12} {:>12} {:>10} {:>9}",
            r["mode"].as_str().unwrap_or(""),
            r["pods"].as_u64().unwrap_or(0),
            fmt_f(r, "creates_per_s", 0),
            fmt_f(r, "bound_per_s", 0),
            fmt_f(r, "running_per_s", 0),
            fmt_f(r, "create_p99_ms", 1),
            format!(
                "{}/{}",
                fmt_f(r, "probe_get_p50_ms", 1),
                fmt_f(r, "probe_get_p99_ms", 1)
            ),
            format!(
                "{}/{}",
                fmt_f(r, "watch_delay_p50_ms", 1),
                fmt_f(r, "watch_delay_p99_ms", 1)
            ),
            format!(
                "{} ({})",
                fmt_f(r, "list_all_ms", 0),
                r["list_all_pods"].as_u64().unwrap_or(0)
            ),
            format!("{} MiB", fmt_f(r, "server_rss_peak_mib", 0)),
            fmt_f(r, "delete_s", 1),
        );
    }
    let result = json!({
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        },
        "quick": o.quick,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "nodes": o.nodes,
        "writers": o.writers,
        "server_ready_ms": ready.as_millis() as u64,
        "server_idle_rss_mib": idle_rss as f64 / 1024.0,
        "nodes_ready_s": nodes_ready_s,
        "server_rss_with_nodes_mib": nodes_rss as f64 / 1024.0,
        "server_idle_cpu_with_nodes": idle_cpu,
        "lease_duration_s": lease_s,
        "leases_settled_s": converged_s,
        "hollow_rss_mib": hollow_rss as f64 / 1024.0,
        "hollow_rss_end_mib": hollow_rss_end as f64 / 1024.0,
        "hollow_idle_cpu": hollow_idle_cpu,
        "runs": runs,
    });
    if let Some(path) = &o.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    let bad: Vec<&Value> = result["runs"]
        .as_array()
        .map(|r| r.iter().filter(|r| r["timed_out"] == json!(true)).collect())
        .unwrap_or_default();
    if !bad.is_empty() {
        // At full scale a run that does not finish is a result (the JSON says how far it
        // got); in the small --quick run every pod must run, or something is broken.
        eprintln!(
            "{} run(s) did not get every pod Running before the deadline",
            bad.len()
        );
        if o.quick {
            bail!("--quick: every pod must be Running");
        }
    }
    Ok(())
}
