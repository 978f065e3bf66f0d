//! The Job controller against the real API. No scheduler or agent runs: the tests play the
//! agent by patching pod phases.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

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

struct Fixture {
    client: kube::Client,
    jobs: Api<Job>,
    pods: Api<Pod>,
    _api: std::sync::Arc<tutti_apiserver::ApiServer>,
}

async fn start() -> Result<Fixture> {
    let (api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::job::spawn(client.clone());
    Ok(Fixture {
        jobs: Api::default_namespaced(client.clone()),
        pods: Api::default_namespaced(client.clone()),
        client,
        _api: api,
    })
}

impl Fixture {
    async fn create_job(&self, name: &str, spec: Value) -> Result<Job> {
        let mut spec = spec;
        spec["template"] = json!({"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "print 1"]}],
        }});
        let job: Job = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))?;
        Ok(self.jobs.create(&PostParams::default(), &job).await?)
    }

    async fn job_pods(&self, job: &str) -> Result<Vec<Pod>> {
        let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
        Ok(self.pods.list(&lp).await?.items)
    }

    async fn wait_pods(&self, job: &str, n: usize) -> Result<Vec<Pod>> {
        eventually(&format!("{n} pods of {job}"), || async {
            let pods = self.job_pods(job).await?;
            Ok((pods.len() == n).then_some(pods))
        })
        .await
    }

    /// Play the agent: the pod ran and finished with this phase (an hour ago, so no
    /// back-off is pending).
    async fn finish(&self, pod: &Pod, phase: &str) -> Result {
        let name = pod.metadata.name.as_deref().ok_or("pod without name")?;
        let finished = Timestamp::now() - SignedDuration::from_hours(1);
        let exit_code = if phase == "Succeeded" { 0 } else { 1 };
        let patch = json!({"status": {"phase": phase, "containerStatuses": [{
            "name": "pi", "image": "perl", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code, "finishedAt": finished.to_string()}},
        }]}});
        self.pods
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    async fn wait_condition(&self, job: &str, type_: &str) -> Result<Job> {
        eventually(&format!("{job} {type_}"), || async {
            let j = self.jobs.get(job).await?;
            let has = j
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"));
            Ok(has.then_some(j))
        })
        .await
    }

    async fn events(&self, job: &str) -> Result<Vec<(String, String)>> {
        let events: Api<Event> = Api::default_namespaced(self.client.clone());
        let mut out: Vec<(String, String)> = events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(job))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect();
        out.sort();
        Ok(out)
    }
}

fn reason_of(job: &Job, type_: &str) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?
        .reason
        .clone()
}

#[tokio::test]
async fn runs_pods_to_completion() -> Result {
    let f = start().await?;
    let job = f
        .create_job("pi", json!({"completions": 3, "parallelism": 2}))
        .await?;
    let pods = f.wait_pods("pi", 2).await?;
    let owner = &pods[0]
        .metadata
        .owner_references
        .as_ref()
        .ok_or("no owner")?[0];
    assert_eq!(owner.uid, job.metadata.uid.clone().ok_or("no uid")?);
    assert_eq!(owner.controller, Some(true));
    assert!(
        pods[0]
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("pi-"))
    );

    f.finish(&pods[0], "Succeeded").await?;
    f.finish(&pods[1], "Succeeded").await?;
    let pods = f.wait_pods("pi", 3).await?;
    let last = pods
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Succeeded"))
        .ok_or("no third pod")?;
    f.finish(last, "Succeeded").await?;

    let done = f.wait_condition("pi", "Complete").await?;
    let status = done.status.as_ref().ok_or("no status")?;
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active, None);
    assert!(status.completion_time.is_some() && status.start_time.is_some());
    assert_eq!(
        f.job_pods("pi").await?.len(),
        3,
        "finished pods are kept for their logs"
    );
    let events = eventually("Completed event", || async {
        let events = f.events("pi").await?;
        Ok(events
            .iter()
            .any(|(r, _)| r == "Completed")
            .then_some(events))
    })
    .await?;
    let created = events
        .iter()
        .filter(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: pi-"))
        .count();
    assert_eq!(created, 3);
    assert!(events.contains(&("Completed".into(), "Job completed".into())));
    Ok(())
}

#[tokio::test]
async fn replaces_failed_pods_then_fails_past_the_backoff_limit() -> Result {
    let f = start().await?;
    f.create_job("flaky", json!({"completions": 1, "backoffLimit": 1}))
        .await?;
    let pods = f.wait_pods("flaky", 1).await?;
    f.finish(&pods[0], "Failed").await?;
    let pods = f.wait_pods("flaky", 2).await?;
    let job = f.jobs.get("flaky").await?;
    assert_eq!(job.status.and_then(|s| s.failed), Some(1));
    let second = pods
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Failed"))
        .ok_or("no replacement")?;
    f.finish(second, "Failed").await?;
    let job = f.wait_condition("flaky", "Failed").await?;
    assert_eq!(
        reason_of(&job, "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(2));
    assert_eq!(
        f.job_pods("flaky").await?.len(),
        2,
        "no pod after the limit"
    );
    eventually("BackoffLimitExceeded event", || async {
        let events = f.events("flaky").await?;
        Ok(events
            .contains(&(
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into(),
            ))
            .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn active_deadline_kills_running_pods() -> Result {
    let f = start().await?;
    f.create_job(
        "slow",
        json!({"completions": 1, "activeDeadlineSeconds": 1}),
    )
    .await?;
    f.wait_pods("slow", 1).await?;
    let job = f.wait_condition("slow", "Failed").await?;
    assert_eq!(
        reason_of(&job, "Failed").as_deref(),
        Some("DeadlineExceeded")
    );
    assert_eq!(
        reason_of(&job, "FailureTarget").as_deref(),
        Some("DeadlineExceeded")
    );
    assert_eq!(
        f.job_pods("slow").await?.len(),
        0,
        "the active pod was killed"
    );
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(1));
    Ok(())
}

#[tokio::test]
async fn suspended_job_starts_when_resumed() -> Result {
    let f = start().await?;
    f.create_job(
        "later",
        json!({"completions": 2, "parallelism": 2, "suspend": true}),
    )
    .await?;
    let job = f.wait_condition("later", "Suspended").await?;
    assert!(
        job.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .is_none()
    );
    assert!(f.job_pods("later").await?.is_empty());
    let patch = json!({"spec": {"suspend": false}});
    f.jobs
        .patch("later", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    f.wait_pods("later", 2).await?;
    let pods = f.job_pods("later").await?;
    assert_eq!(pods.len(), 2);
    // Suspending again deletes the active pods.
    let patch = json!({"spec": {"suspend": true}});
    f.jobs
        .patch("later", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    f.wait_pods("later", 0).await?;
    Ok(())
}

#[tokio::test]
async fn ttl_after_finished_deletes_the_job() -> Result {
    let f = start().await?;
    f.create_job(
        "brief",
        json!({"completions": 1, "ttlSecondsAfterFinished": 0}),
    )
    .await?;
    let pods = f.wait_pods("brief", 1).await?;
    f.finish(&pods[0], "Succeeded").await?;
    eventually("job deleted", || async {
        Ok(f.jobs.get_opt("brief").await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}
