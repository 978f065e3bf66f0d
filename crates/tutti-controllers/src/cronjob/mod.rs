//! The CronJob controller: starts a Job from `jobTemplate` at each firing of `schedule`
//! (UTC only: a `timeZone` other than UTC is refused with a Warning event), honouring
//! `startingDeadlineSeconds`, `concurrencyPolicy` (Allow/Forbid/Replace) and `suspend`,
//! keeps `status.active`/`lastScheduleTime`/`lastSuccessfulTime`, and deletes finished Jobs
//! past the history limits.
//!
//! A keyed `kube::runtime::Controller` over CronJobs and the Jobs they own, requeued just
//! after the next firing; each reconcile lists the Jobs live and hands them, with the time,
//! to the pure [`plan::next_action`] (see [`schedule`] for the time arithmetic).

pub mod plan;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use tutti_client::{EventType, Recorder, reference};

use crate::replicaset::backoff::ErrorBackoff;

use plan::{finished, job_reference};

/// How often a CronJob is looked at even when nothing changed.
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cronjob {cronjob}: {source}")]
    Api {
        cronjob: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    backoff: ErrorBackoff,
}

/// Start the controller on the current runtime (started again if a reconcile panics).
pub fn spawn(client: kube::Client) {
    crate::supervise::supervise("cronjob", move || run(client.clone()));
}

async fn run(client: kube::Client) {
    let ctx = Arc::new(Context {
        backoff: ErrorBackoff::default(),
        recorder: Recorder::new(client.clone(), "cronjob-controller"),
        client: client.clone(),
    });
    let controller = Controller::new(
        Api::<CronJob>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config())
    .owns(Api::<Job>::all(client), watcher::Config::default())
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {});
    controller.await;
}

fn key(cj: &CronJob) -> String {
    format!("{}/{}", cj.namespace().unwrap_or_default(), cj.name_any())
}

fn error_policy(cj: Arc<CronJob>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key(&cj);
    let retry_in = ctx.backoff.next(&key);
    tracing::debug!(cronjob = %key, error = %error, ?retry_in, "cronjob reconcile failed; retrying");
    Action::requeue(retry_in)
}

async fn reconcile(cj: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    let action = sync(cj.clone(), ctx.clone()).await?;
    ctx.backoff.reset(&key(&cj));
    Ok(action)
}

#[tracing::instrument(skip_all, fields(kind = "CronJob", key = %key(&cj)))]
async fn sync(cj: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api_err = |source| Error::Api {
        cronjob: key(&cj),
        source,
    };
    let ns = cj.namespace().unwrap_or_default();
    let jobs_api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let jobs: Vec<Job> = jobs_api
        .list(&ListParams::default())
        .await
        .map_err(api_err)?
        .items
        .into_iter()
        .filter(|j| {
            j.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect();
    let now = Timestamp::now();
    let plan = plan::next_action(&cj, &jobs, now);
    let me = reference(cj.as_ref());

    for job in &plan.delete {
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: job.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match jobs_api.delete(&job.name, &dp).await {
            Ok(_) => {
                tracing::info!(job = %job.name, "deleted job");
                ctx.recorder
                    .publish(
                        &me,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted job {}", job.name),
                    )
                    .await;
            }
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(api_err(e)),
        }
    }

    let mut status = plan.status.clone();
    if let Some(job) = &plan.create {
        let name = job.name_any();
        let created = match jobs_api.create(&PostParams::default(), job).await {
            Ok(created) => {
                tracing::info!(job = %name, "created job");
                ctx.recorder
                    .publish(
                        &me,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created job {name}"),
                    )
                    .await;
                created
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                // Created by an earlier attempt whose status write was lost? Then it is ours.
                match jobs_api.get_opt(&name).await.map_err(api_err)? {
                    Some(existing)
                        if existing
                            .owner_references()
                            .iter()
                            .any(|o| o.controller == Some(true) && o.uid == uid) =>
                    {
                        existing
                    }
                    _ => {
                        let message = format!(
                            "Error creating job: job {name:?} already exists and is not owned by this CronJob"
                        );
                        ctx.recorder
                            .publish(&me, EventType::Warning, "FailedCreate", &message)
                            .await;
                        return Err(api_err(kube::Error::Api(e)));
                    }
                }
            }
            Err(e) => {
                ctx.recorder
                    .publish(
                        &me,
                        EventType::Warning,
                        "FailedCreate",
                        &format!("Error creating job: {e}"),
                    )
                    .await;
                return Err(api_err(e));
            }
        };
        if finished(&created).is_none() {
            status
                .active
                .get_or_insert_with(Vec::new)
                .push(job_reference(&created));
        }
    }

    if cj.status.as_ref() != Some(&status) {
        let mut next = (*cj).clone();
        next.status = Some(status);
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), &ns);
        api.replace_status(&cj.name_any(), &PostParams::default(), &next)
            .await
            .map_err(api_err)?;
    }
    for note in &plan.notes {
        tracing::debug!(reason = note.reason, message = %note.message, "cronjob event");
        ctx.recorder
            .publish(&me, note.type_, note.reason, &note.message)
            .await;
    }
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}
