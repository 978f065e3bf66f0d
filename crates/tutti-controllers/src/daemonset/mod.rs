//! The DaemonSet controller: one pod per eligible node (see [`placement`]), each pinned to
//! its node by required node affinity so the scheduler binds it there; pods on nodes that
//! stop being eligible are deleted; template changes roll out node by node within
//! `maxUnavailable` (or wait for the user to delete pods, with `OnDelete`).
//!
//! A keyed `kube::runtime::Controller` over DaemonSets and the pods they own, plus a node
//! watch that re-reconciles every DaemonSet when a node appears, goes, or changes labels,
//! taints or schedulability. Each reconcile lists the DaemonSet's pods live and hands them,
//! with the cached nodes, to the pure [`plan::plan`].
//!
//! Not supported: `maxSurge` (treated as 0), ControllerRevision history (`kubectl rollout
//! undo` for DaemonSets), back-off between replacements of failing daemon pods.

pub mod placement;
pub mod plan;
pub mod pod;

use crate::pod_feed::{PodChanges, PodFeed};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::pod_creation::create_in_batches;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tutti_client::{EventType, Recorder, reference};
use tutti_core::labels::{Selector, SelectorError};

use crate::pods::controller_of;
use crate::replicaset::backoff::ErrorBackoff;

/// How often a DaemonSet is looked at even when nothing changed.
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("daemonset {daemonset}: spec.selector: {source}")]
    Selector {
        daemonset: String,
        #[source]
        source: SelectorError,
    },
    #[error("daemonset {daemonset}: {source}")]
    Api {
        daemonset: String,
        #[source]
        source: kube::Error,
    },
    #[error("daemonset {daemonset}: the node cache stopped")]
    NodeCache { daemonset: String },
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    backoff: ErrorBackoff,
    nodes: Store<Node>,
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
    crate::supervise::supervise("daemonset", move || run(client.clone(), changes()));
}

async fn run(client: kube::Client, pods: PodChanges) {
    let (nodes, node_events) = node_changes(Api::all(client.clone()));
    let ctx = Arc::new(Context {
        backoff: ErrorBackoff::default(),
        recorder: Recorder::new(client.clone(), "daemonset-controller"),
        client: client.clone(),
        nodes,
    });
    let controller = Controller::new(
        Api::<DaemonSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config())
    .owns_shared_stream(pods)
    .reconcile_all_on(node_events)
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {});
    controller.await;
}

/// A node cache, and a stream that ticks when a node that matters for placement changed:
/// added, removed, or new labels, taints or `unschedulable` (not heartbeats).
fn node_changes(api: Api<Node>) -> (Store<Node>, impl Stream<Item = ()> + Send + 'static) {
    let (reader, writer) = reflector::store();
    let mut seen: HashMap<String, String> = HashMap::new();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .filter_map(move |event| {
            let changed = match event {
                Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                    let spec = n.spec.as_ref();
                    let print = serde_json::json!([
                        n.metadata.labels,
                        spec.and_then(|s| s.taints.as_ref()),
                        spec.and_then(|s| s.unschedulable),
                    ])
                    .to_string();
                    seen.insert(n.name_any(), print.clone()) != Some(print)
                }
                Ok(watcher::Event::Delete(n)) => seen.remove(&n.name_any()).is_some(),
                Ok(watcher::Event::InitDone) => true,
                Ok(watcher::Event::Init) | Err(_) => false,
            };
            futures::future::ready(changed.then_some(()))
        });
    (reader, stream)
}

fn key(ds: &DaemonSet) -> String {
    format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any())
}

fn error_policy(ds: Arc<DaemonSet>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key(&ds);
    let retry_in = ctx.backoff.next(&key);
    tracing::debug!(daemonset = %key, error = %error, ?retry_in, "daemonset reconcile failed; retrying");
    Action::requeue(retry_in)
}

async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let action = sync(ds.clone(), ctx.clone()).await?;
    ctx.backoff.reset(&key(&ds));
    Ok(action)
}

#[tracing::instrument(skip_all, fields(kind = "DaemonSet", key = %key(&ds)))]
async fn sync(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api_err = |source| Error::Api {
        daemonset: key(&ds),
        source,
    };
    ctx.nodes
        .wait_until_ready()
        .await
        .map_err(|_| Error::NodeCache {
            daemonset: key(&ds),
        })?;
    let nodes: Vec<Node> = ctx.nodes.state().iter().map(|n| (**n).clone()).collect();
    let pods = owned_pods(&ctx.client, &ds).await?;
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = pod::template_hash(&template, collisions);
    let now = Timestamp::now();
    let plan = plan::plan(&ds, &nodes, &pods, &hash, now);
    let me = reference(ds.as_ref());
    let ns = ds.namespace().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);

    for (pod, node) in &plan.failed {
        ctx.recorder
            .publish(
                &me,
                EventType::Warning,
                "FailedDaemonPod",
                &format!("Found failed daemon pod {ns}/{pod} on node {node}, will try to kill it"),
            )
            .await;
    }
    for pod in &plan.delete {
        match pods_api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::debug!(pod = %pod, "deleted daemon pod");
                ctx.recorder
                    .publish(
                        &me,
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
    create_pods(&ctx, &ds, &pods_api, &plan.create_on, &hash)
        .await
        .map_err(api_err)?;

    if ds.status.as_ref() != Some(&plan.status) {
        let mut next = (*ds).clone();
        next.status = Some(plan.status.clone());
        let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
        api.replace_status(&ds.name_any(), &PostParams::default(), &next)
            .await
            .map_err(api_err)?;
    }
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}

/// The pods this DaemonSet controls: matching its selector, with it as controller owner.
async fn owned_pods(client: &kube::Client, ds: &DaemonSet) -> Result<Vec<Pod>, Error> {
    let selector = ds
        .spec
        .as_ref()
        .map(|s| Selector::from_label_selector(&s.selector))
        .transpose()
        .map_err(|source| Error::Selector {
            daemonset: key(ds),
            source,
        })?
        .unwrap_or_default();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ds.namespace().unwrap_or_default());
    let list = api
        .list(&ListParams::default().labels(&selector.to_string()))
        .await
        .map_err(|source| Error::Api {
            daemonset: key(ds),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
        .collect())
}

/// Create the nodes' pods in slow-start batches (1, 2, 4, ...); stops at the first error.
async fn create_pods(
    ctx: &Context,
    ds: &DaemonSet,
    api: &Api<Pod>,
    nodes: &[String],
    hash: &str,
) -> Result<(), kube::Error> {
    let pods: Vec<Pod> = nodes
        .iter()
        .filter_map(|node| pod::daemon_pod(ds, node, hash))
        .collect();
    create_in_batches(api, &ctx.recorder, &reference(ds), pods).await
}
