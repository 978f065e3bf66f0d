//! The Progressing condition and `progressDeadlineSeconds`, as Kubernetes keeps them: a
//! rollout that makes progress refreshes the condition; one that completes says
//! NewReplicaSetAvailable; one that makes none for longer than the deadline turns
//! ProgressDeadlineExceeded (what `kubectl rollout status` reports as "exceeded its progress
//! deadline"). Pausing and resuming are recorded there too. Pure.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::status::{
    PROGRESSING, complete, condition, new_condition, remove_condition, set_condition,
};

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// `progressDeadlineSeconds`, unless unset or "never" (i32::MAX).
pub fn deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|&s| s != i32::MAX)
}

pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused) == Some(true)
}

/// Whether `new` shows progress over the Deployment's last status: more updated, ready or
/// available replicas, or fewer old ones.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// Whether the rollout described by `status` has gone past its deadline without progress.
pub fn timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = deadline(d) else {
        return false;
    };
    let Some(cond) = condition(status, PROGRESSING) else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => cond.last_update_time.as_ref().is_some_and(|t| {
            now.duration_since(t.0) > SignedDuration::from_secs(i64::from(deadline))
        }),
    }
}

/// The message of the ProgressDeadlineExceeded condition for the new ReplicaSet.
pub fn timed_out_message(d: &Deployment, new_rs: Option<&str>) -> String {
    match new_rs {
        Some(rs) => format!("ReplicaSet {rs:?} has timed out progressing."),
        None => format!(
            "Deployment {:?} has timed out progressing.",
            d.metadata.name.as_deref().unwrap_or("")
        ),
    }
}

/// Whether `status` says the ReplicaSet `new_rs` missed the progress deadline.
pub fn timed_out_for(d: &Deployment, status: &DeploymentStatus, new_rs: &str) -> bool {
    condition(status, PROGRESSING).is_some_and(|c| {
        c.reason.as_deref() == Some(TIMED_OUT)
            && c.message.as_deref() == Some(timed_out_message(d, Some(new_rs)).as_str())
    })
}

/// Kubernetes' progress estimate in `syncRolloutStatus`: set the Progressing condition of
/// `status` (freshly calculated) from how it compares with the Deployment's last status.
pub fn update(d: &Deployment, status: &mut DeploymentStatus, new_rs: Option<&str>, now: Timestamp) {
    if deadline(d).is_none() {
        remove_condition(status, PROGRESSING);
        return;
    }
    let current = d
        .status
        .as_ref()
        .and_then(|s| condition(s, PROGRESSING))
        .cloned();
    let settled = status.replicas == status.updated_replicas
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if settled {
        return;
    }
    let subject = |what: &str| match new_rs {
        Some(rs) => format!("ReplicaSet {rs:?} {what}"),
        None => format!(
            "Deployment {:?} {what}",
            d.metadata.name.as_deref().unwrap_or("")
        ),
    };
    if complete(d, status) {
        let msg = subject("has successfully progressed.");
        set_condition(
            status,
            new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg, now),
        );
    } else if progressing(d, status) {
        let msg = subject("is progressing.");
        let mut cond = new_condition(PROGRESSING, "True", RS_UPDATED, &msg, now);
        if let Some(current) = current {
            if current.status == "True" {
                cond.last_transition_time = current.last_transition_time;
            }
            remove_condition(status, PROGRESSING);
        }
        set_condition(status, cond);
    } else if timed_out(d, status, now) {
        let msg = timed_out_message(d, new_rs);
        set_condition(
            status,
            new_condition(PROGRESSING, "False", TIMED_OUT, &msg, now),
        );
    }
}

/// Kubernetes' `checkPausedConditions`: the status to write when the Deployment was just
/// paused (Progressing Unknown, DeploymentPaused) or resumed (DeploymentResumed, which
/// restarts the deadline clock); `None` when nothing changes.
pub fn paused_status(d: &Deployment, now: Timestamp) -> Option<DeploymentStatus> {
    deadline(d)?;
    let mut status = d.status.clone().unwrap_or_default();
    let reason = condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let paused_recorded = reason.as_deref() == Some(PAUSED);
    let cond = match (is_paused(d), paused_recorded) {
        (true, false) => new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now),
        (false, true) => new_condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed",
            now,
        ),
        _ => return None,
    };
    set_condition(&mut status, cond);
    Some(status)
}

/// Kubernetes' `requeueStuckDeployment`: when to look again so that a rollout making no
/// progress is marked timed out on time.
pub fn recheck_in(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let deadline = deadline(d)?;
    let cond = condition(status, PROGRESSING)?;
    if complete(d, status) || cond.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let since = cond.last_update_time.as_ref()?.0;
    let left = SignedDuration::from_secs(i64::from(deadline)) - now.duration_since(since);
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    Some(if left < Duration::from_secs(1) {
        Duration::from_secs(1)
    } else {
        left + Duration::from_secs(1)
    })
}

#[cfg(test)]
mod tests;
