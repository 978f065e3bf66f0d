//! The Deployment controller: Deployment → ReplicaSets (one per template, named
//! `<deployment>-<pod-template-hash>`, with revision annotations) → pods, as Kubernetes'
//! does. RollingUpdate (maxSurge/maxUnavailable, minReadySeconds) and Recreate rollouts,
//! proportional scaling mid-rollout, paused Deployments (scaled but not rolled out),
//! `revisionHistoryLimit`, status with the Available and Progressing conditions
//! (`progressDeadlineSeconds`), so that `kubectl rollout status/history/undo/restart/pause/
//! resume` work. Beyond Kubernetes: `tutti.dev/auto-rollback: "true"` rolls a revision that
//! misses its deadline back to the last good one ([`rollback`]). Events: ScalingReplicaSet,
//! ReplicaSetCreateError, SelectingAll, RolledBack, RollbackSkipped.
//!
//! Layout: wiring and the top of the reconcile here; [`sync`] holds the round's state and
//! its ReplicaSet writes, [`strategy`] the rollout strategies, [`status`] and [`progress`]
//! the status and conditions, [`rollout`] the pure arithmetic, [`hash`] the template hash,
//! [`annotations`] and [`history`] the revision bookkeeping.

pub mod annotations;
pub mod hash;
pub mod history;
pub mod progress;
mod rollback;
pub mod rollout;
pub mod status;
mod strategy;
mod sync;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tracing::Instrument;
use tutti_client::{EventType, Recorder};
use tutti_core::labels::{Selector, SelectorError};

use crate::pods::{self, Claim};
use crate::replicaset::backoff::ErrorBackoff;
use crate::replicaset::claim::{self, is_not_found};
use rollout::InvalidLimit;
use sync::Round;

/// How often every Deployment is reconciled even when nothing happened.
const RESYNC: Duration = Duration::from_secs(300);

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("deployment {deployment}: spec.selector is invalid: {source}")]
    Selector {
        deployment: String,
        source: SelectorError,
    },
    #[error(transparent)]
    Limit(#[from] InvalidLimit),
    #[error(
        "deployment {deployment}: replica set name for hash {hash} is taken by another template; retrying with status.collisionCount raised"
    )]
    HashCollision { deployment: String, hash: String },
    #[error("deployment {deployment} changed during the reconcile; starting over")]
    Changed { deployment: String },
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) client: kube::Client,
    pub(crate) recorder: Recorder,
    backoff: ErrorBackoff,
}

/// Start the controller on the current tokio runtime.
pub fn spawn(client: kube::Client) {
    crate::supervise::supervise("deployment", move || run(client.clone()));
}

async fn run(client: kube::Client) {
    let controller = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let store = controller.store();
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), "deployment-controller"),
        client: client.clone(),
        backoff: ErrorBackoff::default(),
    });
    tracing::info!("deployment controller started");
    controller
        .watches(
            Api::<ReplicaSet>::all(client),
            watcher::Config::default(),
            move |rs| deployments_for(&store, &rs),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "deployment controller stream error");
            }
        })
        .await;
}

