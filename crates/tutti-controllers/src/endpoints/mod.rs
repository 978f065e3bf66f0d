//! The endpoints and endpointslice controller: for every Service with a selector, keeps an
//! Endpoints object of the same name and the service's EndpointSlices listing the pods that
//! back it, as Kubernetes' two controllers do. The node agents' service proxies and DNS read
//! them, so a readiness change here is a traffic change there.
//!
//! - [`targets`]: which pods back a service (selected, not finished, with an address) and the
//!   port each of the service's ports reaches on each pod.
//! - [`subsets`]: the Endpoints view — ready and not-ready addresses, canonically packed.
//! - [`slices`]: the EndpointSlice view — conditions per endpoint, slices per port set of at
//!   most 100 endpoints, and the plan from the stored slices to it.
//!
//! Services without a selector are left alone entirely: their Endpoints are written by hand
//! (or, for `default/kubernetes`, by the leading manager). ExternalName services get none.
//! Endpoints carry no owner; this controller marks them (`endpointslice.kubernetes.io/
//! skip-mirror: "true"`) and removes marked ones when their service is deleted (`cleanup`).
//! Slices are owned by their service, so the garbage collector removes them too.
//!
//! Wiring: a kube-runtime `Controller` on Services, triggered by pod events (mapped to the
//! services that select the pod now or did at its previous event, so a relabelled pod leaves
//! its old service at once), by changes to the marked Endpoints and managed slices (mapped to
//! their service), and resynced periodically. Each reconcile reads the service and its pods
//! live and writes only what differs, so a resync writes nothing.

mod cleanup;
pub mod slices;
pub mod subsets;
pub mod targets;
mod write;

use crate::pod_feed::{PodChanges, PodFeed};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tracing::Instrument;
use tutti_core::labels::{Selector, SelectorError};

use crate::pods;
use crate::replicaset::backoff::ErrorBackoff;
use crate::replicaset::claim::{is_already_exists, is_conflict};

/// The label naming a slice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming a slice's manager.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's name in [`MANAGED_BY_LABEL`], as Kubernetes' controller calls itself.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label on Endpoints written by this controller (no slices are mirrored from them).
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
/// The label marking the endpoints of a headless service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// How often every service is reconciled even when nothing happened.
const RESYNC: Duration = Duration::from_secs(300);
/// How many pods' service memberships are remembered before the memory is dropped (pods
/// deleted without a terminating phase are never forgotten otherwise); the periodic resync
/// covers what the forgotten memberships would have triggered.
const MAX_TRACKED_PODS: usize = 100_000;

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("service {namespace}/{name}: spec.selector is invalid: {source}")]
    Selector {
        namespace: String,
        name: String,
        source: SelectorError,
    },
}

struct Context {
    client: kube::Client,
    backoff: ErrorBackoff,
}

/// The services each live pod (by uid) was found in at its last event.
#[derive(Default)]
struct Membership {
    by_pod: Mutex<HashMap<String, BTreeSet<String>>>,
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
    let endpoints_client = client.clone();
    crate::supervise::supervise("endpoints", move || {
        run(endpoints_client.clone(), changes())
    });
    cleanup::spawn(client);
}

async fn run(client: kube::Client, pods: PodChanges) {
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let store = controller.store();
    let membership = Arc::new(Membership::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        backoff: ErrorBackoff::default(),
    });
    tracing::info!("endpoints controller started");
    controller
        .watches_shared_stream(pods, move |pod| services_for(&store, &membership, &pod))
        .watches(
            Api::<Endpoints>::all(client.clone()),
            watcher::Config::default().labels(&format!("{SKIP_MIRROR_LABEL}=true")),
            |ep| Some(ObjectRef::<Service>::new(&ep.name_any()).within(&ep.namespace()?)),
        )
        .watches(
            Api::<EndpointSlice>::all(client),
            watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")),
            |slice| {
                let svc = slice.labels().get(SERVICE_NAME_LABEL)?;
                Some(ObjectRef::<Service>::new(svc).within(&slice.namespace()?))
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "endpoints controller stream error");
            }
        })
        .await;
}

/// The services a pod event concerns: those in its namespace whose selector matches it now,
/// and those it belonged to at its previous event (it may have been relabelled away).
fn services_for(
    store: &Store<Service>,
    membership: &Membership,
    pod: &Pod,
) -> Vec<ObjectRef<Service>> {
    let ns = pod.namespace().unwrap_or_default();
    let current: BTreeSet<String> = store
        .state()
        .into_iter()
        .filter(|svc| svc.namespace().as_deref() == Some(ns.as_str()))
        .filter(|svc| targets::selects(svc, pod.labels()))
        .map(|svc| svc.name_any())
        .collect();
    let uid = pod.uid().unwrap_or_default();
    // A terminating or finished pod is on its way out of every service: no need to remember.
    let settled = !pods::is_active(pod);
    let previous = match membership.by_pod.lock() {
        Ok(mut by_pod) if settled => by_pod.remove(&uid),
        Ok(mut by_pod) => {
            if by_pod.len() >= MAX_TRACKED_PODS && !by_pod.contains_key(&uid) {
                by_pod.clear();
            }
            by_pod.insert(uid, current.clone())
        }
        Err(_) => None,
    };
    current
        .into_iter()
        .chain(previous.into_iter().flatten())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .map(|name| ObjectRef::new(&name).within(&ns))
        .collect()
}

fn error_policy(svc: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
    let delay = ctx.backoff.next(&key);
    match error {
        Error::Api(e) if is_conflict(e) || is_already_exists(e) => {
            tracing::debug!(service = %key, error = %error, retry_in = ?delay, "write conflict")
        }
        _ => tracing::warn!(service = %key, error = %error, retry_in = ?delay, "reconcile failed"),
    }
    Action::requeue(delay)
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let key = format!("{ns}/{name}");
    let span = tracing::debug_span!("reconcile", kind = "Service", key = %key);
    let result = sync(&ctx, &ns, &name).instrument(span).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// One pass: read the service and its pods live, write the Endpoints and slices that differ.
async fn sync(ctx: &Context, ns: &str, name: &str) -> Result<Action, Error> {
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    let Some(svc) = services.get_opt(name).await? else {
        // Deleted: the cleanup watch removes what was written for it.
        return Ok(Action::await_change());
    };
    let Some(selector) = targets::selector(&svc) else {
        // Endpoints written by hand (or by the manager, for `default/kubernetes`).
        return Ok(Action::await_change());
    };
    if pods::is_terminating(&svc.metadata) {
        return Ok(Action::await_change());
    }
    if targets::is_external_name(&svc) {
        write::remove_managed(&ctx.client, ns, name, svc.uid().as_deref(), true).await?;
        return Ok(Action::requeue(RESYNC));
    }
    let selector = Selector::from_labels(selector).map_err(|source| Error::Selector {
        namespace: ns.to_string(),
        name: name.to_string(),
        source,
    })?;
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default().labels(&selector.to_string()))
        .await?
        .items;
    let targets = targets::targets(&svc, &pods);
    let mut written = write::Written {
        endpoints: write::endpoints(&ctx.client, subsets::desired(&svc, &targets)).await?,
        ..Default::default()
    };
    write::slices(&ctx.client, &svc, &targets, &mut written).await?;
    if written != write::Written::default() {
        tracing::debug!(
            targets = targets.len(),
            endpoints = written.endpoints,
            slices_created = written.slices_created,
            slices_updated = written.slices_updated,
            slices_deleted = written.slices_deleted,
            "endpoints written"
        );
    }
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests;
