//! The Job controller's decision, pure: from a Job, its pods and the time, what to create,
//! what to delete, the new status and the Events to record (Kubernetes' `syncJob` for
//! NonIndexed jobs).
//!
//! Counting is simple: pods are never deleted by this controller once finished, so
//! `succeeded`/`failed` are counted from them (never lower than the last status, so a user
//! deleting finished pods does not lose the counts). There are no tracking finalizers:
//! a pod deleted before it finished (an eviction) is replaced, not counted as failed.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tutti_client::EventType;

use super::backoff::{after, backoff_remaining};
use crate::pods::{deletion_order, is_ready, phase};

/// An Event the controller records about the Job.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// What one reconcile of a Job does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobPlan {
    /// How many pods to create from the template.
    pub create: usize,
    /// Names of active pods to delete.
    pub delete: Vec<String>,
    /// The Job's status once the plan is carried out.
    pub status: JobStatus,
    pub notes: Vec<Note>,
    /// `ttlSecondsAfterFinished` has run out: delete the Job.
    pub delete_job: bool,
    /// Look again after this long (back-off, deadline, TTL).
    pub requeue_after: Option<Duration>,
}

const COMPLETIONS_REACHED: &str = "CompletionsReached";
const COMPLETIONS_MESSAGE: &str = "Reached expected number of succeeded pods";

/// Restarts of all the pod's containers (init ones included).
fn restarts(pod: &Pod) -> i32 {
    let Some(status) = pod.status.as_ref() else {
        return 0;
    };
    status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten()
        .map(|c| c.restart_count)
        .sum()
}

fn condition<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// When the Job finished (Complete or Failed), if it has.
pub fn finished_at(status: &JobStatus) -> Option<Timestamp> {
    if let Some(c) = condition(status, "Complete") {
        return status
            .completion_time
            .as_ref()
            .or(c.last_transition_time.as_ref())
            .map(|t| t.0)
            .or(Some(Timestamp::UNIX_EPOCH));
    }
    condition(status, "Failed").map(|c| {
        c.last_transition_time
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
    })
}

/// Set a condition (replacing one of the same type); transition time changes only when the
/// status does.
fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let next = JobCondition {
        type_: type_.into(),
        status: value.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == value => {
            c.reason = next.reason;
            c.message = next.message;
        }
        Some(c) => *c = next,
        None => conditions.push(next),
    }
}

/// Kubernetes' `pastBackoffLimitOnFailure`: with restartPolicy OnFailure pods restart in
/// place, so their containers' restarts count as failures.
fn past_backoff_limit_on_failure(spec: &JobSpec, active: &[&Pod], limit: i32) -> bool {
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if !on_failure {
        return false;
    }
    let total: i32 = active
        .iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending" | ""))
        .map(|p| restarts(p))
        .sum();
    if limit == 0 {
        total > 0
    } else {
        total >= limit
    }
}

