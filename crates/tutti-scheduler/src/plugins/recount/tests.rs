//! The plugins against the recounting versions on a snapshot that keeps changing: pods bound,
//! assumed, forgotten, terminating, finished and removed; nodes added, relabelled, tainted and
//! removed. After every change each probe pod must get the same verdict on every node (and the
//! same scores), and every count the snapshot keeps must equal a recount.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{RecountInterPodAffinity, RecountSpread};
use crate::fixtures::{NodeBuilder, PodBuilder};
use crate::node_info::HOSTNAME_LABEL;
use crate::plugins::testing::{filter, score};
use crate::plugins::{InterPodAffinity, PodTopologySpread};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

const APPS: [&str; 3] = ["web", "cache", "db"];
const NAMESPACES: [&str; 2] = ["default", "other"];

/// A node drawn from a small set of names, with or without a zone, `disk=ssd`, a taint or
/// readiness.
fn random_node(rng: &mut StdRng) -> Node {
    let name = format!("n{}", rng.random_range(0..10));
    let mut b = NodeBuilder::new(&name);
    if rng.random_bool(0.85) {
        b = b.label("zone", ["z1", "z2", "z3"][rng.random_range(0..3)]);
    }
    if rng.random_bool(0.5) {
        b = b.label("disk", "ssd");
    }
    if rng.random_bool(0.2) {
        b = b.label(HOSTNAME_LABEL, &format!("host-{}", rng.random_range(0..4)));
    }
    if rng.random_bool(0.2) {
        b = b.taint("dedicated", "batch", "NoSchedule");
    }
    if rng.random_bool(0.1) {
        b = b.ready("False");
    }
    b.build()
}

/// A pod drawn from a small set of names, with rules of its own now and then (they matter to
/// the anti-affinity index and to matching).
fn random_pod(rng: &mut StdRng) -> PodBuilder {
    let name = format!("p{}", rng.random_range(0..40));
    let app = APPS[rng.random_range(0..APPS.len())];
    let mut b = PodBuilder::new(&name)
        .namespace(NAMESPACES[usize::from(rng.random_bool(0.2))])
        .label("app", app);
    match rng.random_range(0..6) {
        0 => b = b.anti_affinity("app", app, HOSTNAME_LABEL),
        1 => b = b.anti_affinity("app", "web", "zone"),
        2 => {
            b = b
                .anti_affinity("app", "cache", HOSTNAME_LABEL)
                .anti_affinity("app", "db", "zone")
        }
        _ => {}
    }
    b
}

fn terminating(mut pod: Pod) -> Pod {
    pod.metadata.deletion_timestamp = Some(Time(Default::default()));
    pod
}

/// Changes the snapshot one way or another.
fn churn(s: &mut Snapshot, rng: &mut StdRng) {
    match rng.random_range(0..20) {
        0..=1 => {
            s.upsert_node(&random_node(rng));
        }
        2 => {
            s.remove_node(&format!("n{}", rng.random_range(0..10)));
        }
        3..=8 => {
            // Bound, sometimes to a node the snapshot does not know (yet).
            let target = format!("n{}", rng.random_range(0..12));
            s.upsert_pod(&random_pod(rng).node_name(&target).build());
        }
        9..=12 => {
            let pod = random_pod(rng).build();
            let info = Arc::new(PodInfo::from_pod(&pod).unwrap());
            let target = format!("n{}", rng.random_range(0..10));
            s.assume(info, &target);
        }
        13 => {
            let target = format!("n{}", rng.random_range(0..12));
            s.upsert_pod(&terminating(random_pod(rng).node_name(&target).build()));
        }
        14 => {
            let target = format!("n{}", rng.random_range(0..12));
            s.upsert_pod(
                &random_pod(rng)
                    .node_name(&target)
                    .phase("Succeeded")
                    .build(),
            );
        }
        15 => {
            s.forget(&format!("default/p{}", rng.random_range(0..40)));
        }
        _ => {
            let keys = s.pod_keys();
            if !keys.is_empty() {
                let key = keys[rng.random_range(0..keys.len())].clone();
                s.remove_pod(&key);
            }
        }
    }
}

