//! Unit tests of the CronJob decision: the clock is a parameter, so minutes pass instantly.

use super::*;
use k8s_openapi::api::batch::v1::{CronJobStatus, JobCondition, JobStatus, JobTemplateSpec};
use std::collections::BTreeMap;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn cronjob(schedule: &str, policy: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("hello".into()),
            namespace: Some("default".into()),
            uid: Some("cj-uid".into()),
            creation_timestamp: Some(Time(ts("2024-05-01T10:00:30Z"))),
            ..Default::default()
        },
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some(policy.into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(1),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(BTreeMap::from([("app".to_string(), "hello".to_string())])),
                    ..Default::default()
                }),
                spec: None,
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn with_last_schedule(mut cj: CronJob, at: &str) -> CronJob {
    cj.status = Some(CronJobStatus {
        last_schedule_time: Some(Time(ts(at))),
        ..Default::default()
    });
    cj
}

fn job(name: &str, state: Option<&str>, at: &str) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("{name}-uid")),
            ..Default::default()
        },
        spec: None,
        status: Some(JobStatus {
            start_time: Some(Time(ts(at))),
            completion_time: (state == Some("Complete")).then(|| Time(ts(at))),
            conditions: state.map(|s| {
                vec![JobCondition {
                    type_: s.into(),
                    status: "True".into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
    }
}

fn tracking(mut cj: CronJob, jobs: &[&Job]) -> CronJob {
    let status = cj.status.get_or_insert_with(Default::default);
    status.active = Some(jobs.iter().map(|j| job_reference(j)).collect());
    cj
}

#[test]
fn nothing_due_requeues_for_the_next_firing() {
    let cj = cronjob("*/5 * * * *", "Allow");
    let plan = next_action(&cj, &[], ts("2024-05-01T10:03:00Z"));
    assert_eq!(plan.create, None);
    assert_eq!(
        plan.requeue_after,
        Some(Duration::from_secs(120) + Duration::from_millis(100))
    );
}

#[test]
fn a_due_firing_creates_a_named_annotated_owned_job() {
    let cj = cronjob("*/5 * * * *", "Allow");
    let now = ts("2024-05-01T10:05:02Z");
    let plan = next_action(&cj, &[], now);
    let job = plan.create.expect("a job");
    let scheduled = ts("2024-05-01T10:05:00Z");
    assert_eq!(
        job.metadata.name,
        Some(format!("hello-{}", scheduled.as_second() / 60))
    );
    assert_eq!(
        job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
        "2024-05-01T10:05:00Z"
    );
    assert_eq!(job.metadata.labels.unwrap()["app"], "hello");
    let owner = &job.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("CronJob", "cj-uid")
    );
    assert_eq!(owner.controller, Some(true));
    assert_eq!(plan.status.last_schedule_time, Some(Time(scheduled)));
    assert_eq!(
        plan.requeue_after,
        Some(Duration::from_secs(298) + Duration::from_millis(100))
    );
}

#[test]
fn missed_firings_start_only_the_most_recent() {
    let cj = with_last_schedule(cronjob("* * * * *", "Allow"), "2024-05-01T10:00:00Z");
    let plan = next_action(&cj, &[], ts("2024-05-01T10:07:30Z"));
    assert_eq!(
        plan.status.last_schedule_time,
        Some(Time(ts("2024-05-01T10:07:00Z")))
    );
    assert!(plan.notes.is_empty());
}

#[test]
fn too_many_missed_warns_but_still_starts() {
    let cj = with_last_schedule(cronjob("* * * * *", "Allow"), "2024-05-01T00:00:00Z");
    let plan = next_action(&cj, &[], ts("2024-05-01T10:00:00Z"));
    assert!(plan.create.is_some());
    assert_eq!(plan.notes.len(), 1);
    assert_eq!(plan.notes[0].reason, "TooManyMissedTimes");
    assert_eq!(plan.notes[0].type_, EventType::Warning);
}

#[test]
fn starting_deadline_bounds_how_late_a_start_may_be() {
    let mut cj = with_last_schedule(cronjob("0 * * * *", "Allow"), "2024-05-01T08:00:00Z");
    if let Some(s) = cj.spec.as_mut() {
        s.starting_deadline_seconds = Some(60);
    }
    let plan = next_action(&cj, &[], ts("2024-05-01T10:00:30Z"));
    assert!(plan.create.is_some(), "10:00 is within the minute");
    let plan = next_action(&cj, &[], ts("2024-05-01T10:05:00Z"));
    assert_eq!(
        plan.create, None,
        "10:00 is too late and 9:00 is beyond the deadline"
    );
    assert!(
        plan.notes.is_empty(),
        "nothing within the deadline was missed"
    );
    let mut cj = with_last_schedule(cronjob("0 * * * *", "Allow"), "2024-05-01T08:00:00Z");
    if let Some(s) = cj.spec.as_mut() {
        s.starting_deadline_seconds = Some(7200);
    }
    let plan = next_action(&cj, &[], ts("2024-05-01T10:05:00Z"));
    assert!(plan.create.is_some(), "two hours of grace cover 10:00");
}

#[test]
fn forbid_skips_while_a_job_runs_and_starts_the_missed_one_after() {
    let running = job("hello-1", None, "2024-05-01T10:00:00Z");
    let cj = tracking(
        with_last_schedule(cronjob("* * * * *", "Forbid"), "2024-05-01T10:00:00Z"),
        &[&running],
    );
    let now = ts("2024-05-01T10:01:05Z");
    let plan = next_action(&cj, std::slice::from_ref(&running), now);
    assert_eq!(plan.create, None);
    assert_eq!(plan.notes[0].reason, "JobAlreadyActive");
    assert_eq!(
        plan.status.last_schedule_time,
        Some(Time(ts("2024-05-01T10:00:00Z"))),
        "the firing stays unmet"
    );
    let done = job("hello-1", Some("Complete"), "2024-05-01T10:01:10Z");
    let plan = next_action(&cj, &[done], ts("2024-05-01T10:01:20Z"));
    assert!(plan.create.is_some(), "started once the prior run finished");
    assert_eq!(plan.notes[0].reason, "SawCompletedJob");
    assert_eq!(
        plan.notes[0].message,
        "Saw completed job: hello-1, condition: Complete"
    );
    assert_eq!(
        plan.status.last_successful_time,
        Some(Time(ts("2024-05-01T10:01:10Z")))
    );
    assert_eq!(plan.status.active, None);
}

#[test]
fn replace_deletes_the_running_job() {
    let running = job("hello-1", None, "2024-05-01T10:00:00Z");
    let cj = tracking(
        with_last_schedule(cronjob("* * * * *", "Replace"), "2024-05-01T10:00:00Z"),
        &[&running],
    );
    let plan = next_action(&cj, &[running], ts("2024-05-01T10:01:05Z"));
    assert_eq!(
        plan.delete,
        vec![Deletion {
            name: "hello-1".into(),
            uid: Some("hello-1-uid".into())
        }]
    );
    assert!(plan.create.is_some());
    assert_eq!(
        plan.status.active, None,
        "the new job is added once created"
    );
}

#[test]
fn allow_runs_concurrently_and_adopts_untracked_running_jobs() {
    let running = job("hello-1", None, "2024-05-01T10:00:00Z");
    let cj = with_last_schedule(cronjob("* * * * *", "Allow"), "2024-05-01T10:00:00Z");
    let plan = next_action(
        &cj,
        std::slice::from_ref(&running),
        ts("2024-05-01T10:01:05Z"),
    );
    assert!(plan.create.is_some());
    assert!(plan.delete.is_empty());
    let active = plan.status.active.expect("active");
    assert_eq!(active[0].name.as_deref(), Some("hello-1"));
}

#[test]
fn a_firing_already_started_is_not_started_twice() {
    let cj = with_last_schedule(cronjob("* * * * *", "Allow"), "2024-05-01T10:00:00Z");
    let name = job_name("hello", ts("2024-05-01T10:01:00Z"));
    let existing = job(&name, None, "2024-05-01T10:01:00Z");
    let plan = next_action(&cj, &[existing], ts("2024-05-01T10:01:30Z"));
    assert_eq!(plan.create, None);
    assert_eq!(
        plan.status.last_schedule_time,
        Some(Time(ts("2024-05-01T10:01:00Z")))
    );
}

#[test]
fn history_limits_delete_the_oldest_finished_jobs() {
    let cj = with_last_schedule(cronjob("0 0 1 1 *", "Allow"), "2024-01-01T00:00:00Z");
    let jobs = [
        job("ok-1", Some("Complete"), "2024-05-01T01:00:00Z"),
        job("ok-2", Some("Complete"), "2024-05-01T02:00:00Z"),
        job("ok-3", Some("Complete"), "2024-05-01T03:00:00Z"),
        job("ok-4", Some("Complete"), "2024-05-01T04:00:00Z"),
        job("bad-1", Some("Failed"), "2024-05-01T01:30:00Z"),
        job("bad-2", Some("Failed"), "2024-05-01T02:30:00Z"),
        job("run", None, "2024-05-01T05:00:00Z"),
    ];
    let plan = next_action(&cj, &jobs, ts("2024-05-01T06:00:00Z"));
    let names: Vec<&str> = plan.delete.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["ok-1", "bad-1"]);
}

#[test]
fn missing_active_jobs_are_dropped() {
    let gone = job("hello-1", None, "2024-05-01T10:00:00Z");
    let cj = tracking(
        with_last_schedule(cronjob("0 0 1 1 *", "Allow"), "2024-01-01T00:00:00Z"),
        &[&gone],
    );
    let plan = next_action(&cj, &[], ts("2024-05-01T10:01:00Z"));
    assert_eq!(plan.status.active, None);
    assert_eq!(plan.notes[0].reason, "MissingJob");
}

#[test]
fn suspended_bad_schedule_and_time_zones_start_nothing() {
    let mut cj = cronjob("* * * * *", "Allow");
    if let Some(s) = cj.spec.as_mut() {
        s.suspend = Some(true);
    }
    let plan = next_action(&cj, &[], ts("2024-05-02T00:00:00Z"));
    assert_eq!((plan.create, plan.requeue_after), (None, None));

    let cj = cronjob("61 * * * *", "Allow");
    let plan = next_action(&cj, &[], ts("2024-05-02T00:00:00Z"));
    assert_eq!(plan.create, None);
    assert_eq!(plan.notes[0].reason, "UnparseableSchedule");

    let mut cj = cronjob("* * * * *", "Allow");
    if let Some(s) = cj.spec.as_mut() {
        s.time_zone = Some("Europe/Berlin".into());
    }
    let plan = next_action(&cj, &[], ts("2024-05-02T00:00:00Z"));
    assert_eq!(plan.create, None);
    assert_eq!(plan.notes[0].reason, "UnknownTimeZone");
    if let Some(s) = cj.spec.as_mut() {
        s.time_zone = Some("Etc/UTC".into());
    }
    assert!(
        next_action(&cj, &[], ts("2024-05-02T00:00:00Z"))
            .create
            .is_some()
    );
}

#[test]
fn first_firing_counts_from_creation() {
    let cj = cronjob("*/5 * * * *", "Allow");
    let plan = next_action(&cj, &[], ts("2024-05-01T10:04:59Z"));
    assert_eq!(
        plan.create, None,
        "created at 10:00:30, so 10:00 is not due"
    );
}
