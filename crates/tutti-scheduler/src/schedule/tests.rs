//! Tests of single placement decisions.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::fixtures::{NodeBuilder, PodBuilder};

fn place(
    pod: &k8s_openapi::api::core::v1::Pod,
    snapshot: &Snapshot,
    profile: &Profile,
) -> Result<Placement, Unschedulable> {
    let info = PodInfo::from_pod(pod).unwrap();
    schedule_one(&info, snapshot, profile, &mut StdRng::seed_from_u64(7))
}

#[test]
fn summary_counts_reasons_in_kube_schedulers_words() {
    let nodes = [
        NodeBuilder::new("small-1")
            .cpu("4")
            .memory("1Gi")
            .label("disk", "ssd")
            .build(),
        NodeBuilder::new("small-2")
            .cpu("4")
            .memory("1Gi")
            .label("disk", "ssd")
            .build(),
        NodeBuilder::new("big-hdd")
            .cpu("4")
            .memory("64Gi")
            .label("disk", "hdd")
            .build(),
    ];
    let s = Snapshot::from_objects(&nodes, &[]);
    let pod = PodBuilder::new("db")
        .memory("8Gi")
        .node_selector("disk", "ssd")
        .build();
    let err = place(&pod, &s, &Profile::spread()).unwrap_err();
    assert_eq!(
        err.summary,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
    );
    assert_eq!(
        err.reasons,
        vec![
            ("Insufficient memory".to_string(), 2),
            (
                "node(s) didn't match Pod's node affinity/selector".to_string(),
                1
            )
        ]
    );
}

#[test]
fn a_pod_requesting_more_than_any_node_has_explains_itself() {
    let nodes: Vec<_> = (1..=3)
        .map(|i| {
            NodeBuilder::new(&format!("n{i}"))
                .cpu("4")
                .memory("8Gi")
                .build()
        })
        .collect();
    let s = Snapshot::from_objects(&nodes, &[]);
    let err = place(
        &PodBuilder::new("huge").cpu("100").build(),
        &s,
        &Profile::spread(),
    )
    .unwrap_err();
    assert_eq!(err.summary, "0/3 nodes are available: 3 Insufficient cpu.");
}

#[test]
fn not_ready_and_cordoned_nodes_are_named_in_the_summary() {
    let nodes = [
        NodeBuilder::new("down").ready("False").build(),
        NodeBuilder::new("gone").ready("Unknown").build(),
        NodeBuilder::new("cordoned").unschedulable().build(),
    ];
    let s = Snapshot::from_objects(&nodes, &[]);
    let err = place(&PodBuilder::new("p").build(), &s, &Profile::spread()).unwrap_err();
    assert_eq!(
        err.summary,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, \
         1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable."
    );
}

#[test]
fn no_nodes_at_all() {
    let err = place(
        &PodBuilder::new("p").build(),
        &Snapshot::new(),
        &Profile::spread(),
    )
    .unwrap_err();
    assert_eq!(err.summary, "no nodes available to schedule pods");
}

#[test]
fn spread_prefers_the_emptier_node_and_binpack_the_fuller() {
    let nodes = [
        NodeBuilder::new("a").cpu("8").memory("16Gi").build(),
        NodeBuilder::new("b").cpu("8").memory("16Gi").build(),
    ];
    let busy = PodBuilder::new("busy")
        .cpu("4")
        .memory("8Gi")
        .node_name("a")
        .build();
    let s = Snapshot::from_objects(&nodes, &[busy]);
    let pod = PodBuilder::new("p").cpu("1").memory("1Gi").build();
    assert_eq!(&*place(&pod, &s, &Profile::spread()).unwrap().node, "b");
    assert_eq!(&*place(&pod, &s, &Profile::binpack()).unwrap().node, "a");
}

#[test]
fn the_only_feasible_node_is_taken() {
    let nodes = [
        NodeBuilder::new("a")
            .cpu("8")
            .taint("dedicated", "gpu", "NoSchedule")
            .build(),
        NodeBuilder::new("b").cpu("1").build(),
    ];
    let s = Snapshot::from_objects(&nodes, &[]);
    let placement = place(
        &PodBuilder::new("p").cpu("500m").build(),
        &s,
        &Profile::spread(),
    )
    .unwrap();
    assert_eq!((&*placement.node, placement.feasible), ("b", 1));
}

#[test]
fn ties_are_broken_by_the_seed_and_reproducibly() {
    let nodes: Vec<_> = (0..10)
        .map(|i| {
            NodeBuilder::new(&format!("n{i}"))
                .cpu("4")
                .memory("4Gi")
                .build()
        })
        .collect();
    let s = Snapshot::from_objects(&nodes, &[]);
    let pod = PodInfo::from_pod(&PodBuilder::new("p").build()).unwrap();
    let pick = |seed| {
        schedule_one(
            &pod,
            &s,
            &Profile::spread(),
            &mut StdRng::seed_from_u64(seed),
        )
        .unwrap()
        .node
    };
    assert_eq!(pick(1), pick(1));
    let distinct: std::collections::BTreeSet<_> = (0..50).map(pick).collect();
    assert!(
        distinct.len() > 3,
        "equal nodes should all get a chance, got {distinct:?}"
    );
}

#[test]
fn large_clusters_stop_filtering_after_enough_feasible_nodes() {
    assert_eq!(feasible_nodes_to_find(50, 0), 50);
    assert_eq!(feasible_nodes_to_find(5000, 0), 500);
    assert_eq!(feasible_nodes_to_find(1000, 0), 420);
    assert_eq!(feasible_nodes_to_find(200, 10), 100);
    assert_eq!(feasible_nodes_to_find(5000, 100), 5000);
    let nodes: Vec<_> = (0..400)
        .map(|i| NodeBuilder::new(&format!("n{i:03}")).cpu("4").build())
        .collect();
    let s = Snapshot::from_objects(&nodes, &[]);
    let placement = place(
        &PodBuilder::new("p").cpu("1").build(),
        &s,
        &Profile::spread(),
    )
    .unwrap();
    assert_eq!(placement.feasible, feasible_nodes_to_find(400, 0));
}

#[test]
fn daemonset_pods_reach_their_pinned_node_even_when_it_is_not_ready() {
    let nodes = [
        NodeBuilder::new("a").build(),
        NodeBuilder::new("b").ready("False").build(),
    ];
    let s = Snapshot::from_objects(&nodes, &[]);
    let pod = PodBuilder::new("agent-b")
        .pin_to_node("b")
        .toleration("node.kubernetes.io/not-ready", "Exists", "", "NoExecute")
        .build();
    assert_eq!(&*place(&pod, &s, &Profile::spread()).unwrap().node, "b");
}
