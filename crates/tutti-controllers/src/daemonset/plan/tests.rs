//! Unit tests of the DaemonSet decision.

use super::*;
use crate::daemonset::pod::daemon_pod;
use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{
    NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn ds(selector: Option<(&str, &str)>, max_unavailable: Option<IntOrString>) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".into()),
            namespace: Some("default".into()),
            uid: Some("ds-uid".into()),
            generation: Some(3),
            ..Default::default()
        },
        spec: Some(DaemonSetSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    node_selector: selector
                        .map(|(k, v)| BTreeMap::from([(k.to_string(), v.to_string())])),
                    ..Default::default()
                }),
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable,
                    max_surge: None,
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A daemon pod on `node` with the given hash, created at `created`, ready or not.
fn pod(d: &DaemonSet, node: &str, hash: &str, created: i64, ready: bool) -> Pod {
    let mut p = daemon_pod(d, node, hash).unwrap();
    p.metadata.name = Some(format!("agent-{node}-{created}"));
    p.metadata.creation_timestamp = Some(Time(at(created)));
    p.status = Some(PodStatus {
        phase: Some("Running".into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(at(created + 1))),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

fn names(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn one_pod_per_eligible_node() {
    let d = ds(Some(("role", "worker")), None);
    let nodes = [
        node("n1", &[("role", "worker")]),
        node("n2", &[("role", "worker")]),
        node("n3", &[("role", "edge")]),
    ];
    let pods = [pod(&d, "n1", "h1", 0, true)];
    let p = plan(&d, &nodes, &pods, "h1", at(100));
    assert_eq!(p.create_on, vec!["n2".to_string()]);
    assert!(p.delete.is_empty());
    assert_eq!(p.status.desired_number_scheduled, 2);
    assert_eq!(p.status.current_number_scheduled, 1);
    assert_eq!(p.status.number_ready, 1);
    assert_eq!(p.status.number_available, Some(1));
    assert_eq!(p.status.number_unavailable, Some(1));
    assert_eq!(p.status.updated_number_scheduled, Some(1));
    assert_eq!(p.status.observed_generation, Some(3));
}

#[test]
fn pods_on_ineligible_or_missing_nodes_are_deleted_and_counted() {
    let d = ds(Some(("role", "worker")), None);
    let nodes = [
        node("n1", &[("role", "worker")]),
        node("n3", &[("role", "edge")]),
    ];
    let pods = [
        pod(&d, "n1", "h1", 0, true),
        pod(&d, "n3", "h1", 0, true),
        pod(&d, "gone", "h1", 0, true),
    ];
    let p = plan(&d, &nodes, &pods, "h1", at(100));
    assert_eq!(names(&p.delete), vec!["agent-n3-0", "agent-gone-0"]);
    assert_eq!(p.status.number_misscheduled, 1);
    assert!(p.create_on.is_empty());
}

#[test]
fn tainted_nodes_keep_running_daemons_but_get_no_new_ones() {
    let d = ds(None, None);
    let mut n = node("n1", &[]);
    n.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "dedicated".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let p = plan(&d, std::slice::from_ref(&n), &[], "h1", at(10));
    assert!(p.create_on.is_empty());
    let pods = [pod(&d, "n1", "h1", 0, true)];
    let p = plan(&d, &[n], &pods, "h1", at(10));
    assert!(p.delete.is_empty(), "NoSchedule does not evict");
}

#[test]
fn duplicates_keep_the_oldest_and_failed_pods_are_replaced() {
    let d = ds(None, None);
    let nodes = [node("n1", &[]), node("n2", &[])];
    let mut failed = pod(&d, "n2", "h1", 0, false);
    if let Some(s) = failed.status.as_mut() {
        s.phase = Some("Failed".into());
    }
    let pods = [
        pod(&d, "n1", "h1", 5, true),
        pod(&d, "n1", "h1", 1, true),
        failed,
    ];
    let p = plan(&d, &nodes, &pods, "h1", at(100));
    assert_eq!(names(&p.delete), vec!["agent-n1-5", "agent-n2-0"]);
    assert_eq!(p.failed, vec![("agent-n2-0".to_string(), "n2".to_string())]);
    assert!(
        p.create_on.is_empty(),
        "the replacement comes once the failed pod is gone"
    );
}

#[test]
fn terminating_pods_hold_their_node() {
    let d = ds(None, None);
    let mut going = pod(&d, "n1", "h0", 0, true);
    going.metadata.deletion_timestamp = Some(Time(at(50)));
    let p = plan(&d, &[node("n1", &[])], &[going], "h1", at(100));
    assert!(p.create_on.is_empty());
    assert!(p.delete.is_empty());
    assert_eq!(p.status.current_number_scheduled, 0);
}

#[test]
fn rolling_update_replaces_at_most_max_unavailable() {
    let d = ds(None, Some(IntOrString::Int(1)));
    let nodes: Vec<Node> = (1..=4).map(|i| node(&format!("n{i}"), &[])).collect();
    let pods: Vec<Pod> = (1..=4)
        .map(|i| pod(&d, &format!("n{i}"), "old", 0, true))
        .collect();
    let p = plan(&d, &nodes, &pods, "new", at(100));
    assert_eq!(names(&p.delete), vec!["agent-n1-0"]);
    assert_eq!(p.status.updated_number_scheduled, None);

    // n1 now runs a new pod that is not ready yet: nothing more goes.
    let mut pods = pods;
    pods[0] = pod(&d, "n1", "new", 90, false);
    let p = plan(&d, &nodes, &pods, "new", at(100));
    assert!(p.delete.is_empty());
    assert_eq!(p.status.updated_number_scheduled, Some(1));

    // Once it is ready, the next old pod goes.
    pods[0] = pod(&d, "n1", "new", 90, true);
    let p = plan(&d, &nodes, &pods, "new", at(100));
    assert_eq!(names(&p.delete), vec!["agent-n2-0"]);
}

#[test]
fn rolling_update_percentages_round_up_and_unavailable_old_pods_go_at_once() {
    let d = ds(None, Some(IntOrString::String("30%".into())));
    let nodes: Vec<Node> = (1..=4).map(|i| node(&format!("n{i}"), &[])).collect();
    let mut pods: Vec<Pod> = (1..=4)
        .map(|i| pod(&d, &format!("n{i}"), "old", 0, true))
        .collect();
    let p = plan(&d, &nodes, &pods, "new", at(100));
    assert_eq!(p.delete.len(), 2, "30% of 4 rounds up to 2");
    pods[3] = pod(&d, "n4", "old", 0, false);
    let p = plan(&d, &nodes, &pods, "new", at(100));
    assert_eq!(
        names(&p.delete),
        vec!["agent-n4-0", "agent-n1-0", "agent-n2-0"]
    );
}

#[test]
fn on_delete_never_deletes_old_pods() {
    let mut d = ds(None, None);
    if let Some(s) = d.spec.as_mut() {
        s.update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        });
    }
    let pods = [pod(&d, "n1", "old", 0, true)];
    let p = plan(
        &d,
        &[node("n1", &[]), node("n2", &[])],
        &pods,
        "new",
        at(100),
    );
    assert!(p.delete.is_empty());
    assert_eq!(
        p.create_on,
        vec!["n2".to_string()],
        "new nodes get the new template"
    );
}

#[test]
fn min_ready_seconds_delays_availability() {
    let mut d = ds(None, None);
    if let Some(s) = d.spec.as_mut() {
        s.min_ready_seconds = Some(30);
    }
    let pods = [pod(&d, "n1", "h1", 80, true)];
    let p = plan(&d, &[node("n1", &[])], &pods, "h1", at(100));
    assert_eq!(p.status.number_ready, 1);
    assert_eq!(p.status.number_available, None);
    assert_eq!(
        p.requeue_after,
        Some(Duration::from_secs(11)),
        "ready at 81, available at 111"
    );
}
