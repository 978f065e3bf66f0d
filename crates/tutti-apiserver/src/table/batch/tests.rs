use serde_json::json;

use crate::table::fixtures::{ago, row};

fn pi_template() -> serde_json::Value {
    json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}})
}

#[test]
fn completed_job_shows_its_run_time() {
    let job = json!({
        "metadata": {"name": "pi", "creationTimestamp": ago(10 * 60)},
        "spec": {"completions": 1, "parallelism": 1, "template": pi_template(),
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "8f0a6c1e"}}},
        "status": {"succeeded": 1, "startTime": ago(10 * 60), "completionTime": ago(10 * 60 - 12),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}
    });
    assert_eq!(
        row("Job", &job),
        [
            "pi",
            "Complete",
            "1/1",
            "12s",
            "10m",
            "pi",
            "perl:5.34",
            "batch.kubernetes.io/controller-uid=8f0a6c1e"
        ]
    );
}

#[test]
fn running_job_duration_counts_up_to_now() {
    let job = json!({
        "metadata": {"name": "backfill", "creationTimestamp": ago(200)},
        "spec": {"completions": 5, "parallelism": 2, "template": pi_template()},
        "status": {"succeeded": 2, "active": 2, "startTime": ago(150)}
    });
    assert_eq!(
        row("Job", &job)[..5],
        ["backfill", "Running", "2/5", "2m30s", "3m20s"]
    );
}

#[test]
fn work_queue_job_and_other_statuses() {
    let queue =
        json!({"metadata": {"name": "q"}, "spec": {"parallelism": 3}, "status": {"succeeded": 1}});
    assert_eq!(row("Job", &queue)[..4], ["q", "Running", "1/1 of 3", ""]);

    let failed = json!({"metadata": {"name": "f"}, "spec": {"completions": 1},
        "status": {"failed": 6, "conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}});
    assert_eq!(row("Job", &failed)[1], "Failed");

    let suspended = json!({"metadata": {"name": "s"}, "spec": {"suspend": true},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    assert_eq!(row("Job", &suspended)[1], "Suspended");

    let deleting = json!({"metadata": {"name": "d", "deletionTimestamp": ago(1)},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    assert_eq!(row("Job", &deleting)[1], "Terminating");
}

#[test]
fn cron_job_schedule_and_last_run() {
    let cron = json!({
        "metadata": {"name": "nightly-backup", "creationTimestamp": ago(3 * 86400)},
        "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Paris", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "backup", "image": "restic:0.16"}]}}}}},
        "status": {"active": [{"kind": "Job", "name": "nightly-backup-29144160"}], "lastScheduleTime": ago(5 * 3600)}
    });
    assert_eq!(
        row("CronJob", &cron),
        [
            "nightly-backup",
            "0 2 * * *",
            "Europe/Paris",
            "False",
            "#1",
            "5h",
            "3d",
            "backup",
            "restic:0.16",
            "<none>"
        ]
    );

    let never_ran =
        json!({"metadata": {"name": "hourly"}, "spec": {"schedule": "@hourly", "suspend": true}});
    assert_eq!(
        row("CronJob", &never_ran)[..6],
        ["hourly", "@hourly", "<none>", "True", "#0", "<none>"]
    );
}
