//! Unit tests of the Job decision.

use super::*;
use crate::job::backoff::{BACKOFF_CAP, backoff_delay, backoff_remaining};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, PodCondition, PodSpec, PodStatus,
    PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn job(completions: Option<i32>, parallelism: i32) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some("pi".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(6),
            template: PodTemplateSpec {
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn pod(name: &str, phase: &str, created: i64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(Time(at(created))),
            ..Default::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
    }
}

fn finished(name: &str, phase: &str, finished: i64) -> Pod {
    let mut p = pod(name, phase, finished - 5);
    if let Some(s) = p.status.as_mut() {
        s.container_statuses = Some(vec![ContainerStatus {
            name: "c".into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: i32::from(phase == "Failed"),
                    finished_at: Some(Time(at(finished))),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
    }
    p
}

fn ready(mut p: Pod) -> Pod {
    if let Some(s) = p.status.as_mut() {
        s.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        }]);
    }
    p
}

fn cond<'a>(plan: &'a JobPlan, type_: &str) -> Option<&'a JobCondition> {
    condition(&plan.status, type_)
}

/// Apply a plan's status to the job, as the shell does.
fn with_status(mut j: Job, plan: &JobPlan) -> Job {
    j.status = Some(plan.status.clone());
    j
}

#[test]
fn starts_up_to_parallelism_and_sets_start_time() {
    let plan = decide(&job(Some(5), 2), &[], at(0));
    assert_eq!(plan.create, 2);
    assert!(plan.delete.is_empty());
    assert_eq!(plan.status.active, Some(2));
    assert_eq!(plan.status.start_time, Some(Time(at(0))));
    assert_eq!(plan.status.ready, Some(0));
}

#[test]
fn never_more_active_than_remaining_completions() {
    let pods = [
        finished("a", "Succeeded", 1),
        finished("b", "Succeeded", 2),
        pod("c", "Running", 3),
    ];
    let plan = decide(&job(Some(3), 3), &pods, at(10));
    assert_eq!(plan.create, 0, "one running pod covers the last completion");
    assert_eq!(plan.status.succeeded, Some(2));
    assert_eq!(plan.status.active, Some(1));
    let plan = decide(&job(Some(4), 3), &pods, at(10));
    assert_eq!(plan.create, 1);
}

#[test]
fn completes_when_completions_reached() {
    let j = job(Some(2), 1);
    let pods = [finished("a", "Succeeded", 1), finished("b", "Succeeded", 2)];
    let plan = decide(&j, &pods, at(10));
    assert_eq!(plan.create, 0);
    assert!(cond(&plan, "SuccessCriteriaMet").is_some());
    let complete = cond(&plan, "Complete").expect("Complete");
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(plan.status.completion_time, Some(Time(at(10))));
    assert_eq!(
        plan.notes,
        vec![note(EventType::Normal, "Completed", "Job completed")]
    );
    assert_eq!(plan.status.active, None);
    assert_eq!(plan.status.succeeded, Some(2));
    // A finished job is left alone.
    let again = decide(&with_status(j, &plan), &pods, at(20));
    assert_eq!(again.status, plan.status);
    assert!(again.notes.is_empty());
    assert_eq!(again.requeue_after, None);
}

#[test]
fn success_deletes_leftover_active_pods_before_complete() {
    let pods = [finished("a", "Succeeded", 1), pod("b", "Running", 2)];
    let plan = decide(&job(Some(1), 2), &pods, at(10));
    assert_eq!(plan.delete, vec!["b".to_string()]);
    assert!(cond(&plan, "SuccessCriteriaMet").is_some());
    assert!(
        cond(&plan, "Complete").is_none(),
        "waits for b to terminate"
    );
}

#[test]
fn work_queue_completes_when_one_succeeded_and_none_active() {
    let j = job(None, 3);
    let pods = [finished("a", "Succeeded", 1), pod("b", "Running", 2)];
    let plan = decide(&j, &pods, at(10));
    assert_eq!(plan.create, 0, "no new pods after a success");
    assert!(plan.delete.is_empty(), "others may finish");
    assert!(cond(&plan, "Complete").is_none());
    let pods = [finished("a", "Succeeded", 1), finished("b", "Failed", 2)];
    let plan = decide(&j, &pods, at(10));
    assert!(cond(&plan, "Complete").is_some());
}

