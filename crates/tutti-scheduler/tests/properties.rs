//! Properties of the placement core over random clusters and pod sequences: it never
//! over-commits a node, never places a pod on a node a filter rejects, and is deterministic for
//! a seed.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tutti_scheduler::fixtures::{NodeBuilder, PodBuilder};
use tutti_scheduler::{PodInfo, Profile, Snapshot, Status, schedule_one};

#[derive(Clone, Debug)]
struct NodeSpec {
    milli_cpu: u32,
    memory_mi: u32,
    pods: u32,
    zone: u8,
    tainted: bool,
    cordoned: bool,
    ready: bool,
}

#[derive(Clone, Debug)]
struct PodSpec {
    milli_cpu: u32,
    memory_mi: u32,
    zone: Option<u8>,
    tolerates: bool,
    host_port: Option<i32>,
    app: u8,
    anti_affinity: bool,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        0u32..8000,
        0u32..8192,
        0u32..8,
        0u8..3,
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(milli_cpu, memory_mi, pods, zone, tainted, cordoned, ready)| NodeSpec {
                milli_cpu,
                memory_mi,
                pods,
                zone,
                tainted,
                cordoned,
                ready,
            },
        )
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        prop_oneof![Just(0u32), 1u32..3000],
        prop_oneof![Just(0u32), 1u32..4096],
        prop::option::weighted(0.3, 0u8..3),
        any::<bool>(),
        prop::option::weighted(0.2, prop_oneof![Just(80), Just(443)]),
        0u8..3,
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(milli_cpu, memory_mi, zone, tolerates, host_port, app, anti_affinity)| PodSpec {
                milli_cpu,
                memory_mi,
                zone,
                tolerates,
                host_port,
                app,
                anti_affinity,
            },
        )
}

fn build_node(i: usize, n: &NodeSpec) -> Node {
    let mut b = NodeBuilder::new(&format!("node-{i:02}"))
        .cpu(&format!("{}m", n.milli_cpu))
        .memory(&format!("{}Mi", n.memory_mi))
        .pods(n.pods)
        .label("zone", &format!("z{}", n.zone))
        .ready(if n.ready { "True" } else { "False" });
    if n.tainted {
        b = b.taint("dedicated", "batch", "NoSchedule");
    }
    if n.cordoned {
        b = b.unschedulable();
    }
    b.build()
}

fn build_pod(i: usize, p: &PodSpec) -> Pod {
    let app = format!("app-{}", p.app);
    let mut b = PodBuilder::new(&format!("pod-{i:03}")).label("app", &app);
    if p.milli_cpu > 0 {
        b = b.cpu(&format!("{}m", p.milli_cpu));
    }
    if p.memory_mi > 0 {
        b = b.memory(&format!("{}Mi", p.memory_mi));
    }
    if let Some(z) = p.zone {
        b = b.node_selector("zone", &format!("z{z}"));
    }
    if p.tolerates {
        b = b.toleration("dedicated", "Equal", "batch", "NoSchedule");
    }
    if let Some(port) = p.host_port {
        b = b.host_port(port);
    }
    if p.anti_affinity {
        b = b.anti_affinity("app", &app, "kubernetes.io/hostname");
    }
    b.build()
}

/// Places the pods one after another, assuming each placement; returns the node per pod.
fn place_all(
    snapshot: &mut Snapshot,
    pods: &[Pod],
    profile: &Profile,
    seed: u64,
) -> Vec<Option<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    pods.iter()
        .map(|pod| {
            let info = Arc::new(PodInfo::from_pod(pod).unwrap());
            let placement = schedule_one(&info, snapshot, profile, &mut rng).ok()?;
            assert!(snapshot.assume(info, &placement.node));
            Some(placement.node.to_string())
        })
        .collect()
}

fn profiles() -> impl Strategy<Value = bool> {
    any::<bool>()
}

