//! Placement throughput of the pure core: 10,000 pods on a synthetic 5,000-node snapshot
//! (resource fit, nodeSelector, taints), one core, each decision followed by `assume`.
//!
//! `cargo run --release -p tutti-scheduler --example sched_bench [-- NODES PODS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tutti_scheduler::fixtures::{NodeBuilder, PodBuilder};
use tutti_scheduler::{PodInfo, Profile, Snapshot, schedule_one};

const SEED: u64 = 42;

fn nodes(n: usize, rng: &mut StdRng) -> Vec<Node> {
    (0..n)
        .map(|i| {
            let mut b = NodeBuilder::new(&format!("node-{i:05}"))
                .cpu("16")
                .memory("64Gi")
                .pods(110)
                .label("topology.kubernetes.io/zone", &format!("zone-{}", i % 10))
                .label("disk", if rng.random_bool(0.5) { "ssd" } else { "hdd" })
                .image("docker.io/library/nginx:1.27", 70 << 20);
            if rng.random_bool(0.1) {
                b = b.taint("dedicated", "batch", "NoSchedule");
            }
            b.build()
        })
        .collect()
}

fn pods(n: usize, rng: &mut StdRng) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let mut b = PodBuilder::new(&format!("pod-{i:05}"))
                .cpu(&format!("{}m", rng.random_range(100..1000)))
                .memory(&format!("{}Mi", rng.random_range(128..2048)))
                .owner(&format!("rs-{}", i % 100))
                .image("nginx:1.27");
            if rng.random_bool(0.3) {
                b = b.node_selector("disk", "ssd");
            }
            if rng.random_bool(0.1) {
                b = b.toleration("dedicated", "Equal", "batch", "NoSchedule");
            }
            b.build()
        })
        .collect()
}

struct Row {
    profile: &'static str,
    percentage: u32,
    placed: usize,
    unschedulable: usize,
    total: Duration,
    p50: Duration,
    p99: Duration,
}

fn run(nodes: &[Node], pods: &[Pod], mut profile: Profile, percentage: u32) -> Row {
    profile.percentage_of_nodes_to_score = percentage;
    let mut snapshot = Snapshot::from_objects(nodes, &[]);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut latencies = Vec::with_capacity(pods.len());
    let (mut placed, mut unschedulable) = (0, 0);
    let start = Instant::now();
    for pod in pods {
        let t = Instant::now();
        let Ok(info) = PodInfo::from_pod(pod) else {
            unschedulable += 1;
            continue;
        };
        let info = Arc::new(info);
        match schedule_one(&info, &snapshot, &profile, &mut rng) {
            Ok(p) => {
                snapshot.assume(info, &p.node);
                placed += 1;
            }
            Err(_) => unschedulable += 1,
        }
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Row {
        profile: profile.name,
        percentage,
        placed,
        unschedulable,
        total,
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let node_count = args.next().and_then(Result::ok).unwrap_or(5_000);
    let pod_count = args.next().and_then(Result::ok).unwrap_or(10_000);
    let mut rng = StdRng::seed_from_u64(SEED);
    let nodes = nodes(node_count, &mut rng);
    let pods = pods(pod_count, &mut rng);
    println!("{node_count} nodes, {pod_count} pods, seed {SEED}, one thread\n");
    println!(
        "{:<8} {:>11} {:>7} {:>7} {:>9} {:>13} {:>9} {:>9}",
        "profile", "nodes/pod", "placed", "unsched", "total s", "placements/s", "p50 µs", "p99 µs"
    );
    let cases: [(fn() -> Profile, u32); 3] = [
        (Profile::spread, 0),
        (Profile::spread, 100),
        (Profile::binpack, 0),
    ];
    for (profile, pct) in cases {
        let r = run(&nodes, &pods, profile(), pct);
        let share = if r.percentage == 0 {
            "adaptive".to_string()
        } else {
            format!("{}%", r.percentage)
        };
        println!(
            "{:<8} {:>11} {:>7} {:>7} {:>9.2} {:>13.0} {:>9.1} {:>9.1}",
            r.profile,
            share,
            r.placed,
            r.unschedulable,
            r.total.as_secs_f64(),
            r.placed as f64 / r.total.as_secs_f64(),
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
        );
    }
}
