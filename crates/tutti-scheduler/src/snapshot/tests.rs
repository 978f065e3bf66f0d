//! Snapshot bookkeeping: node order, orphans, assumed pods, and the indexes kept beside the
//! nodes, which must always equal a recount from scratch.

use super::*;
use crate::fixtures::{NodeBuilder, PodBuilder};

fn info(pod: &Pod) -> Arc<PodInfo> {
    Arc::new(PodInfo::from_pod(pod).unwrap())
}

#[test]
fn nodes_stay_in_name_order_whatever_the_arrival_order() {
    let mut s = Snapshot::new();
    for name in ["c", "a", "b"] {
        s.upsert_node(&NodeBuilder::new(name).build());
    }
    let names: Vec<&str> = s.nodes().iter().map(|n| &*n.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(s.remove_node("a"));
    assert_eq!(s.node("c").map(|n| &*n.name), Some("c"));
}

#[test]
fn pods_bound_before_their_node_appears_are_counted_when_it_does() {
    let mut s = Snapshot::new();
    s.upsert_pod(&PodBuilder::new("p").cpu("1").node_name("late").build());
    s.upsert_node(&NodeBuilder::new("late").cpu("4").build());
    assert_eq!(s.node("late").map(|n| n.requested.milli_cpu), Some(1000));
    s.remove_node("late");
    s.upsert_node(&NodeBuilder::new("late").cpu("4").build());
    assert_eq!(s.node("late").map(|n| n.requested.milli_cpu), Some(1000));
}

#[test]
fn anti_affinity_pods_follow_placements_and_nodes() {
    let mut s = Snapshot::new();
    for name in ["c", "a", "b"] {
        s.upsert_node(&NodeBuilder::new(name).build());
    }
    let anti = |name: &str, node: &str| {
        PodBuilder::new(name)
            .anti_affinity("app", "db", "kubernetes.io/hostname")
            .node_name(node)
            .build()
    };
    let listed = |s: &Snapshot| -> Vec<String> {
        s.anti_affinity_pods()
            .map(|(n, p)| format!("{}:{}", n.name, p.key))
            .collect()
    };
    assert!(listed(&s).is_empty());
    s.upsert_pod(&anti("x", "c"));
    s.upsert_pod(&anti("y", "a"));
    s.upsert_pod(&PodBuilder::new("plain").node_name("b").build());
    assert_eq!(listed(&s), ["a:default/y", "c:default/x"]);
    // A node that goes away hides its pods until it is back.
    s.remove_node("c");
    assert_eq!(listed(&s), ["a:default/y"]);
    s.upsert_node(&NodeBuilder::new("c").build());
    assert_eq!(listed(&s), ["a:default/y", "c:default/x"]);
    s.remove_pod("default/y");
    assert_eq!(listed(&s), ["c:default/x"]);
    // Assumed, then forgotten.
    assert!(s.assume(info(&anti("z", "b")), "b"));
    assert_eq!(listed(&s), ["b:default/z", "c:default/x"]);
    s.forget("default/z");
    assert_eq!(listed(&s), ["c:default/x"]);
}

#[test]
fn finished_and_deleted_pods_free_their_node() {
    let mut s = Snapshot::new();
    s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
    let pod = PodBuilder::new("p").cpu("1").node_name("n");
    assert_eq!(s.upsert_pod(&pod.clone().build()), PodChange::Placed);
    assert_eq!(s.upsert_pod(&pod.clone().build()), PodChange::Unchanged);
    assert_eq!(
        s.upsert_pod(&pod.phase("Succeeded").build()),
        PodChange::Freed
    );
    assert_eq!(s.node("n").map(|n| n.requested.pods), Some(0));
}

#[test]
fn an_assumed_pod_survives_a_stale_pending_event_until_forgotten() {
    let mut s = Snapshot::new();
    s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
    let pending = PodBuilder::new("p").cpu("1").build();
    assert!(s.assume(info(&pending), "n"));
    assert_eq!(s.upsert_pod(&pending), PodChange::Unchanged);
    assert_eq!(s.placed_node("default/p"), Some("n"));
    assert!(s.forget("default/p"));
    assert_eq!(s.node("n").map(|n| n.requested.milli_cpu), Some(0));
}

#[test]
fn a_confirmed_binding_is_not_forgotten() {
    let mut s = Snapshot::new();
    s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
    let pod = PodBuilder::new("p").cpu("1");
    s.assume(info(&pod.clone().build()), "n");
    s.upsert_pod(&pod.node_name("n").build());
    assert!(!s.forget("default/p"));
    assert_eq!(s.node("n").map(|n| n.requested.milli_cpu), Some(1000));
}

#[test]
fn image_counts_follow_node_updates() {
    let mut s = Snapshot::new();
    s.upsert_node(&NodeBuilder::new("a").image("nginx:1", 1).build());
    s.upsert_node(
        &NodeBuilder::new("b")
            .image("docker.io/library/nginx:1", 1)
            .build(),
    );
    assert_eq!(s.image_node_count("nginx:1"), 2);
    s.upsert_node(&NodeBuilder::new("b").build());
    assert_eq!(s.image_node_count("nginx:1"), 1);
    s.remove_node("a");
    assert_eq!(s.image_node_count("nginx:1"), 0);
}

#[test]
fn domain_counts_follow_pods_and_relabelled_nodes() {
    use domain_counts::{DomainKey, NodeEligibility, PodMatcher};
    let mut s = Snapshot::new();
    for (name, zone) in [("a", "z1"), ("b", "z1"), ("c", "z2")] {
        s.upsert_node(&NodeBuilder::new(name).label("zone", zone).build());
    }
    let spreading = PodBuilder::new("w")
        .label("app", "web")
        .spread(1, "zone", "app", "web", true)
        .build();
    let key = DomainKey {
        pods: PodMatcher::Spread {
            namespace: "default".into(),
            selector: info(&spreading).spread_constraints[0].selector.clone(),
        },
        topology_key: "zone".into(),
        nodes: NodeEligibility::default(),
    };
    let web = |name: &str, node: &str| {
        PodBuilder::new(name)
            .label("app", "web")
            .node_name(node)
            .build()
    };
    let counts = s.domain_counts(key.clone());
    assert_eq!((counts.domains(), counts.min()), (2, Some(0)));
    s.upsert_pod(&web("w1", "a"));
    s.upsert_pod(&web("w2", "b"));
    let counts = s.domain_counts(key.clone());
    assert_eq!((counts.pods_in("z1"), counts.pods_in("z2")), (2, 0));
    assert_eq!(counts.min(), Some(0));
    // c moves to z1: one domain is left, holding every pod.
    s.upsert_node(&NodeBuilder::new("c").label("zone", "z1").build());
    let counts = s.domain_counts(key.clone());
    assert_eq!((counts.domains(), counts.min()), (1, Some(2)));
    // b loses its zone: its pod no longer counts.
    s.upsert_node(&NodeBuilder::new("b").build());
    assert_eq!(s.domain_counts(key.clone()).pods_in("z1"), 1);
    s.remove_pod("default/w1");
    assert_eq!(s.domain_counts(key.clone()).min(), Some(0));
    s.remove_node("a");
    s.remove_node("c");
    let counts = s.domain_counts(key);
    assert_eq!((counts.domains(), counts.min()), (0, None));
    s.assert_indexes_match_recount();
}
