//! The CronJob controller against the real API. Real minutes do not pass: the CronJob's
//! `lastScheduleTime` is set in the past so that a `* * * * *` schedule is due at once; the
//! scheduling rules themselves are unit-tested with an injected clock (`cronjob::plan`).

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events(client: &kube::Client, object: &str) -> Result<Vec<(String, String)>> {
    let events: Api<Event> = Api::default_namespaced(client.clone());
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(object))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}

#[tokio::test]
async fn due_cronjob_starts_a_job_tracks_it_and_cleans_up_history() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::cronjob::spawn(client.clone());
    let cronjobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());

    let cj: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "hello"},
        "spec": {
            "schedule": "* * * * *",
            "suspend": true,
            "successfulJobsHistoryLimit": 0,
            "jobTemplate": {
                "metadata": {"labels": {"app": "hello"}},
                "spec": {"template": {"spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "hello", "image": "busybox", "command": ["date"]}],
                }}},
            },
        },
    }))?;
    let cj = cronjobs.create(&PostParams::default(), &cj).await?;
    let five_minutes_ago = Timestamp::now() - SignedDuration::from_mins(5);
    let status = json!({"status": {"lastScheduleTime": five_minutes_ago.strftime("%Y-%m-%dT%H:%M:00Z").to_string()}});
    cronjobs
        .patch_status("hello", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let resume = json!({"spec": {"suspend": false}});
    cronjobs
        .patch("hello", &PatchParams::default(), &Patch::Merge(&resume))
        .await?;

    let job = eventually("a job", || async {
        Ok(jobs
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .next())
    })
    .await?;
    let name = job.metadata.name.clone().ok_or("job without name")?;
    let minutes: i64 = name
        .strip_prefix("hello-")
        .ok_or("job name not hello-<minutes>")?
        .parse()?;
    let scheduled = Timestamp::from_second(minutes * 60)?;
    assert!(Timestamp::now().duration_since(scheduled) < SignedDuration::from_mins(2));
    let annotations = job.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
            .map(String::as_str),
        Some(scheduled.to_string().as_str())
    );
    assert_eq!(
        job.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str),
        Some("hello")
    );
    let owner = &job.metadata.owner_references.as_ref().ok_or("no owner")?[0];
    assert_eq!(Some(&owner.uid), cj.metadata.uid.as_ref());

    let tracked = eventually("job in status.active", || async {
        let cj = cronjobs.get("hello").await?;
        let active = cj
            .status
            .as_ref()
            .and_then(|s| s.active.clone())
            .unwrap_or_default();
        Ok((!active.is_empty()).then_some(cj))
    })
    .await?;
    let status = tracked.status.ok_or("no status")?;
    assert_eq!(
        status.active.as_ref().map(|a| a[0].name.clone()),
        Some(Some(name.clone()))
    );
    assert_eq!(status.last_schedule_time.map(|t| t.0), Some(scheduled));
    let created = events(&client, "hello").await?;
    assert!(created.contains(&("SuccessfulCreate".into(), format!("Created job {name}"))));

    // The job finishes: the CronJob notices, records the success, and with a history limit
    // of 0 deletes it.
    let done = json!({"status": {
        "startTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "completionTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True"},
            {"type": "Complete", "status": "True"},
        ],
    }});
    jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&done))
        .await?;
    eventually("finished job deleted", || async {
        Ok(jobs.get_opt(&name).await?.is_none().then_some(()))
    })
    .await?;
    let cj = eventually("status updated", || async {
        let cj = cronjobs.get("hello").await?;
        let s = cj.status.clone().unwrap_or_default();
        Ok((s.active.is_none() && s.last_successful_time.is_some()).then_some(cj))
    })
    .await?;
    assert!(cj.status.is_some());
    let all = eventually("events", || async {
        let all = events(&client, "hello").await?;
        Ok(all
            .iter()
            .any(|(r, _)| r == "SuccessfulDelete")
            .then_some(all))
    })
    .await?;
    assert!(all.contains(&(
        "SawCompletedJob".into(),
        format!("Saw completed job: {name}, condition: Complete")
    )));
    assert!(all.contains(&("SuccessfulDelete".into(), format!("Deleted job {name}"))));
    Ok(())
}
