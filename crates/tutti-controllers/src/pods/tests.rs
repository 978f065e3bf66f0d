//! Unit tests of the pure pod helpers: availability, claiming, deletion order.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tutti_core::labels::Selector;

use super::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A pod named `name`, created at `created` seconds, on `node` ("" = unassigned).
fn pod(name: &str, created: i64, node: &str, phase: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(at(created))),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: (!node.is_empty()).then(|| node.to_string()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

fn ready(mut p: Pod, since: i64) -> Pod {
    let status = p.status.get_or_insert_with(Default::default);
    status.conditions = Some(vec![PodCondition {
        type_: "Ready".into(),
        status: "True".into(),
        last_transition_time: Some(Time(at(since))),
        ..Default::default()
    }]);
    p
}

fn restarts(mut p: Pod, n: i32) -> Pod {
    let status = p.status.get_or_insert_with(Default::default);
    status.container_statuses = Some(vec![ContainerStatus {
        name: "c".into(),
        restart_count: n,
        ..Default::default()
    }]);
    p
}

fn order(pods: &[Pod], now: i64) -> Vec<String> {
    let refs: Vec<&Pod> = pods.iter().collect();
    deletion_order(&refs, &refs, at(now))
        .into_iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect()
}

#[test]
fn unassigned_then_pending_then_not_ready_go_first() {
    let pods = vec![
        ready(pod("running-ready", 0, "n1", "Running"), 10),
        pod("running", 0, "n2", "Running"),
        pod("unknown", 0, "n3", "Unknown"),
        pod("pending", 0, "n4", "Pending"),
        pod("unassigned", 0, "", "Pending"),
    ];
    assert_eq!(
        order(&pods, 100),
        [
            "unassigned",
            "pending",
            "unknown",
            "running",
            "running-ready"
        ]
    );
}

#[test]
fn deletion_cost_then_doubled_up_nodes_go_first() {
    let mut cheap = ready(pod("cheap", 0, "n1", "Running"), 10);
    cheap.metadata.annotations = Some(BTreeMap::from([(
        POD_DELETION_COST.to_string(),
        "-5".to_string(),
    )]));
    let pods = vec![
        ready(pod("alone", 0, "n2", "Running"), 10),
        ready(pod("doubled-a", 0, "n3", "Running"), 10),
        ready(pod("doubled-b", 0, "n3", "Running"), 10),
        cheap,
    ];
    let got = order(&pods, 100);
    assert_eq!(got[0], "cheap");
    assert_eq!(got[3], "alone", "{got:?}");
}

#[test]
fn recently_ready_more_restarts_and_newer_go_first() {
    let now = 1_000_000;
    // Ready 10 s ago vs ready 100000 s ago: different age buckets.
    let pods = vec![
        ready(pod("old-ready", 0, "n1", "Running"), 0),
        ready(pod("new-ready", 0, "n2", "Running"), now - 10),
    ];
    assert_eq!(order(&pods, now), ["new-ready", "old-ready"]);

    let pods = vec![
        restarts(pod("calm", 0, "n1", "Running"), 0),
        restarts(pod("crashy", 0, "n2", "Running"), 7),
    ];
    assert_eq!(order(&pods, now), ["crashy", "calm"]);

    let pods = vec![
        pod("older", 0, "n1", "Pending"),
        pod("newer", now - 5, "n2", "Pending"),
    ];
    assert_eq!(order(&pods, now), ["newer", "older"]);
}

#[test]
fn availability_waits_for_min_ready_seconds() {
    let p = ready(pod("p", 0, "n1", "Running"), 100);
    assert!(is_available(&p, 0, at(100)));
    assert!(!is_available(&p, 10, at(105)));
    assert!(
        !is_available(&p, 10, at(110)),
        "strictly after, as Kubernetes"
    );
    assert!(is_available(&p, 10, at(111)));
    assert_eq!(
        until_available(&p, 10, at(104)),
        Some(SignedDuration::from_secs(6))
    );
    assert!(!is_available(&pod("q", 0, "n1", "Running"), 0, at(1)));
}

#[test]
fn terminating_and_finished_pods_are_not_active() {
    let mut p = pod("p", 0, "n1", "Running");
    assert!(is_active(&p));
    p.metadata.deletion_timestamp = Some(Time(at(5)));
    assert!(!is_active(&p));
    assert!(!is_active(&pod("f", 0, "n1", "Failed")));
    assert!(!is_active(&pod("s", 0, "n1", "Succeeded")));
}

#[test]
fn claiming_adopts_orphans_and_releases_strays() {
    let selector = Selector::parse("app=web").unwrap();
    let labels = |v: &str| Some(BTreeMap::from([("app".to_string(), v.to_string())]));
    let owned_by = |uid: &str| {
        Some(vec![OwnerReference {
            uid: uid.into(),
            controller: Some(true),
            ..Default::default()
        }])
    };
    let meta = |l: &str, owner: Option<&str>| ObjectMeta {
        labels: labels(l),
        owner_references: owner.and_then(owned_by),
        ..Default::default()
    };
    assert_eq!(
        claim("me", false, &selector, &meta("web", Some("me"))),
        Claim::Owned
    );
    assert_eq!(
        claim("me", false, &selector, &meta("web", None)),
        Claim::Adopt
    );
    assert_eq!(
        claim("me", false, &selector, &meta("db", Some("me"))),
        Claim::Release
    );
    assert_eq!(
        claim("me", false, &selector, &meta("web", Some("you"))),
        Claim::Ignore
    );
    assert_eq!(
        claim("me", false, &selector, &meta("db", None)),
        Claim::Ignore
    );
    assert_eq!(
        claim("me", true, &selector, &meta("web", None)),
        Claim::Ignore
    );
    assert_eq!(
        claim("me", true, &selector, &meta("db", Some("me"))),
        Claim::Ignore
    );
    let mut going = meta("web", None);
    going.deletion_timestamp = Some(Time(at(0)));
    assert_eq!(claim("me", false, &selector, &going), Claim::Ignore);
}

#[test]
fn pods_from_templates_carry_labels_and_the_controller_reference() {
    let template = k8s_openapi::api::core::v1::PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec::default()),
    };
    let owner = OwnerReference {
        name: "web-abc".into(),
        uid: "u".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
        ..Default::default()
    };
    let p = pod_from_template(&template, owner, "ns");
    assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
    assert_eq!(p.metadata.labels, template.metadata.and_then(|m| m.labels));
    assert_eq!(
        controller_of(&p.metadata).map(|r| r.uid.as_str()),
        Some("u")
    );
}

