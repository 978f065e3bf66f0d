//! The disruption controller: keeps every PodDisruptionBudget's status current, so that the
//! API server's eviction subresource (and through it `kubectl drain`) knows how many of the
//! budget's pods may be disrupted right now.
//!
//! For each budget it lists the pods its selector matches, works out how many it expects (the
//! pods themselves for an integer `minAvailable`, else their controllers' scale, see
//! [`expected`]) and how many must stay healthy, counts the healthy ones (Running and Ready,
//! not terminating, not evicted in the last two minutes), and writes `expectedPods`,
//! `desiredHealthy`, `currentHealthy`, `disruptionsAllowed`, `observedGeneration`, the
//! `DisruptionAllowed` condition and the pruned `disruptedPods` (see [`budget`]). The status is
//! replaced with the budget's resourceVersion as precondition, so a concurrent eviction's
//! decrement is never overwritten: the write conflicts and the budget is computed again.
//!
//! Wiring: a kube-runtime `Controller` on PodDisruptionBudgets, triggered by pod events
//! mapped to the budgets whose selector matches the pod, requeued when a disruptedPods entry
//! expires, and resynced periodically (which also catches pods whose labels stopped matching).

pub mod budget;
mod expected;

use crate::pod_feed::{PodChanges, PodFeed};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tracing::Instrument;
use tutti_core::labels::{Selector, SelectorError};

use crate::replicaset::backoff::ErrorBackoff;
use crate::replicaset::claim::is_conflict;

/// How often every budget is recomputed even when no pod event arrived.
const RESYNC: Duration = Duration::from_secs(60);

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

struct Context {
    client: kube::Client,
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
    crate::supervise::supervise("disruption", move || run(client.clone(), changes()));
}

async fn run(client: kube::Client, pods: PodChanges) {
    let controller = Controller::new(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let store = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        backoff: ErrorBackoff::default(),
    });
    tracing::info!("disruption controller started");
    controller
        .watches_shared_stream(pods, move |pod| budgets_for(&store, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "disruption controller stream error");
            }
        })
        .await;
}

/// The budgets in the pod's namespace whose selector matches it.
fn budgets_for(
    store: &Store<PodDisruptionBudget>,
    pod: &Pod,
) -> Vec<ObjectRef<PodDisruptionBudget>> {
    let ns = pod.namespace().unwrap_or_default();
    store
        .state()
        .into_iter()
        .filter(|pdb| pdb.namespace().as_deref() == Some(ns.as_str()))
        .filter(|pdb| matches!(selector_of(pdb), Ok(Some(s)) if s.matches(pod.labels())))
        .map(|pdb| ObjectRef::from_obj(pdb.as_ref()))
        .collect()
}

/// The budget's selector; `None` (no `spec.selector`) selects no pods, an empty one all pods
/// of the namespace (`policy/v1`).
fn selector_of(pdb: &PodDisruptionBudget) -> Result<Option<Selector>, SelectorError> {
    match pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(sel) => Selector::from_label_selector(sel).map(Some),
        None => Ok(None),
    }
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", pdb.namespace().unwrap_or_default(), pdb.name_any());
    let delay = ctx.backoff.next(&key);
    match error {
        Error::Api(e) if is_conflict(e) => {
            tracing::debug!(pdb = %key, error = %error, retry_in = ?delay, "write conflict")
        }
        Error::Api(_) => {
            tracing::warn!(pdb = %key, error = %error, retry_in = ?delay, "reconcile failed")
        }
    }
    Action::requeue(delay)
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = pdb.namespace().unwrap_or_default();
    let name = pdb.name_any();
    let key = format!("{ns}/{name}");
    let span = tracing::debug_span!("reconcile", kind = "PodDisruptionBudget", key = %key);
    let result = sync(&ctx, &ns, &name).instrument(span).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// One pass: read the budget and its pods live, compute the status, write it if it changed.
async fn sync(ctx: &Context, ns: &str, name: &str) -> Result<Action, Error> {
    let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), ns);
    let Some(pdb) = api.get_opt(name).await? else {
        return Ok(Action::await_change());
    };
    let now = Timestamp::now();
    let selector = match selector_of(&pdb) {
        Ok(s) => s,
        Err(e) => {
            let status = budget::fail_safe(&pdb, &format!("invalid selector: {e}"), now);
            write_status(&api, &pdb, status).await?;
            return Ok(Action::requeue(RESYNC));
        }
    };
    let pods = match selector {
        None => Vec::new(),
        Some(sel) => {
            let params = if sel.is_empty() {
                ListParams::default()
            } else {
                ListParams::default().labels(&sel.to_string())
            };
            Api::<Pod>::namespaced(ctx.client.clone(), ns)
                .list(&params)
                .await?
                .items
        }
    };
    let expected = if budget::needs_scale(&pdb) {
        expected::from_controllers(&ctx.client, ns, &pods).await?
    } else {
        i32::try_from(pods.len()).unwrap_or(i32::MAX)
    };
    let (status, recheck) = budget::calculate(&pdb, &pods, expected, now);
    tracing::debug!(
        expected = status.expected_pods,
        desired = status.desired_healthy,
        healthy = status.current_healthy,
        allowed = status.disruptions_allowed,
        "budget computed"
    );
    write_status(&api, &pdb, status).await?;
    let next = recheck
        .and_then(|at| Duration::try_from(at.duration_since(now)).ok())
        .map_or(RESYNC, |d| (d + Duration::from_millis(100)).min(RESYNC));
    Ok(Action::requeue(next))
}

/// Replace the status if it changed, guarded by the resourceVersion the budget was read at.
async fn write_status(
    api: &Api<PodDisruptionBudget>,
    pdb: &PodDisruptionBudget,
    status: k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
) -> Result<(), kube::Error> {
    if pdb.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let mut new = pdb.clone();
    new.status = Some(status);
    api.replace_status(&pdb.name_any(), &PostParams::default(), &new)
        .await?;
    Ok(())
}
