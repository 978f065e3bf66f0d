//! Progress estimates, deadlines, pause/resume and the Available condition.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::deployment::rollout::{Limits, RsState};
use crate::deployment::status::{AVAILABLE, calculate};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn deployment(replicas: i32, deadline: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            progress_deadline_seconds: Some(deadline),
            ..Default::default()
        }),
        status: None,
    }
}

/// A status with these counts, observing generation 2.
fn counts(replicas: i32, updated: i32, available: i32) -> DeploymentStatus {
    DeploymentStatus {
        observed_generation: Some(2),
        replicas: Some(replicas),
        updated_replicas: Some(updated),
        ready_replicas: Some(available),
        available_replicas: Some(available),
        ..Default::default()
    }
}

fn reason(status: &DeploymentStatus) -> Option<String> {
    condition(status, PROGRESSING).and_then(|c| c.reason.clone())
}

#[test]
fn a_rollout_progresses_then_completes() {
    let mut d = deployment(3, 600);
    let mut s = counts(3, 0, 3);
    set_condition(
        &mut s,
        new_condition(PROGRESSING, "True", NEW_RS_CREATED, "x", at(0)),
    );
    d.status = Some(s);

    let mut next = counts(4, 1, 3);
    next.conditions = d.status.as_ref().and_then(|s| s.conditions.clone());
    update(&d, &mut next, Some("web-abc"), at(10));
    assert_eq!(reason(&next).as_deref(), Some(RS_UPDATED));
    let cond = condition(&next, PROGRESSING).cloned().unwrap();
    assert_eq!(
        cond.message.as_deref(),
        Some("ReplicaSet \"web-abc\" is progressing.")
    );
    assert_eq!(cond.last_update_time.map(|t| t.0), Some(at(10)));
    assert_eq!(
        cond.last_transition_time.map(|t| t.0),
        Some(at(0)),
        "still True: kept"
    );

    d.status = Some(next);
    let mut done = counts(3, 3, 3);
    done.conditions = d.status.as_ref().and_then(|s| s.conditions.clone());
    update(&d, &mut done, Some("web-abc"), at(20));
    assert_eq!(reason(&done).as_deref(), Some(NEW_RS_AVAILABLE));
    assert!(complete(&d, &done));
    assert_eq!(recheck_in(&d, &done, at(20)), None);
}

#[test]
fn no_progress_past_the_deadline_times_out_once() {
    let mut d = deployment(3, 60);
    let mut s = counts(4, 1, 3);
    set_condition(
        &mut s,
        new_condition(PROGRESSING, "True", RS_UPDATED, "x", at(0)),
    );
    d.status = Some(s.clone());
    assert_eq!(recheck_in(&d, &s, at(30)), Some(Duration::from_secs(31)));

    let mut early = s.clone();
    update(&d, &mut early, Some("web-abc"), at(59));
    assert_eq!(early, s, "within the deadline nothing changes");

    let mut late = s.clone();
    update(&d, &mut late, Some("web-abc"), at(61));
    assert_eq!(reason(&late).as_deref(), Some(TIMED_OUT));
    assert_eq!(
        condition(&late, PROGRESSING).map(|c| c.status.as_str()),
        Some("False")
    );
    assert!(timed_out_for(&d, &late, "web-abc"));
    assert!(!timed_out_for(&d, &late, "web-other"));
    assert_eq!(recheck_in(&d, &late, at(61)), None);
}

#[test]
fn without_a_deadline_there_is_no_progressing_condition() {
    let mut d = deployment(3, i32::MAX);
    let mut s = counts(3, 0, 3);
    set_condition(
        &mut s,
        new_condition(PROGRESSING, "True", RS_UPDATED, "x", at(0)),
    );
    d.status = Some(s.clone());
    update(&d, &mut s, None, at(10_000));
    assert_eq!(condition(&s, PROGRESSING), None);
}

#[test]
fn pausing_and_resuming_are_recorded_unless_timed_out() {
    let mut d = deployment(3, 600);
    d.spec.as_mut().unwrap().paused = Some(true);
    let paused = paused_status(&d, at(5)).unwrap();
    assert_eq!(reason(&paused).as_deref(), Some(PAUSED));
    assert_eq!(
        condition(&paused, PROGRESSING).map(|c| c.status.as_str()),
        Some("Unknown")
    );
    d.status = Some(paused);
    assert_eq!(paused_status(&d, at(6)), None, "already recorded");

    d.spec.as_mut().unwrap().paused = Some(false);
    let resumed = paused_status(&d, at(7)).unwrap();
    assert_eq!(reason(&resumed).as_deref(), Some(RESUMED));

    let mut s = counts(3, 0, 3);
    set_condition(
        &mut s,
        new_condition(PROGRESSING, "False", TIMED_OUT, "x", at(0)),
    );
    d.status = Some(s);
    d.spec.as_mut().unwrap().paused = Some(true);
    assert_eq!(
        paused_status(&d, at(8)),
        None,
        "a timeout is not overwritten"
    );
}

#[test]
fn available_needs_replicas_minus_max_unavailable() {
    let d = deployment(4, 600);
    let limits = Limits {
        max_surge: 1,
        max_unavailable: 1,
    };
    let rs = |available| RsState {
        name: "web-abc".into(),
        replicas: 4,
        current: 4,
        ready: available,
        available,
        ..Default::default()
    };
    let s = calculate(&d, &[rs(3)], None, limits, at(0));
    assert_eq!(
        condition(&s, AVAILABLE).map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(s.unavailable_replicas, Some(1));
    let s = calculate(&d, &[rs(2)], None, limits, at(0));
    let cond = condition(&s, AVAILABLE).cloned().unwrap();
    assert_eq!(cond.reason.as_deref(), Some("MinimumReplicasUnavailable"));
}
