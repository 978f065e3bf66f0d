//! The ReplicaSet controller: keeps `spec.replicas` active pods from the template running
//! for every ReplicaSet, as Kubernetes' does. It adopts orphan pods its selector matches,
//! releases its pods that stopped matching, creates missing pods (slow start), deletes
//! surplus ones (least valuable first), deletes finished (Failed/Succeeded) pods so they get
//! replaced, and reports status. Events: SuccessfulCreate, FailedCreate, SuccessfulDelete,
//! FailedDelete.
//!
//! Wiring: a kube-runtime `Controller` on ReplicaSets (keyed queue, one reconcile per key at
//! a time, back-off on errors, periodic resync), triggered by pod events mapped to their
//! controller (or, for orphans, to every ReplicaSet whose selector matches). Each reconcile
//! reads the ReplicaSet and its pods live from the API, so it always acts on its own
//! writes and needs no expectations cache.

pub(crate) mod backoff;
pub(crate) mod claim;
pub mod scale;
pub mod status;

use crate::pod_feed::{PodChanges, PodFeed};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::ResourceExt;
use kube::api::{Api, ListParams, ObjectList};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tracing::Instrument;
use tutti_client::Recorder;
use tutti_core::labels::{Selector, SelectorError};

use crate::pods::{self, Claim};
use backoff::ErrorBackoff;
use claim::{is_conflict, is_not_found};

/// How often every ReplicaSet is reconciled even when nothing happened.
const RESYNC: Duration = Duration::from_secs(300);

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("replicaset {namespace}/{name}: spec.selector is invalid: {source}")]
    Selector {
        namespace: String,
        name: String,
        source: SelectorError,
    },
    #[error("{reason}: {message}")]
    Pods {
        reason: &'static str,
        message: String,
    },
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) client: kube::Client,
    pub(crate) recorder: Recorder,
    backoff: ErrorBackoff,
    /// Pods the watch saw owned by a ReplicaSet whose selector they no longer match, by
    /// ReplicaSet key: the reconcile releases them (the live list by selector cannot see them).
    strays: Mutex<HashMap<String, BTreeSet<String>>>,
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
    crate::supervise::supervise("replicaset", move || run(client.clone(), changes()));
}

async fn run(client: kube::Client, pods: PodChanges) {
    let controller = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let store = controller.store();
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), "replicaset-controller"),
        client: client.clone(),
        backoff: ErrorBackoff::default(),
        strays: Mutex::default(),
    });
    let mapper_ctx = ctx.clone();
    tracing::info!("replicaset controller started");
    controller
        .watches_shared_stream(pods, move |pod| replica_sets_for(&store, &mapper_ctx, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "replicaset controller stream error");
            }
        })
        .await;
}

/// Which ReplicaSets a pod event concerns: its controller, or for an orphan every
/// ReplicaSet in its namespace whose selector matches it.
fn replica_sets_for(
    store: &Store<ReplicaSet>,
    ctx: &Context,
    pod: &Pod,
) -> Vec<ObjectRef<ReplicaSet>> {
    let ns = pod.namespace().unwrap_or_default();
    if let Some(owner) = pods::controller_of(&pod.metadata) {
        if owner.kind != "ReplicaSet" || owner.api_version != "apps/v1" {
            return Vec::new();
        }
        let key = ObjectRef::new(&owner.name).within(&ns);
        if let Some(rs) = store.get(&key)
            && rs.uid().as_deref() == Some(owner.uid.as_str())
            && pods::claim(
                &owner.uid,
                false,
                &selector_of(&rs).unwrap_or_default(),
                &pod.metadata,
            ) == Claim::Release
            && let Ok(mut strays) = ctx.strays.lock()
        {
            strays
                .entry(format!("{ns}/{}", owner.name))
                .or_default()
                .insert(pod.name_any());
        }
        return vec![key];
    }
    if pods::is_terminating(&pod.metadata) {
        return Vec::new();
    }
    store
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rs| selector_of(rs).is_ok_and(|s| !s.is_empty() && s.matches(pod.labels())))
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

fn selector_of(rs: &ReplicaSet) -> Result<Selector, SelectorError> {
    match rs.spec.as_ref() {
        Some(spec) => Selector::from_label_selector(&spec.selector),
        None => Ok(Selector::everything()),
    }
}