#[test]
fn failed_pods_are_replaced_after_back_off() {
    let j = job(Some(1), 1);
    let pods = [finished("a", "Failed", 100)];
    let plan = decide(&j, &pods, at(105));
    assert_eq!(plan.create, 0);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(5)));
    assert_eq!(plan.status.failed, Some(1));
    let plan = decide(&j, &pods, at(110));
    assert_eq!(plan.create, 1);
    let two = [finished("a", "Failed", 100), finished("b", "Failed", 120)];
    let plan = decide(&j, &two, at(135));
    assert_eq!(
        plan.requeue_after,
        Some(Duration::from_secs(5)),
        "20 s after the 2nd failure"
    );
}

#[test]
fn back_off_doubles_and_caps_and_resets_after_success() {
    assert_eq!(backoff_delay(1), Duration::from_secs(10));
    assert_eq!(backoff_delay(2), Duration::from_secs(20));
    assert_eq!(backoff_delay(4), Duration::from_secs(80));
    assert_eq!(backoff_delay(6), Duration::from_secs(320));
    assert_eq!(backoff_delay(7), BACKOFF_CAP);
    assert_eq!(backoff_delay(1000), BACKOFF_CAP);
    let ok = finished("ok", "Succeeded", 50);
    let old = finished("old", "Failed", 40);
    let new = finished("new", "Failed", 60);
    assert_eq!(
        backoff_remaining(&[&ok], &[&old, &new], at(65)),
        Some(Duration::from_secs(5)),
        "only the failure after the success counts"
    );
}

#[test]
fn backoff_limit_exceeded_fails_the_job() {
    let mut j = job(Some(1), 2);
    if let Some(s) = j.spec.as_mut() {
        s.backoff_limit = Some(1);
    }
    let pods = [finished("a", "Failed", 1), finished("b", "Failed", 2)];
    let plan = decide(&j, &pods, at(10));
    assert_eq!(plan.create, 0);
    let failed = cond(&plan, "Failed").expect("Failed");
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        failed.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert!(cond(&plan, "FailureTarget").is_some());
    assert_eq!(
        plan.notes,
        vec![note(
            EventType::Warning,
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit"
        )]
    );
    assert_eq!(plan.status.completion_time, None);
    // One failure is within the limit.
    let plan = decide(&j, &pods[..1], at(10));
    assert!(cond(&plan, "FailureTarget").is_none());
}

#[test]
fn on_failure_restarts_count_toward_the_limit() {
    let mut j = job(Some(1), 1);
    if let Some(s) = j.spec.as_mut() {
        s.backoff_limit = Some(2);
        if let Some(p) = s.template.spec.as_mut() {
            p.restart_policy = Some("OnFailure".into());
        }
    }
    let mut p = pod("a", "Running", 0);
    if let Some(s) = p.status.as_mut() {
        s.container_statuses = Some(vec![ContainerStatus {
            name: "c".into(),
            restart_count: 2,
            ..Default::default()
        }]);
    }
    let plan = decide(&j, &[p], at(10));
    assert_eq!(
        plan.delete,
        vec!["a".to_string()],
        "the active pod is killed"
    );
    assert!(cond(&plan, "FailureTarget").is_some());
    assert!(cond(&plan, "Failed").is_none(), "until it is gone");
    assert_eq!(plan.status.failed, Some(1));
    // Next round: the pod is gone.
    let plan = decide(&with_status(j, &plan), &[], at(11));
    let failed = cond(&plan, "Failed").expect("Failed");
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(plan.status.failed, Some(1), "kept from the last status");
}

#[test]
fn active_deadline_kills_pods_and_fails() {
    let mut j = job(Some(1), 1);
    if let Some(s) = j.spec.as_mut() {
        s.active_deadline_seconds = Some(30);
    }
    j.status = Some(JobStatus {
        start_time: Some(Time(at(0))),
        ..Default::default()
    });
    let pods = [pod("a", "Running", 1)];
    let plan = decide(&j, &pods, at(20));
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(10)));
    assert!(plan.delete.is_empty());
    let plan = decide(&j, &pods, at(30));
    assert_eq!(plan.delete, vec!["a".to_string()]);
    let target = cond(&plan, "FailureTarget").expect("FailureTarget");
    assert_eq!(target.reason.as_deref(), Some("DeadlineExceeded"));
    let plan = decide(&with_status(j, &plan), &[], at(31));
    let failed = cond(&plan, "Failed").expect("Failed");
    assert_eq!(
        failed.message.as_deref(),
        Some("Job was active longer than specified deadline")
    );
    assert_eq!(plan.notes[0].reason, "DeadlineExceeded");
    assert_eq!(plan.notes[0].type_, EventType::Warning);
}

