use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;

fn now() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn ago(secs: i64) -> String {
    now()
        .checked_sub(SignedDuration::from_secs(secs))
        .unwrap()
        .to_string()
}

fn pdb(spec: Value, status: Value) -> PodDisruptionBudget {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "default", "generation": 2},
        "spec": spec, "status": status}),
    )
    .unwrap()
}

fn pod(name: &str, phase: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
    .unwrap()
}

fn three_ready() -> Vec<Pod> {
    (0..3)
        .map(|i| pod(&format!("web-{i}"), "Running", true))
        .collect()
}

#[test]
fn percentages_round_up() {
    let p = |s: &str| IntOrString::String(s.to_string());
    assert_eq!(scaled(&p("50%"), 3), Some(2));
    assert_eq!(scaled(&p("25%"), 3), Some(1));
    assert_eq!(scaled(&p("100%"), 3), Some(3));
    assert_eq!(scaled(&p("0%"), 3), Some(0));
    assert_eq!(scaled(&IntOrString::Int(2), 3), Some(2));
    assert_eq!(scaled(&p("half"), 3), None);
}

#[test]
fn min_available_leaves_the_rest_to_disrupt() {
    let budget = pdb(json!({"minAvailable": 2}), json!({}));
    assert!(!needs_scale(&budget));
    let (status, recheck) = calculate(&budget, &three_ready(), 3, now());
    assert_eq!(
        (
            status.expected_pods,
            status.desired_healthy,
            status.current_healthy,
            status.disruptions_allowed
        ),
        (3, 2, 3, 1)
    );
    assert_eq!(status.observed_generation, Some(2));
    let cond = &status.conditions.unwrap()[0];
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("True", "SufficientPods")
    );
    assert_eq!(recheck, None);
}

#[test]
fn max_unavailable_counts_from_the_scale() {
    let budget = pdb(json!({"maxUnavailable": "34%"}), json!({}));
    assert!(needs_scale(&budget));
    // Scale 5, of which 3 are ready: ceil(1.7) = 2 may be down, so 3 must stay up.
    let (status, _) = calculate(&budget, &three_ready(), 5, now());
    assert_eq!(
        (
            status.expected_pods,
            status.desired_healthy,
            status.disruptions_allowed
        ),
        (5, 3, 0)
    );
    let cond = &status.conditions.unwrap()[0];
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "InsufficientPods")
    );
}

#[test]
fn unready_terminating_and_pending_pods_are_not_healthy() {
    let mut pods = three_ready();
    pods.push(pod("web-3", "Running", false));
    pods.push(pod("web-4", "Pending", false));
    let mut going = pod("web-5", "Running", true);
    going.metadata.deletion_timestamp = Some(Time(now()));
    pods.push(going);
    let budget = pdb(json!({"minAvailable": "50%"}), json!({}));
    let (status, _) = calculate(&budget, &pods, 6, now());
    assert_eq!(
        (
            status.current_healthy,
            status.desired_healthy,
            status.disruptions_allowed
        ),
        (3, 3, 0)
    );
}

#[test]
fn recent_evictions_do_not_count_and_old_or_gone_ones_are_pruned() {
    let budget = pdb(
        json!({"minAvailable": 1}),
        json!({"disruptedPods": {"web-0": ago(30), "web-1": ago(600), "gone": ago(10)}}),
    );
    let (status, recheck) = calculate(&budget, &three_ready(), 3, now());
    let disrupted = status.disrupted_pods.unwrap();
    assert_eq!(disrupted.keys().collect::<Vec<_>>(), ["web-0"]);
    assert_eq!((status.current_healthy, status.disruptions_allowed), (2, 1));
    // web-0's entry expires 2 minutes after its eviction: look again then.
    let expected = now().checked_add(SignedDuration::from_secs(90)).unwrap();
    assert_eq!(recheck, Some(expected));
}

#[test]
fn a_budget_without_pods_or_bounds_allows_nothing() {
    let (status, _) = calculate(&pdb(json!({"minAvailable": 0}), json!({})), &[], 0, now());
    assert_eq!(status.disruptions_allowed, 0, "expects no pods yet");
    let (status, _) = calculate(&pdb(json!({}), json!({})), &three_ready(), 3, now());
    assert_eq!((status.expected_pods, status.disruptions_allowed), (0, 0));
}

#[test]
fn condition_keeps_its_transition_time_and_fail_safe_refuses() {
    let since = ago(3600);
    let budget = pdb(
        json!({"minAvailable": 2}),
        json!({"conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
            "message": "", "lastTransitionTime": since}], "disruptionsAllowed": 1}),
    );
    let (status, _) = calculate(&budget, &three_ready(), 3, now());
    let cond = &status.conditions.unwrap()[0];
    assert_eq!(cond.last_transition_time.0.to_string(), since);
    let failed = fail_safe(&budget, "boom", now());
    assert_eq!(failed.disruptions_allowed, 0);
    let cond = &failed.conditions.unwrap()[0];
    assert_eq!(
        (cond.reason.as_str(), cond.message.as_str()),
        ("SyncFailed", "boom")
    );
    assert_eq!(cond.last_transition_time.0, now());
}
