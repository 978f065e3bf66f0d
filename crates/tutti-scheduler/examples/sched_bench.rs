//! Benchmark of the pure placement core: pods placed one after another on a synthetic node
//! snapshot, each decision ([`schedule_one`]) committed into the snapshot ([`Snapshot::assume`])
//! before the next, on one thread.
//!
//! ```text
//! cargo run --release -p tutti-scheduler --example sched_bench -- \
//!     [--quick] [--json <file>] [--seed <n>] [--nodes 500,5000,15000] [--pods <n>]
//!     [--percentage <n>] [--without <[filter:|score:]Plugin,...>]
//! ```
//!
//! Prints one row per scenario and node count (pods/s, per-pod latency p50/p99/max, pods that
//! fit nowhere, nodes filtered per pod, snapshot build time) and the same per kind of pod with
//! its share of the time; `--json` writes them with the seed and the load average. `--quick`:
//! 500 and 5,000 nodes, 2,000 pods (about a second in release mode). `--without` leaves plugins
//! out of the profile to see what each costs.
//!
//! Nodes: 4 CPU, 16 GiB, 110 pods; labels `kubernetes.io/hostname`, `topology.kubernetes.io/zone`
//! (3 zones), `disk=ssd` on half of them (drawn from the seed); a `dedicated=batch:NoSchedule`
//! taint on a tenth (drawn from the seed). Every pod requests 100m CPU and 128Mi and belongs to
//! a ReplicaSet (so the default profile's replica spreading scores it).
//!
//! Scenarios:
//!
//! - **fit+selector+taints**: ten Deployments-like label sets; half the pods (drawn) carry
//!   `nodeSelector: disk=ssd`, a tenth tolerate the taint.
//! - **anti-affinity/spread**: four label sets drawn per pod: `cache` (10%) with required pod
//!   anti-affinity to `app=cache` on hostname; `web` (30%) with a topology spread constraint
//!   (maxSkew 1 on hostname, DoNotSchedule) tolerating the taint (with the default
//!   `nodeTaintsPolicy: Ignore`, tainted nodes count as domains, so a web pod that could not go
//!   there would pin the minimum at 0); `api` (30%) plain; `worker` (30%) with `disk=ssd`.
//!
//! The default (`spread`) profile with the adaptive share of nodes to score, as kube-scheduler.
//! Pod objects are converted to `PodInfo` before the clock starts (the scheduler loop does it
//! when a pod is queued); the time per pod is `schedule_one` plus `assume`. After each run the
//! placements are checked (no node over-committed, no two cache pods on one node, web skew ≤ 1),
//! so the numbers are for a core that did its job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Node, Pod};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tutti_scheduler::fixtures::{NodeBuilder, PodBuilder};
use tutti_scheduler::node_info::HOSTNAME_LABEL;
use tutti_scheduler::{PodInfo, Profile, Snapshot, schedule_one};

/// The seed when none is given; logged with the results either way.
const DEFAULT_SEED: u64 = 6;
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

struct Settings {
    quick: bool,
    json: Option<PathBuf>,
    seed: u64,
    nodes: Vec<usize>,
    pods: usize,
    percentage: u32,
    /// Plugins to leave out of the profile, to see what each costs: `Name` (filter and score),
    /// `filter:Name` or `score:Name`. Placements may then break what pods asked for; the checks
    /// after each run only warn.
    without: Vec<String>,
}

fn settings() -> Result<Settings> {
    let mut quick = false;
    let mut json = None;
    let mut seed = DEFAULT_SEED;
    let mut nodes = None;
    let mut pods = None;
    let mut percentage = 0;
    let mut without = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            "--seed" => seed = value("--seed")?.parse().context("--seed")?,
            "--pods" => pods = Some(value("--pods")?.parse().context("--pods")?),
            "--percentage" => {
                percentage = value("--percentage")?.parse().context("--percentage")?
            }
            "--without" => without.extend(value("--without")?.split(',').map(String::from)),
            "--nodes" => {
                let list = value("--nodes")?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .context("--nodes takes a comma-separated list of counts")?;
                nodes = Some(list);
            }
            other => bail!(
                "unknown argument {other:?} (expected --quick, --json <file>, --seed <n>, \
                 --nodes <n,n,...>, --pods <n>, --percentage <n>, --without <[filter:|score:]Plugin,...>)"
            ),
        }
    }
    Ok(Settings {
        quick,
        json,
        seed,
        nodes: nodes.unwrap_or_else(|| {
            if quick {
                vec![500, 5_000]
            } else {
                vec![500, 5_000, 15_000]
            }
        }),
        pods: pods.unwrap_or(if quick { 2_000 } else { 10_000 }),
        percentage,
        without,
    })
}