#[test]
fn suspend_deletes_active_pods_and_resume_resets_start_time() {
    let mut j = job(Some(3), 2);
    if let Some(s) = j.spec.as_mut() {
        s.suspend = Some(true);
    }
    let plan = decide(&j, &[], at(0));
    assert_eq!(plan.create, 0);
    assert_eq!(
        plan.status.start_time, None,
        "a job created suspended has not started"
    );
    j.status = Some(JobStatus {
        start_time: Some(Time(at(0))),
        ..Default::default()
    });
    let pods = [ready(pod("a", "Running", 1)), pod("b", "Pending", 2)];
    let plan = decide(&j, &pods, at(10));
    assert_eq!(plan.delete, vec!["a".to_string(), "b".to_string()]);
    let suspended = cond(&plan, "Suspended").expect("Suspended");
    assert_eq!(suspended.reason.as_deref(), Some("JobSuspended"));
    assert_eq!(plan.notes[0].reason, "Suspended");
    assert_eq!(plan.status.active, None);
    assert_eq!(plan.status.terminating, Some(2));
    let mut j = with_status(j, &plan);
    if let Some(s) = j.spec.as_mut() {
        s.suspend = Some(false);
    }
    let plan = decide(&j, &[], at(100));
    assert_eq!(plan.create, 2);
    assert_eq!(plan.status.start_time, Some(Time(at(100))));
    assert_eq!(plan.notes[0].reason, "Resumed");
    let resumed = plan
        .status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Suspended")
        .expect("condition kept");
    assert_eq!(resumed.status, "False");
}

#[test]
fn scaling_down_parallelism_deletes_the_least_useful_pods() {
    let mut running = ready(pod("running", "Running", 1));
    if let Some(s) = running.spec.as_mut() {
        s.node_name = Some("n1".into());
    }
    let mut pending = pod("pending", "Pending", 2);
    if let Some(s) = pending.spec.as_mut() {
        s.node_name = Some("n1".into());
    }
    let unscheduled = pod("unscheduled", "Pending", 0);
    let plan = decide(&job(Some(10), 1), &[running, pending, unscheduled], at(10));
    assert_eq!(
        plan.delete,
        vec!["unscheduled".to_string(), "pending".to_string()]
    );
    assert_eq!(plan.status.ready, Some(1));
    assert_eq!(plan.create, 0);
}

#[test]
fn terminating_pods_block_replacement_only_with_policy_failed() {
    let mut gone = pod("gone", "Running", 0);
    gone.metadata.deletion_timestamp = Some(Time(at(5)));
    let mut j = job(Some(1), 1);
    let plan = decide(&j, std::slice::from_ref(&gone), at(10));
    assert_eq!(plan.create, 1, "TerminatingOrFailed replaces at once");
    assert_eq!(plan.status.terminating, Some(1));
    if let Some(s) = j.spec.as_mut() {
        s.pod_replacement_policy = Some("Failed".into());
    }
    let plan = decide(&j, &[gone], at(10));
    assert_eq!(plan.create, 0);
}

#[test]
fn ttl_after_finished_deletes_the_job_in_time() {
    let mut j = job(Some(1), 1);
    if let Some(s) = j.spec.as_mut() {
        s.ttl_seconds_after_finished = Some(60);
    }
    let plan = decide(&j, &[finished("a", "Succeeded", 1)], at(10));
    let j = with_status(j, &plan);
    let plan = decide(&j, &[], at(40));
    assert!(!plan.delete_job);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
    let plan = decide(&j, &[], at(70));
    assert!(plan.delete_job);
}

#[test]
fn counts_never_go_down_when_finished_pods_are_deleted() {
    let mut j = job(Some(5), 1);
    j.status = Some(JobStatus {
        succeeded: Some(3),
        failed: Some(1),
        start_time: Some(Time(at(0))),
        ..Default::default()
    });
    let plan = decide(&j, &[finished("x", "Succeeded", 1)], at(100));
    assert_eq!(plan.status.succeeded, Some(3));
    assert_eq!(plan.status.failed, Some(1));
}