#[test]
fn deletion_order_is_a_total_order_over_mixed_pods() {
    // Ready times and creation times that differ but share an age bucket, equal ones,
    // restarts and nodes in every combination: sorting 500 such pods once panicked with
    // "comparison function does not correctly implement a total order".
    let mut pods = Vec::new();
    for i in 0..60i64 {
        let node = format!("n{}", i % 7);
        let mut p = pod(&format!("p{i}"), 100 + (i % 5), &node, "Running");
        if i % 4 != 0 {
            p = ready(p, 200 + (i % 3));
        }
        p = restarts(p, (i % 3) as i32);
        pods.push(p);
    }
    let refs: Vec<&Pod> = pods.iter().collect();
    let now = at(1000);
    let rank = |p: &Pod| (p.node().len() + (p.restarts() as usize)) % 4;
    let cmp = |a: &Pod, b: &Pod| compare_for_deletion(a, rank(a), b, rank(b), now);
    for a in &refs {
        assert_eq!(cmp(a, a), Ordering::Equal);
        for b in &refs {
            assert_eq!(cmp(a, b), cmp(b, a).reverse(), "antisymmetry");
            for c in &refs {
                if cmp(a, b) == Ordering::Less && cmp(b, c) == Ordering::Less {
                    assert_eq!(cmp(a, c), Ordering::Less, "transitivity");
                }
            }
        }
    }
    assert_eq!(deletion_order(&refs, &refs, now).len(), 60);
}