/// `n` nodes in name order; which carry `disk=ssd` and the taint is drawn from `rng`.
fn nodes(n: usize, rng: &mut StdRng) -> Vec<Node> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut ssd = vec![false; n];
    for &i in &order[..n / 2] {
        ssd[i] = true;
    }
    order.shuffle(rng);
    let mut tainted = vec![false; n];
    for &i in &order[..n / 10] {
        tainted[i] = true;
    }
    (0..n)
        .map(|i| {
            let name = format!("node-{i:05}");
            let mut b = NodeBuilder::new(&name)
                .cpu("4")
                .memory("16Gi")
                .pods(110)
                .label(HOSTNAME_LABEL, &name)
                .label(ZONE_LABEL, ZONES[i % ZONES.len()]);
            if ssd[i] {
                b = b.label("disk", "ssd");
            }
            if tainted[i] {
                b = b.taint("dedicated", "batch", "NoSchedule");
            }
            b.build()
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    FitSelectorTaints,
    AntiAffinitySpread,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::FitSelectorTaints => "fit+selector+taints",
            Scenario::AntiAffinitySpread => "anti-affinity/spread",
        }
    }
}

fn base_pod(i: usize, app: &str) -> PodBuilder {
    PodBuilder::new(&format!("{app}-{i:05}"))
        .label("app", app)
        .owner(&format!("rs-{app}"))
        .cpu("100m")
        .memory("128Mi")
}

fn pods(scenario: Scenario, n: usize, rng: &mut StdRng) -> Vec<Pod> {
    (0..n)
        .map(|i| match scenario {
            Scenario::FitSelectorTaints => {
                let app = format!("app-{}", rng.random_range(0..10));
                let mut b = base_pod(i, &app);
                if rng.random_bool(0.5) {
                    b = b.node_selector("disk", "ssd");
                }
                if rng.random_bool(0.1) {
                    b = b.toleration("dedicated", "Equal", "batch", "NoSchedule");
                }
                b.build()
            }
            Scenario::AntiAffinitySpread => match rng.random_range(0..10) {
                0 => base_pod(i, "cache")
                    .anti_affinity("app", "cache", HOSTNAME_LABEL)
                    .build(),
                1..=3 => base_pod(i, "web")
                    .spread(1, HOSTNAME_LABEL, "app", "web", true)
                    .toleration("dedicated", "Equal", "batch", "NoSchedule")
                    .build(),
                4..=6 => base_pod(i, "api").build(),
                _ => base_pod(i, "worker").node_selector("disk", "ssd").build(),
            },
        })
        .collect()
}

struct Row {
    scenario: Scenario,
    nodes: usize,
    pods: usize,
    placed: usize,
    unschedulable: usize,
    /// Pods per the reason that rejected the most nodes for them.
    reasons: BTreeMap<String, usize>,
    build: Duration,
    total: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Mean nodes filtered per placed pod.
    evaluated: f64,
    kinds: Vec<Kind>,
}

/// The pods of one kind in a run (scenario B: one label set; A: with or without a selector).
struct Kind {
    name: String,
    pods: usize,
    p50: Duration,
    p99: Duration,
    /// Their share of the run's placement time.
    share: f64,
}

fn kind(scenario: Scenario, pod: &PodInfo) -> String {
    match scenario {
        Scenario::FitSelectorTaints if pod.node_selector.is_empty() => "no selector".into(),
        Scenario::FitSelectorTaints => "disk=ssd".into(),
        Scenario::AntiAffinitySpread => pod.labels.get("app").cloned().unwrap_or_default(),
    }
}

