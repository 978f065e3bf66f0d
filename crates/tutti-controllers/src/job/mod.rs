//! The Job controller: runs a Job's pods to completion. Creates pods from the template up to
//! `parallelism` while fewer than `completions` have succeeded, replaces failed ones after an
//! exponential back-off, fails the Job past `backoffLimit` or `activeDeadlineSeconds`,
//! honours `suspend`, and deletes the Job `ttlSecondsAfterFinished` after it finished.
//!
//! A keyed `kube::runtime::Controller` over Jobs and the pods they own; each reconcile lists
//! the Job's pods live (so it never acts on a stale cache) and hands them to the pure
//! [`plan::decide`].
//!
//! Not supported yet: `completionMode: Indexed` (refused with a Warning event), pod failure
//! policy, success policy, adoption of orphaned pods matching a manual selector.

pub mod backoff;
pub mod plan;

use crate::pod_feed::{PodChanges, PodFeed};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tutti_client::{EventType, Recorder, reference};
use tutti_core::labels::{Selector, SelectorError};

use crate::pod_creation::create_in_batches;
use crate::pods::{controller_of, controller_ref, pod_from_template};
use crate::replicaset::backoff::ErrorBackoff;

/// How often a Job is looked at even when nothing changed.
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("job {job}: spec.selector: {source}")]
    Selector {
        job: String,
        #[source]
        source: SelectorError,
    },
    #[error("job {job}: {source}")]
    Api {
        job: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    backoff: ErrorBackoff,
}

/// Start the controller on the current tokio runtime, with a pod watch of its own.
pub fn spawn(client: kube::Client) {
    let pods = PodFeed::default();
    spawn_with(client.clone(), &pods);
    pods.start(client);
}

/// Start the controller on the current tokio runtime, following pods through `pods`.
pub fn spawn_with(client: kube::Client, pods: &PodFeed) {
    let changes = pods.subscriber();
    crate::supervise::supervise("job", move || run(client.clone(), changes()));
}

async fn run(client: kube::Client, pods: PodChanges) {
    let ctx = Arc::new(Context {
        backoff: ErrorBackoff::default(),
        recorder: Recorder::new(client.clone(), "job-controller"),
        client: client.clone(),
    });
    let controller = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .with_config(crate::reconcile_config())
        .owns_shared_stream(pods)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    controller.await;
}

fn key(job: &Job) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

fn error_policy(job: Arc<Job>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key(&job);
    let retry_in = ctx.backoff.next(&key);
    tracing::debug!(job = %key, error = %error, ?retry_in, "job reconcile failed; retrying");
    Action::requeue(retry_in)
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    let action = sync(job.clone(), ctx.clone()).await?;
    ctx.backoff.reset(&key(&job));
    Ok(action)
}

#[tracing::instrument(skip_all, fields(kind = "Job", key = %key(&job)))]
async fn sync(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api_err = |source| Error::Api {
        job: key(&job),
        source,
    };
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = job.spec.as_ref();
    if spec.and_then(|s| s.completion_mode.as_deref()) == Some("Indexed") {
        ctx.recorder
            .publish(
                &reference(job.as_ref()),
                EventType::Warning,
                "UnsupportedCompletionMode",
                "completionMode Indexed is not supported by tutti yet; no pods are created",
            )
            .await;
        return Ok(Action::await_change());
    }
    let pods = owned_pods(&ctx.client, &job).await?;
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::now());
    let plan = plan::decide(&job, &pods, now);

    if plan.delete_job {
        tracing::info!("ttlSecondsAfterFinished ran out; deleting the job");
        match jobs.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(api_err(e)),
        }
        return Ok(Action::await_change());
    }

    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    for pod in &plan.delete {
        match pods_api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::debug!(pod = %pod, "deleted pod");
                ctx.recorder
                    .publish(
                        &reference(job.as_ref()),
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {pod}"),
                    )
                    .await;
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(api_err(e)),
        }
    }
    create_pods(&ctx, &job, &pods_api, plan.create)
        .await
        .map_err(api_err)?;

    if job.status.as_ref() != Some(&plan.status) {
        let mut next = (*job).clone();
        next.status = Some(plan.status.clone());
        jobs.replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(api_err)?;
    }
    for note in &plan.notes {
        tracing::info!(reason = %note.reason, message = %note.message, "job event");
        ctx.recorder
            .publish(
                &reference(job.as_ref()),
                note.type_,
                &note.reason,
                &note.message,
            )
            .await;
    }
    Ok(match plan.requeue_after {
        Some(after) => Action::requeue(after.min(RESYNC)),
        // A finished Job without a TTL has nothing left to happen to it.
        None if plan::finished_at(&plan.status).is_some() => Action::await_change(),
        None => Action::requeue(RESYNC),
    })
}

/// The pods this Job controls: matching its selector, with it as controller owner.
async fn owned_pods(client: &kube::Client, job: &Job) -> Result<Vec<Pod>, Error> {
    let selector = job
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(Selector::from_label_selector)
        .transpose()
        .map_err(|source| Error::Selector {
            job: key(job),
            source,
        })?
        .unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &job.namespace().unwrap_or_default());
    let list = api
        .list(&ListParams::default().labels(&selector.to_string()))
        .await
        .map_err(|source| Error::Api {
            job: key(job),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
        .collect())
}

/// Create `count` pods in slow-start batches (1, 2, 4, ...) so a failing template costs one
/// error, not hundreds; stops at the first error.
async fn create_pods(
    ctx: &Context,
    job: &Job,
    api: &Api<Pod>,
    count: usize,
) -> Result<(), kube::Error> {
    // A Job read from the API always has the name and uid a reference needs.
    let Some(owner) = controller_ref(job) else {
        return Ok(());
    };
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let pod = pod_from_template(&template, owner, &job.namespace().unwrap_or_default());
    create_in_batches(api, &ctx.recorder, &reference(job), vec![pod; count]).await
}