fn error_policy(rs: Arc<ReplicaSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", rs.namespace().unwrap_or_default(), rs.name_any());
    let delay = ctx.backoff.next(&key);
    match error {
        Error::Api(e) if is_conflict(e) => {
            tracing::debug!(replicaset = %key, error = %error, retry_in = ?delay, "write conflict")
        }
        _ => {
            tracing::warn!(replicaset = %key, error = %error, retry_in = ?delay, "reconcile failed")
        }
    }
    Action::requeue(delay)
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = format!("{ns}/{name}");
    let span = tracing::debug_span!("reconcile", kind = "ReplicaSet", key = %key);
    let result = sync(&ctx, &ns, &name).instrument(span).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// One pass: claim pods, fix their number, report status.
async fn sync(ctx: &Context, ns: &str, name: &str) -> Result<Action, Error> {
    let key = format!("{ns}/{name}");
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    let Some(rs) = api.get_opt(name).await? else {
        if let Ok(mut strays) = ctx.strays.lock() {
            strays.remove(&key);
        }
        return Ok(Action::await_change());
    };
    let selector = selector_of(&rs).map_err(|source| Error::Selector {
        namespace: ns.to_string(),
        name: name.to_string(),
        source,
    })?;
    let now = Timestamp::now();
    let owned = claim_pods(ctx, &rs, &selector).await?;
    let (active, finished): (Vec<Pod>, Vec<Pod>) = owned
        .into_iter()
        .filter(|p| !pods::is_terminating(&p.metadata))
        .partition(pods::is_active);
    let deleting = pods::is_terminating(&rs.metadata);
    let mut outcome = Ok(());
    if !deleting && !finished.is_empty() {
        // Finished pods do not count; remove them so their replacements are the only copies.
        let refs: Vec<&Pod> = finished.iter().collect();
        outcome = scale::delete(ctx, &rs, &refs).await;
    }
    if !deleting && outcome.is_ok() {
        outcome = scale::manage(ctx, &rs, &active, now).await;
    }
    let new_status = status::calculate(&rs, &active, outcome.as_ref().err(), now);
    status::write(ctx, &rs, new_status).await?;
    outcome?;
    let next = status::next_availability_check(&rs, &active, now)
        .and_then(|d| Duration::try_from(d).ok())
        .map_or(RESYNC, |d| (d + Duration::from_millis(100)).min(RESYNC));
    Ok(Action::requeue(next))
}

/// A pod as a ReplicaSet sync reads it: metadata, node and status. Decoding the spec of
/// every pod of a large ReplicaSet on every sync was most of the cost of listing them.
#[derive(Clone, serde::Deserialize)]
struct SlimPod {
    metadata: ObjectMeta,
    spec: Option<SlimSpec>,
    status: Option<PodStatus>,
}

#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimSpec {
    node_name: Option<String>,
}

/// The pods matching `params` in `ns`, each with only what a sync reads (see [`SlimPod`]).
async fn list_pods(ctx: &Context, ns: &str, params: &ListParams) -> Result<Vec<Pod>, Error> {
    let request = kube::core::Request::new(Pod::url_path(&(), Some(ns)))
        .list(params)
        .map_err(|e| Error::Api(kube::Error::BuildRequest(e)))?;
    let list: ObjectList<SlimPod> = ctx.client.request(request).await?;
    Ok(list
        .items
        .into_iter()
        .map(|p| Pod {
            metadata: p.metadata,
            spec: Some(PodSpec {
                node_name: p.spec.and_then(|s| s.node_name),
                ..PodSpec::default()
            }),
            status: p.status,
        })
        .collect())
}

/// The pods this ReplicaSet owns after adopting matching orphans and releasing the strays
/// the watch reported.
async fn claim_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    selector: &Selector,
) -> Result<Vec<Pod>, Error> {
    let ns = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = pods::is_terminating(&rs.metadata);
    let mut owned = Vec::new();
    if selector.is_empty() {
        // An empty selector would select every pod; validation forbids it, adopt nothing.
        return Ok(owned);
    }
    let list = list_pods(
        ctx,
        &ns,
        &ListParams::default().labels(&selector.to_string()),
    )
    .await?;
    for pod in list {
        match pods::claim(&uid, deleting, selector, &pod.metadata) {
            Claim::Owned => owned.push(pod),
            Claim::Adopt => {
                let Some(owner) = pods::controller_ref(rs) else {
                    continue;
                };
                match claim::adopt(&api, &pod, &owner).await {
                    Ok(adopted) => owned.push(adopted),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Claim::Release | Claim::Ignore => {}
        }
    }
    let stray_key = format!("{ns}/{}", rs.name_any());
    let strays = ctx
        .strays
        .lock()
        .ok()
        .and_then(|s| s.get(&stray_key).cloned())
        .unwrap_or_default();
    for name in strays {
        if let Some(pod) = api.get_opt(&name).await?
            && pods::claim(&uid, deleting, selector, &pod.metadata) == Claim::Release
        {
            match claim::release(&api, &pod, &uid).await {
                Ok(_) => tracing::debug!(pod = %name, "released a pod that no longer matches"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Ok(mut s) = ctx.strays.lock()
            && let Some(set) = s.get_mut(&stray_key)
        {
            set.remove(&name);
            if set.is_empty() {
                s.remove(&stray_key);
            }
        }
    }
    Ok(owned)
}