impl Row {
    fn pods_per_second(&self) -> f64 {
        self.pods as f64 / self.total.as_secs_f64()
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn run(
    scenario: Scenario,
    nodes: &[Node],
    pods: &[Pod],
    profile: &Profile,
    seed: u64,
    ablated: bool,
) -> Result<Row> {
    let infos: Vec<Arc<PodInfo>> = pods
        .iter()
        .map(|p| PodInfo::from_pod(p).map(Arc::new))
        .collect::<Result<_, _>>()
        .context("a generated pod is invalid")?;
    let started = Instant::now();
    let mut snapshot = Snapshot::from_objects(nodes, &[]);
    let build = started.elapsed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut latencies = Vec::with_capacity(infos.len());
    let (mut placed, mut unschedulable, mut evaluated) = (0, 0, 0usize);
    let mut reasons = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let start = Instant::now();
    for info in infos {
        let kind = by_kind.entry(kind(scenario, &info)).or_default();
        let t = Instant::now();
        let decision = schedule_one(&info, &snapshot, profile, &mut rng);
        match decision {
            Ok(p) => {
                evaluated += p.evaluated;
                ensure!(
                    snapshot.assume(info, &p.node),
                    "placed on unknown node {}",
                    p.node
                );
                let took = t.elapsed();
                latencies.push(took);
                kind.push(took);
                placed += 1;
            }
            Err(e) => {
                let took = t.elapsed();
                latencies.push(took);
                kind.push(took);
                unschedulable += 1;
                let top = e.reasons.iter().max_by_key(|(_, n)| *n);
                let reason = top.map_or_else(|| e.summary.clone(), |(r, _)| r.clone());
                *reasons.entry(reason).or_insert(0) += 1;
            }
        }
    }
    let total = start.elapsed();
    match check(scenario, &snapshot) {
        Err(e) if ablated => println!("  warning (plugins left out): {e}"),
        checked => checked?,
    }
    latencies.sort_unstable();
    let spent: Duration = latencies.iter().sum();
    let kinds = by_kind
        .into_iter()
        .map(|(name, mut l)| {
            l.sort_unstable();
            let sum: Duration = l.iter().sum();
            Kind {
                name,
                pods: l.len(),
                p50: percentile(&l, 0.50),
                p99: percentile(&l, 0.99),
                share: sum.as_secs_f64() / spent.as_secs_f64().max(f64::MIN_POSITIVE),
            }
        })
        .collect();
    Ok(Row {
        scenario,
        nodes: nodes.len(),
        pods: pods.len(),
        placed,
        unschedulable,
        reasons,
        build,
        total,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        evaluated: evaluated as f64 / placed.max(1) as f64,
        kinds,
    })
}

/// The placements honour what the pods asked for.
fn check(scenario: Scenario, snapshot: &Snapshot) -> Result<()> {
    let mut web = Vec::with_capacity(snapshot.len());
    for node in snapshot.nodes() {
        ensure!(
            node.requested.milli_cpu <= node.allocatable.milli_cpu
                && node.requested.memory <= node.allocatable.memory
                && node.requested.pods <= node.allocatable.pods,
            "node {} is over-committed",
            node.name
        );
        let app = |name: &str| {
            node.pods
                .iter()
                .filter(|p| p.labels.get("app").is_some_and(|a| a == name))
                .count()
        };
        if scenario == Scenario::AntiAffinitySpread {
            ensure!(app("cache") <= 1, "two cache pods on node {}", node.name);
            web.push(app("web"));
        }
    }
    if let (Some(min), Some(max)) = (web.iter().min(), web.iter().max()) {
        ensure!(max - min <= 1, "web pods skewed {min}..{max} across nodes");
    }
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> Result<()> {
    let s = settings()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = loadavg();
    let mut profile = Profile::spread();
    profile.percentage_of_nodes_to_score = s.percentage;
    let dropped = |kind: &str, name: &str| {
        s.without
            .iter()
            .any(|w| w == name || *w == format!("{kind}:{name}"))
    };
    profile.filters.retain(|f| !dropped("filter", f.name()));
    profile.scores.retain(|(p, _)| !dropped("score", p.name()));
    if !s.without.is_empty() {
        println!("profile without {}: {profile:?}", s.without.join(","));
    }
    let share = match s.percentage {
        0 => "adaptive".to_string(),
        p => format!("{p}%"),
    };
    println!(
        "placement core: seed {}, {} pods per run, profile {} ({share} of nodes to score), \
         one thread; {cores} cores, load average {load_before}",
        s.seed, s.pods, profile.name
    );
    let mut rows = Vec::new();
    let scenarios = [Scenario::FitSelectorTaints, Scenario::AntiAffinitySpread];
    for (k, &scenario) in scenarios.iter().enumerate() {
        for (j, &n) in s.nodes.iter().enumerate() {
            // One stream per (scenario, node count): any row can be re-run alone with its seed.
            let seed = s.seed ^ ((k as u64) << 32 | j as u64);
            let mut rng = StdRng::seed_from_u64(seed);
            let nodes = nodes(n, &mut rng);
            let pods = pods(scenario, s.pods, &mut rng);
            let row = run(
                scenario,
                &nodes,
                &pods,
                &profile,
                rng.random(),
                !s.without.is_empty(),
            )?;
            println!(
                "  {} on {} nodes: {:.2} s, {} unschedulable {:?}",
                scenario.name(),
                n,
                row.total.as_secs_f64(),
                row.unschedulable,
                row.reasons
            );
            rows.push(row);
        }
    }
    let load_after = loadavg();
    println!();
    println!(
        "{:<21} {:>6} {:>6} {:>7} {:>7} {:>9} {:>8} {:>8} {:>9} {:>10} {:>9}",
        "scenario",
        "nodes",
        "pods",
        "placed",
        "unsched",
        "pods/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "nodes/pod",
        "build ms"
    );
    for r in &rows {
        println!(
            "{:<21} {:>6} {:>6} {:>7} {:>7} {:>9.0} {:>8.1} {:>8.1} {:>9.0} {:>10.0} {:>9.1}",
            r.scenario.name(),
            r.nodes,
            r.pods,
            r.placed,
            r.unschedulable,
            r.pods_per_second(),
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.max.as_secs_f64() * 1e6,
            r.evaluated,
            r.build.as_secs_f64() * 1e3,
        );
    }
    println!();
    println!(
        "{:<21} {:>6} {:<12} {:>6} {:>8} {:>8} {:>11}",
        "per kind of pod", "nodes", "kind", "pods", "p50 µs", "p99 µs", "time share"
    );
    for r in &rows {
        for k in &r.kinds {
            println!(
                "{:<21} {:>6} {:<12} {:>6} {:>8.1} {:>8.1} {:>10.0}%",
                r.scenario.name(),
                r.nodes,
                k.name,
                k.pods,
                k.p50.as_secs_f64() * 1e6,
                k.p99.as_secs_f64() * 1e6,
                k.share * 100.0
            );
        }
    }
    println!("(load average before {load_before}, after {load_after})");
    if let Some(path) = &s.json {
        let results: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "scenario": r.scenario.name(),
                    "nodes": r.nodes,
                    "pods": r.pods,
                    "placed": r.placed,
                    "unschedulable": r.unschedulable,
                    "unschedulable_reasons": r.reasons,
                    "seconds": r.total.as_secs_f64(),
                    "pods_per_s": r.pods_per_second(),
                    "p50_us": r.p50.as_secs_f64() * 1e6,
                    "p99_us": r.p99.as_secs_f64() * 1e6,
                    "max_us": r.max.as_secs_f64() * 1e6,
                    "nodes_evaluated_per_placed_pod": r.evaluated,
                    "snapshot_build_ms": r.build.as_secs_f64() * 1e3,
                    "kinds": r.kinds.iter().map(|k| json!({
                        "kind": k.name,
                        "pods": k.pods,
                        "p50_us": k.p50.as_secs_f64() * 1e6,
                        "p99_us": k.p99.as_secs_f64() * 1e6,
                        "time_share": k.share,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let report = json!({
            "benchmark": "scheduler placement core",
            "seed": s.seed,
            "quick": s.quick,
            "profile": profile.name,
            "percentage_of_nodes_to_score": s.percentage,
            "without_plugins": s.without,
            "threads": 1,
            "cores": cores,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
