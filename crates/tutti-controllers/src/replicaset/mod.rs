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
//! reads the ReplicaSet live from the API and its pods from the shared
//! [`PodCache`], and changes the number of pods only when the cache has seen its previous
//! changes (expectations, as Kubernetes' controller). Orphans to adopt are the ones the pod
//! watch reported, plus, once per ReplicaSet, those a LIST by its selector finds (pods
//! that existed before it or before the controller started).

pub(crate) mod backoff;
pub(crate) mod claim;
pub mod scale;
pub mod status;

use crate::pod_cache::{CachedPod, PodCache};
use crate::pod_feed::{PodChanges, PodFeed};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tracing::Instrument;
use tutti_client::Recorder;
use tutti_core::labels::{Selector, SelectorError};

use crate::pods::{self, Claim, PodFacts};
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
    /// The pods that have a controller, and the expectations.
    pub(crate) pods: Arc<PodCache>,
    /// Orphans the watch saw matching a ReplicaSet's selector, by ReplicaSet key: the
    /// reconcile adopts them (the cache keeps only pods that have a controller).
    orphans: Mutex<HashMap<String, BTreeSet<String>>>,
    /// The ReplicaSets whose orphans a LIST looked for since the controller started: the
    /// uid of each, by key (a ReplicaSet recreated under its name is listed again).
    listed: Mutex<HashMap<String, String>>,
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
    let cache = pods.cache();
    crate::supervise::supervise("replicaset", move || {
        run(client.clone(), changes(), cache.clone())
    });
}

async fn run(client: kube::Client, pods: PodChanges, cache: Arc<PodCache>) {
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
        pods: cache,
        orphans: Mutex::default(),
        listed: Mutex::default(),
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
/// ReplicaSet in its namespace whose selector matches it (which will try to adopt it).
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
        return vec![ObjectRef::new(&owner.name).within(&ns)];
    }
    if pods::is_terminating(&pod.metadata) {
        return Vec::new();
    }
    let matching: Vec<ObjectRef<ReplicaSet>> = store
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rs| selector_of(rs).is_ok_and(|s| !s.is_empty() && s.matches(pod.labels())))
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect();
    if !matching.is_empty()
        && let Ok(mut orphans) = ctx.orphans.lock()
    {
        for rs in &matching {
            orphans
                .entry(format!("{ns}/{}", rs.name))
                .or_default()
                .insert(pod.name_any());
        }
    }
    matching
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
    ctx.pods.wait_synced().await;
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    let Some(rs) = api.get_opt(name).await? else {
        if let Ok(mut orphans) = ctx.orphans.lock() {
            orphans.remove(&key);
        }
        if let Ok(mut listed) = ctx.listed.lock() {
            listed.remove(&key);
        }
        return Ok(Action::await_change());
    };
    let selector = selector_of(&rs).map_err(|source| Error::Selector {
        namespace: ns.to_string(),
        name: name.to_string(),
        source,
    })?;
    let now = Timestamp::now();
    // Expectations before the cache: once they are met, the pods they waited for are cached.
    let settled = ctx.pods.expectations_met(&rs.uid().unwrap_or_default());
    let owned = claim_pods(ctx, &rs, &selector).await?;
    let (active, finished): (Vec<Arc<CachedPod>>, Vec<Arc<CachedPod>>) = owned
        .into_iter()
        .filter(|p| !p.deleting())
        .partition(pods::is_active);
    let deleting = pods::is_terminating(&rs.metadata);
    let mut outcome = Ok(());
    if settled && !deleting && !finished.is_empty() {
        // Finished pods do not count; remove them so their replacements are the only copies.
        let refs: Vec<&CachedPod> = finished.iter().map(|p| &**p).collect();
        outcome = scale::delete(ctx, &rs, &refs).await;
    }
    if settled && !deleting && outcome.is_ok() {
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

/// The pods this ReplicaSet owns after releasing the cached ones that no longer match its
/// selector and adopting the matching orphans.
async fn claim_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    selector: &Selector,
) -> Result<Vec<Arc<CachedPod>>, Error> {
    let ns = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = pods::is_terminating(&rs.metadata);
    let mut owned = Vec::new();
    // Our pods share a few label sets: match each set once (by its address), not each pod.
    let mut matched: Option<(Arc<BTreeMap<String, String>>, bool)> = None;
    for pod in ctx.pods.owned_by(&uid) {
        let labels = pod.shared_labels();
        let matches = match &matched {
            Some((seen, m)) if Arc::ptr_eq(seen, labels) => *m,
            _ => {
                let m = selector.matches(labels);
                matched = Some((labels.clone(), m));
                m
            }
        };
        // As `pods::claim` for a pod whose controller we are.
        if matches {
            owned.push(pod);
        } else if !deleting {
            release(&api, pod.pod_name(), &uid, selector).await?;
        }
    }
    if selector.is_empty() || deleting {
        // An empty selector would select every pod (validation forbids it): adopt nothing.
        return Ok(owned);
    }
    for pod in orphans(ctx, rs, selector).await? {
        let Some(owner) = pods::controller_ref(rs) else {
            break;
        };
        if pods::claim(&uid, deleting, selector, &pod.metadata) != Claim::Adopt {
            continue;
        }
        // The adopted pod reaches the cache as a new pod of ours: expect it like a creation.
        ctx.pods.expect_creations(&uid, 1);
        match claim::adopt(&api, &pod, &owner).await {
            Ok(adopted) => owned.push(Arc::new(CachedPod::from_pod(&adopted))),
            Err(e) => {
                ctx.pods.creations_failed(&uid, 1);
                if !is_not_found(&e) {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(owned)
}

/// Give up the pod `name` if, read fresh, it is ours and still does not match (the
/// ReplicaSet is not being deleted: then it keeps its pods).
async fn release(api: &Api<Pod>, name: &str, uid: &str, selector: &Selector) -> Result<(), Error> {
    let Some(pod) = api.get_opt(name).await? else {
        return Ok(());
    };
    if pods::claim(uid, false, selector, &pod.metadata) != Claim::Release {
        return Ok(());
    }
    match claim::release(api, &pod, uid).await {
        Ok(_) => tracing::debug!(pod = %name, "released a pod that no longer matches"),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The orphans this ReplicaSet may adopt, read fresh: those the watch reported, and on its
/// first sync since the controller started, those a LIST by its selector finds.
async fn orphans(ctx: &Context, rs: &ReplicaSet, selector: &Selector) -> Result<Vec<Pod>, Error> {
    let ns = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let key = format!("{ns}/{}", rs.name_any());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut found = Vec::new();
    let first = ctx
        .listed
        .lock()
        .is_ok_and(|listed| listed.get(&key) != Some(&uid));
    if first {
        // Metadata is all adopting reads (the adopted pod comes back whole).
        let params = ListParams::default().labels(&selector.to_string());
        found = api
            .list_metadata(&params)
            .await?
            .items
            .into_iter()
            .filter(|p| pods::controller_of(&p.metadata).is_none())
            .map(|p| Pod {
                metadata: p.metadata,
                ..Pod::default()
            })
            .collect();
        if let Ok(mut listed) = ctx.listed.lock() {
            listed.insert(key.clone(), uid);
        }
    }
    let reported = ctx
        .orphans
        .lock()
        .ok()
        .and_then(|mut o| o.remove(&key))
        .unwrap_or_default();
    for name in reported {
        if found
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(name.as_str()))
        {
            continue;
        }
        if let Some(pod) = api.get_opt(&name).await? {
            found.push(pod);
        }
    }
    Ok(found)
}