/// Pods with every kind of rule the two plugins read.
fn probes() -> Vec<Pod> {
    let mut probes = vec![
        // Hard spread on a zone, counting only nodes the pod's selector accepts.
        PodBuilder::new("spread-zone")
            .label("app", "web")
            .node_selector("disk", "ssd")
            .spread(1, "zone", "app", "web", true)
            .build(),
        // Two hard constraints: nodes must carry both keys to count.
        PodBuilder::new("spread-two")
            .label("app", "web")
            .spread(1, "zone", "app", "web", true)
            .spread(2, HOSTNAME_LABEL, "app", "web", true)
            .build(),
        // Soft spread (a score), in another namespace.
        PodBuilder::new("spread-soft")
            .namespace("other")
            .label("app", "db")
            .spread(1, "zone", "app", "db", false)
            .build(),
        // Spread over pods it does not match itself.
        PodBuilder::new("spread-cache")
            .label("app", "web")
            .spread(1, HOSTNAME_LABEL, "app", "cache", true)
            .build(),
        PodBuilder::new("anti-host")
            .label("app", "cache")
            .anti_affinity("app", "cache", HOSTNAME_LABEL)
            .build(),
        PodBuilder::new("anti-zone")
            .label("app", "db")
            .anti_affinity("app", "db", "zone")
            .build(),
        // No rules of its own: only placed pods' anti-affinity applies.
        PodBuilder::new("plain-web").label("app", "web").build(),
        PodBuilder::new("plain-db").label("app", "db").build(),
    ];
    // minDomains and nodeTaintsPolicy: Honor.
    let mut min_domains = PodBuilder::new("spread-min-domains")
        .label("app", "web")
        .spread(1, "zone", "app", "web", true)
        .build();
    if let Some(c) = min_domains
        .spec
        .as_mut()
        .and_then(|s| s.topology_spread_constraints.as_mut())
        .and_then(|c| c.first_mut())
    {
        c.min_domains = Some(3);
        c.node_taints_policy = Some("Honor".into());
        c.node_affinity_policy = Some("Ignore".into());
    }
    probes.push(min_domains);
    // Required affinity to caches in the zone, with and without matching itself.
    for (name, app) in [("affinity-cache", "cache"), ("affinity-web", "web")] {
        let mut pod = PodBuilder::new(name).label("app", app).build();
        let term = |key: &str| k8s_openapi::api::core::v1::PodAffinityTerm {
            label_selector: Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some([("app".to_string(), "cache".to_string())].into()),
                    match_expressions: None,
                },
            ),
            topology_key: key.into(),
            ..Default::default()
        };
        if let Some(spec) = pod.spec.as_mut() {
            spec.affinity = Some(k8s_openapi::api::core::v1::Affinity {
                pod_affinity: Some(k8s_openapi::api::core::v1::PodAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![
                        term("zone"),
                        term(HOSTNAME_LABEL),
                    ]),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        probes.push(pod);
    }
    probes
}

fn compare(s: &Snapshot, probes: &[Pod], seed: u64, step: usize) {
    for probe in probes {
        let name = probe.metadata.name.as_deref().unwrap_or_default();
        for default_spread in [false, true] {
            assert_eq!(
                filter(&PodTopologySpread { default_spread }, probe, s),
                filter(&RecountSpread { default_spread }, probe, s),
                "spread filter for {name}, seed {seed}, step {step}"
            );
            assert_eq!(
                score(&PodTopologySpread { default_spread }, probe, s),
                score(&RecountSpread { default_spread }, probe, s),
                "spread score for {name}, seed {seed}, step {step}"
            );
        }
        assert_eq!(
            filter(&InterPodAffinity, probe, s),
            filter(&RecountInterPodAffinity, probe, s),
            "inter-pod affinity for {name}, seed {seed}, step {step}"
        );
    }
    s.assert_indexes_match_recount();
}

#[test]
fn kept_counts_give_the_verdicts_of_a_recount_through_any_churn() {
    let probes = probes();
    for seed in 0..40 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut s = Snapshot::new();
        for _ in 0..6 {
            s.upsert_node(&random_node(&mut rng));
        }
        for step in 0..150 {
            churn(&mut s, &mut rng);
            compare(&s, &probes, seed, step);
        }
    }
}

#[test]
fn a_cloned_snapshot_recounts_on_its_own() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut s = Snapshot::new();
    for _ in 0..6 {
        s.upsert_node(&random_node(&mut rng));
    }
    let probes = probes();
    for step in 0..50 {
        churn(&mut s, &mut rng);
        compare(&s, &probes, 7, step);
    }
    let mut copy = s.clone();
    for step in 50..100 {
        churn(&mut copy, &mut rng);
        compare(&copy, &probes, 7, step);
        compare(&s, &probes, 7, step);
    }
}