/// Which Deployments a ReplicaSet event concerns: its controller, or for an orphan every
/// Deployment in its namespace whose selector matches it.
fn deployments_for(store: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.namespace().unwrap_or_default();
    if let Some(owner) = pods::controller_of(&rs.metadata) {
        if owner.kind == "Deployment" && owner.api_version == "apps/v1" {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    if pods::is_terminating(&rs.metadata) {
        return Vec::new();
    }
    store
        .state()
        .into_iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()))
        .filter(|d| selector_of(d).is_ok_and(|s| !s.is_empty() && s.matches(rs.labels())))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn selector_of(d: &Deployment) -> Result<Selector, SelectorError> {
    match d.spec.as_ref() {
        Some(spec) => Selector::from_label_selector(&spec.selector),
        None => Ok(Selector::everything()),
    }
}

fn error_policy(d: Arc<Deployment>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any());
    let delay = ctx.backoff.next(&key);
    match error {
        Error::Changed { .. } | Error::HashCollision { .. } => {
            tracing::debug!(deployment = %key, error = %error, retry_in = ?delay, "reconcile restarts")
        }
        Error::Api(e) if claim::is_conflict(e) => {
            tracing::debug!(deployment = %key, error = %error, retry_in = ?delay, "write conflict")
        }
        _ => {
            tracing::warn!(deployment = %key, error = %error, retry_in = ?delay, "reconcile failed")
        }
    }
    Action::requeue(delay)
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let key = format!("{ns}/{name}");
    let span = tracing::debug_span!("reconcile", kind = "Deployment", key = %key);
    let result = sync_deployment(&ctx, &ns, &name).instrument(span).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// Kubernetes' `syncDeployment`.
async fn sync_deployment(ctx: &Context, ns: &str, name: &str) -> Result<Action, Error> {
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let Some(d) = api.get_opt(name).await? else {
        return Ok(Action::await_change());
    };
    let selector = selector_of(&d).map_err(|source| Error::Selector {
        deployment: format!("{ns}/{name}"),
        source,
    })?;
    if selector.is_empty() {
        return select_all(ctx, d).await;
    }
    let rss = claim_replica_sets(ctx, &d, &selector).await?;
    let limits = rollout::limits(&d)?;
    let mut round = Round::new(ctx, d, rss, limits);
    if pods::is_terminating(&round.d.metadata) {
        round.sync_new_rs(false).await?;
        round.sync_deployment_status().await?;
        return Ok(Action::await_change());
    }
    if let Some(status) = progress::paused_status(&round.d, round.now) {
        round.write_status(status).await?;
    }
    if progress::is_paused(&round.d) || round.is_scaling_event() {
        round.scale_only().await?;
    } else if rollout::is_rolling(&round.d) {
        round.rolling().await?;
    } else {
        round.recreate().await?;
    }
    Ok(Action::requeue(
        round.requeue.map_or(RESYNC, |r| r.min(RESYNC)),
    ))
}

/// A Deployment with an empty selector would take every pod in its namespace: refuse.
async fn select_all(ctx: &Context, d: Deployment) -> Result<Action, Error> {
    let msg = "This deployment is selecting all pods. A non-empty selector is required.";
    ctx.recorder
        .publish(
            &tutti_client::reference(&d),
            EventType::Warning,
            "SelectingAll",
            msg,
        )
        .await;
    let status = d.status.clone().unwrap_or_default();
    if status.observed_generation < d.metadata.generation {
        let mut updated = d.clone();
        updated.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
            observed_generation: d.metadata.generation,
            ..status
        });
        Api::<Deployment>::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default())
            .replace_status(&d.name_any(), &Default::default(), &updated)
            .await?;
    }
    Ok(Action::await_change())
}

/// The ReplicaSets this Deployment owns, after adopting matching orphans and releasing
/// owned ones that no longer match.
async fn claim_replica_sets(
    ctx: &Context,
    d: &Deployment,
    selector: &Selector,
) -> Result<Vec<ReplicaSet>, Error> {
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let uid = d.uid().unwrap_or_default();
    let deleting = pods::is_terminating(&d.metadata);
    let mut owned = Vec::new();
    for rs in api.list(&ListParams::default()).await?.items {
        match pods::claim(&uid, deleting, selector, &rs.metadata) {
            Claim::Owned => owned.push(rs),
            Claim::Adopt => {
                let Some(owner) = pods::controller_ref(d) else {
                    continue;
                };
                match claim::adopt(&api, &rs, &owner).await {
                    Ok(adopted) => owned.push(adopted),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Claim::Release => match claim::release(&api, &rs, &uid).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            },
            Claim::Ignore => {}
        }
    }
    Ok(owned)
}