fn clamp_count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Decide what to do about a Job given its pods (only the ones it controls) and the time.
pub fn decide(job: &Job, pods: &[Pod], now: Timestamp) -> JobPlan {
    let old = job.status.clone().unwrap_or_default();
    let mut plan = JobPlan {
        status: old.clone(),
        ..Default::default()
    };
    let Some(spec) = job.spec.as_ref() else {
        return plan;
    };
    if let Some(done) = finished_at(&old) {
        if let Some(ttl) = spec.ttl_seconds_after_finished {
            let expiry = after(done, Duration::from_secs(u64::try_from(ttl).unwrap_or(0)));
            if expiry <= now {
                plan.delete_job = true;
            } else {
                plan.requeue_after = Some(now.duration_since(expiry).unsigned_abs());
            }
        }
        return plan;
    }

    let mut active: Vec<&Pod> = Vec::new();
    let mut succeeded_pods: Vec<&Pod> = Vec::new();
    let mut failed_pods: Vec<&Pod> = Vec::new();
    let mut terminating = 0usize;
    for pod in pods {
        match phase(pod) {
            "Succeeded" => succeeded_pods.push(pod),
            "Failed" => failed_pods.push(pod),
            _ if pod.metadata.deletion_timestamp.is_some() => terminating += 1,
            _ => active.push(pod),
        }
    }
    let succeeded = clamp_count(succeeded_pods.len()).max(old.succeeded.unwrap_or(0));
    let mut failed = clamp_count(failed_pods.len()).max(old.failed.unwrap_or(0));
    let suspended = spec.suspend == Some(true);
    let status = &mut plan.status;

    // Suspension and resumption.
    if suspended && condition(&old, "Suspended").is_none() {
        set_condition(
            status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now,
        );
        plan.notes
            .push(note(EventType::Normal, "Suspended", "Job suspended"));
    }
    if !suspended && condition(&old, "Suspended").is_some() {
        set_condition(
            status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now,
        );
        plan.notes
            .push(note(EventType::Normal, "Resumed", "Job resumed"));
        status.start_time = Some(Time(now));
    }
    if !suspended && status.start_time.is_none() {
        status.start_time = Some(Time(now));
    }

    // Has it failed, or succeeded?
    let limit = spec.backoff_limit.unwrap_or(6);
    let deadline = spec
        .active_deadline_seconds
        .zip(status.start_time.as_ref())
        .filter(|_| !suspended)
        .map(|(s, start)| after(start.0, Duration::from_secs(u64::try_from(s).unwrap_or(0))));
    let failure: Option<(String, String)> = if let Some(c) = condition(&old, "FailureTarget") {
        Some((
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        ))
    } else if condition(&old, "SuccessCriteriaMet").is_some() {
        None
    } else if failed > limit || past_backoff_limit_on_failure(spec, &active, limit) {
        Some((
            "BackoffLimitExceeded".into(),
            "Job has reached the specified backoff limit".into(),
        ))
    } else if deadline.is_some_and(|d| d <= now) {
        Some((
            "DeadlineExceeded".into(),
            "Job was active longer than specified deadline".into(),
        ))
    } else {
        None
    };
    let success = failure.is_none()
        && (condition(&old, "SuccessCriteriaMet").is_some()
            || match spec.completions {
                Some(c) => succeeded >= c,
                None => succeeded > 0 && active.is_empty(),
            });

    let mut to_delete: Vec<&Pod> = Vec::new();
    if let Some((reason, message)) = &failure {
        set_condition(status, "FailureTarget", "True", reason, message, now);
        to_delete = active.clone();
        // Pods killed because the Job failed count as failed, as in Kubernetes.
        failed = failed.saturating_add(clamp_count(to_delete.len()));
        if active.is_empty() && terminating == 0 {
            set_condition(status, "Failed", "True", reason, message, now);
            plan.notes.push(note(EventType::Warning, reason, message));
        }
    } else if success {
        set_condition(
            status,
            "SuccessCriteriaMet",
            "True",
            COMPLETIONS_REACHED,
            COMPLETIONS_MESSAGE,
            now,
        );
        to_delete = active.clone();
        if active.is_empty() && terminating == 0 {
            set_condition(
                status,
                "Complete",
                "True",
                COMPLETIONS_REACHED,
                COMPLETIONS_MESSAGE,
                now,
            );
            status.completion_time = Some(Time(now));
            plan.notes
                .push(note(EventType::Normal, "Completed", "Job completed"));
        }
    } else if suspended {
        to_delete = active.clone();
    } else {
        let parallelism = usize::try_from(spec.parallelism.unwrap_or(1)).unwrap_or(0);
        let want = match spec.completions {
            // A work queue: once one pod succeeded, let the others finish, start no more.
            None if succeeded > 0 => active.len(),
            None => parallelism,
            Some(c) => usize::try_from(c.saturating_sub(succeeded))
                .unwrap_or(0)
                .min(parallelism),
        };
        if active.len() > want {
            let mut excess = deletion_order(&active, &active, now);
            excess.truncate(active.len() - want);
            to_delete = excess;
        }
        let replace_only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed");
        let occupied = active.len() + if replace_only_failed { terminating } else { 0 };
        let missing = want.saturating_sub(occupied);
        if missing > 0 {
            match backoff_remaining(&succeeded_pods, &failed_pods, now) {
                Some(wait) => plan.requeue_after = Some(wait),
                None => plan.create = missing,
            }
        }
        if let Some(d) = deadline {
            let left = now.duration_since(d).unsigned_abs();
            plan.requeue_after = Some(plan.requeue_after.map_or(left, |w| w.min(left)));
        }
    }

    let deleted = to_delete.len();
    let ready = active
        .iter()
        .filter(|p| is_ready(p) && !to_delete.iter().any(|d| std::ptr::eq(*d, **p)))
        .count();
    plan.delete = to_delete
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let status = &mut plan.status;
    let active_now = active.len() - deleted + plan.create;
    status.active = (active_now > 0).then(|| clamp_count(active_now));
    status.ready = Some(clamp_count(ready));
    status.terminating = Some(clamp_count(terminating + deleted));
    status.succeeded = (succeeded > 0).then_some(succeeded);
    status.failed = (failed > 0).then_some(failed);
    plan
}

fn note(type_: EventType, reason: &str, message: &str) -> Note {
    Note {
        type_,
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests;