fn profile(binpack: bool) -> Profile {
    if binpack {
        Profile::binpack()
    } else {
        Profile::spread()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn never_overcommits_a_node(
        nodes in prop::collection::vec(node_spec(), 1..12),
        pods in prop::collection::vec(pod_spec(), 1..60),
        binpack in profiles(),
        seed in any::<u64>(),
    ) {
        let nodes: Vec<Node> = nodes.iter().enumerate().map(|(i, n)| build_node(i, n)).collect();
        let pods: Vec<Pod> = pods.iter().enumerate().map(|(i, p)| build_pod(i, p)).collect();
        let mut snapshot = Snapshot::from_objects(&nodes, &[]);
        place_all(&mut snapshot, &pods, &profile(binpack), seed);
        for node in snapshot.nodes() {
            prop_assert!(node.requested.milli_cpu <= node.allocatable.milli_cpu, "cpu over-committed on {}", node.name);
            prop_assert!(node.requested.memory <= node.allocatable.memory, "memory over-committed on {}", node.name);
            prop_assert!(node.requested.pods <= node.allocatable.pods, "pods over-committed on {}", node.name);
        }
    }

    #[test]
    fn never_places_on_a_node_a_filter_rejects(
        nodes in prop::collection::vec(node_spec(), 1..12),
        pods in prop::collection::vec(pod_spec(), 1..40),
        seed in any::<u64>(),
    ) {
        let nodes: Vec<Node> = nodes.iter().enumerate().map(|(i, n)| build_node(i, n)).collect();
        let mut snapshot = Snapshot::from_objects(&nodes, &[]);
        let profile = Profile::spread();
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, spec) in pods.iter().enumerate() {
            let info = Arc::new(PodInfo::from_pod(&build_pod(i, spec)).unwrap());
            let verdicts: Vec<(String, bool)> = snapshot
                .nodes()
                .iter()
                .map(|n| {
                    let fits = profile.filters.iter().all(|f| f.filter(&info, n, &snapshot) == Status::Fit);
                    (n.name.to_string(), fits)
                })
                .collect();
            match schedule_one(&info, &snapshot, &profile, &mut rng) {
                Ok(placement) => {
                    let fits = verdicts.iter().find(|(n, _)| **n == *placement.node).map(|(_, f)| *f);
                    prop_assert_eq!(fits, Some(true), "placed on a rejected node {}", placement.node);
                    snapshot.assume(info, &placement.node);
                }
                Err(e) => {
                    prop_assert!(verdicts.iter().all(|(_, f)| !f), "unschedulable although a node fits: {}", e.summary);
                    let prefix = format!("0/{} nodes are available: ", nodes.len());
                    prop_assert!(e.summary.starts_with(&prefix), "summary {:?}", e.summary);
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_placements(
        nodes in prop::collection::vec(node_spec(), 1..12),
        pods in prop::collection::vec(pod_spec(), 1..40),
        binpack in profiles(),
        seed in any::<u64>(),
    ) {
        let nodes: Vec<Node> = nodes.iter().enumerate().map(|(i, n)| build_node(i, n)).collect();
        let pods: Vec<Pod> = pods.iter().enumerate().map(|(i, p)| build_pod(i, p)).collect();
        let first = place_all(&mut Snapshot::from_objects(&nodes, &[]), &pods, &profile(binpack), seed);
        // Nodes arriving in another order make the same snapshot.
        let reversed: Vec<Node> = nodes.iter().rev().cloned().collect();
        let second = place_all(&mut Snapshot::from_objects(&reversed, &[]), &pods, &profile(binpack), seed);
        prop_assert_eq!(first, second);
    }
}

#[test]
fn large_random_clusters_are_sampled_but_never_overcommitted() {
    // 300 nodes: filtering stops early (feasible_nodes_to_find), from a random start.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(8));
    let strategy = (
        prop::collection::vec(node_spec(), 300),
        prop::collection::vec(pod_spec(), 200),
        any::<u64>(),
    );
    let result = runner.run(&strategy, |(nodes, pods, seed)| {
        let nodes: Vec<Node> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| build_node(i, n))
            .collect();
        let pods: Vec<Pod> = pods
            .iter()
            .enumerate()
            .map(|(i, p)| build_pod(i, p))
            .collect();
        let mut snapshot = Snapshot::from_objects(&nodes, &[]);
        place_all(&mut snapshot, &pods, &Profile::spread(), seed);
        for node in snapshot.nodes() {
            prop_assert!(node.requested.milli_cpu <= node.allocatable.milli_cpu);
            prop_assert!(node.requested.memory <= node.allocatable.memory);
            prop_assert!(node.requested.pods <= node.allocatable.pods);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
