//! The CronJob controller's decision, pure: from a CronJob, the Jobs it owns and the time
//! (the injectable clock), which Job to start, which to delete, the new status, the Events
//! and when to look again (Kubernetes' `syncCronJob` and `cleanupFinishedJobs`).

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};
use tutti_client::EventType;

use super::schedule::{Schedule, TOO_MANY_MISSED};

/// The annotation holding the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Kubernetes requeues a little after the next firing so that it is surely due.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// An Event the controller records about the CronJob.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub message: String,
}

/// A Job to delete.
#[derive(Clone, Debug, PartialEq)]
pub struct Deletion {
    pub name: String,
    pub uid: Option<String>,
}

/// What one reconcile of a CronJob does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CronPlan {
    /// The status once the plan is carried out, except that a created Job still has to be
    /// added to `active` (its uid is known only after creation).
    pub status: k8s_openapi::api::batch::v1::CronJobStatus,
    /// A Job to start now.
    pub create: Option<Job>,
    /// Jobs to delete: running ones replaced (`Replace`) and finished ones past the history limits.
    pub delete: Vec<Deletion>,
    pub notes: Vec<Note>,
    /// Look again after this long (just after the next firing).
    pub requeue_after: Option<Duration>,
}

/// The name of the Job for a firing: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// `Complete` or `Failed` once the Job has finished.
pub fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True")
    })
}

/// An ObjectReference to a Job, as `status.active` holds them.
pub fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The Job a firing starts: the template's metadata and spec, a deterministic name (so one
/// firing never starts two Jobs), the scheduled-time annotation and the CronJob as owner.
pub fn job_for(cronjob: &CronJob, scheduled: Timestamp) -> Job {
    let template = cronjob
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), scheduled.to_string());
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&cronjob.name_any(), scheduled)),
            namespace: cronjob.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: cronjob.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn note(type_: EventType, reason: &'static str, message: String) -> Note {
    Note {
        type_,
        reason,
        message,
    }
}

/// Finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`, oldest
/// (by start time, then name) first.
fn past_history_limits(spec: &CronJobSpec, jobs: &[&Job]) -> Vec<Deletion> {
    let mut out = Vec::new();
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(kind) && j.metadata.deletion_timestamp.is_none())
            .collect();
        done.sort_by(|a, b| {
            let start = |j: &Job| j.status.as_ref().and_then(|s| s.start_time.clone());
            match (start(a), start(b)) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => a.metadata.name.cmp(&b.metadata.name),
            }
        });
        let keep = usize::try_from(limit).unwrap_or(0);
        let excess = done.len().saturating_sub(keep);
        out.extend(done.into_iter().take(excess).map(|j| Deletion {
            name: j.name_any(),
            uid: j.metadata.uid.clone(),
        }));
    }
    out
}

/// Decide what to do about a CronJob given the Jobs it owns and the time.
pub fn next_action(cronjob: &CronJob, jobs: &[Job], now: Timestamp) -> CronPlan {
    let old = cronjob.status.clone().unwrap_or_default();
    let mut plan = CronPlan {
        status: old.clone(),
        ..Default::default()
    };
    let Some(spec) = cronjob.spec.as_ref() else {
        return plan;
    };

    // Keep `status.active` in line with the Jobs.
    let mut active = old.active.clone().unwrap_or_default();
    let mut jobs: Vec<&Job> = jobs.iter().collect();
    jobs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut last_success = old.last_successful_time.clone();
    for job in &jobs {
        let uid = job.metadata.uid.clone();
        let tracked = active.iter().any(|r| r.uid == uid);
        match (tracked, finished(job)) {
            (false, None) => active.push(job_reference(job)),
            (true, Some(condition)) => {
                active.retain(|r| r.uid != uid);
                plan.notes.push(note(
                    EventType::Normal,
                    "SawCompletedJob",
                    format!(
                        "Saw completed job: {}, condition: {condition}",
                        job.name_any()
                    ),
                ));
            }
            _ => {}
        }
        if finished(job) == Some("Complete")
            && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.clone())
            && last_success.as_ref().is_none_or(|l| done > *l)
        {
            last_success = Some(done);
        }
    }
    active.retain(|r| {
        let exists = jobs.iter().any(|j| j.metadata.uid == r.uid);
        if !exists {
            plan.notes.push(note(
                EventType::Normal,
                "MissingJob",
                format!(
                    "Active job went missing: {}",
                    r.name.as_deref().unwrap_or("")
                ),
            ));
        }
        exists
    });
    plan.status.last_successful_time = last_success;
    plan.delete = past_history_limits(spec, &jobs);
    let finish = |mut plan: CronPlan, active: Vec<ObjectReference>| {
        plan.status.active = (!active.is_empty()).then_some(active);
        plan
    };

    if spec.suspend == Some(true) {
        return finish(plan, active);
    }
    if let Some(tz) = spec.time_zone.as_deref()
        && !matches!(tz, "UTC" | "Etc/UTC")
    {
        plan.notes.push(note(
            EventType::Warning,
            "UnknownTimeZone",
            format!("invalid timeZone: {tz:?}: tutti evaluates CronJob schedules in UTC only"),
        ));
        return finish(plan, active);
    }
    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            plan.notes.push(note(
                EventType::Warning,
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {e}", spec.schedule),
            ));
            return finish(plan, active);
        }
    };

    let since = old
        .last_schedule_time
        .as_ref()
        .or(cronjob.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    let deadline = spec
        .starting_deadline_seconds
        .map(SignedDuration::from_secs);
    let earliest = match deadline {
        Some(d) => since.max(now.checked_sub(d).unwrap_or(since)),
        None => since,
    };
    plan.requeue_after = schedule
        .next_from(since, now)
        .map(|next| now.duration_since(next).unsigned_abs() + NEXT_SCHEDULE_DELTA);
    let Some(due) = schedule.due(earliest, now) else {
        return finish(plan, active);
    };
    if due.missed > TOO_MANY_MISSED {
        plan.notes.push(note(
            EventType::Warning,
            "TooManyMissedTimes",
            format!(
                "too many missed start times: more than {TOO_MANY_MISSED}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        ));
    }
    if let Some(d) = deadline
        && due.time.checked_add(d).is_ok_and(|late| late < now)
    {
        plan.notes.push(note(
            EventType::Warning,
            "MissSchedule",
            format!(
                "Missed scheduled time to start a job: {}",
                due.time.strftime("%a, %d %b %Y %H:%M:%S %z")
            ),
        ));
        return finish(plan, active);
    }
    let name = job_name(&cronjob.name_any(), due.time);
    if jobs
        .iter()
        .any(|j| j.metadata.name.as_deref() == Some(name.as_str()))
    {
        // This firing was already started (the status write after it may have failed).
        plan.status.last_schedule_time = Some(Time(due.time));
        return finish(plan, active);
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            plan.notes.push(note(
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            ));
            return finish(plan, active);
        }
        Some("Replace") => {
            plan.delete.extend(active.drain(..).map(|r| Deletion {
                name: r.name.unwrap_or_default(),
                uid: r.uid,
            }));
        }
        _ => {}
    }
    plan.create = Some(job_for(cronjob, due.time));
    plan.status.last_schedule_time = Some(Time(due.time));
    finish(plan, active)
}

#[cfg(test)]
mod tests;
