//! Pods bound to this node: a watch on `spec.nodeName=<node>` feeds one worker task per
//! pod uid (level-triggered: a worker always acts on the latest version of its pod). On
//! the first complete listing, containers left by a previous agent run whose pods are
//! gone are removed; the others were handed to their pods' workers for re-adoption.

mod actions;
mod backoff;
mod downward;
mod driver_fit;
mod env;
mod expand;
mod health;
mod hooks;
mod http_get;
mod phase;
mod prober;
mod probes;
mod record;
mod report;
mod sandbox;
mod setup;
mod sources;
mod start;
mod status;
mod stop;
mod sync;
mod takeover;
mod volume_setup;
mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use tutti_client::{EventType, Recorder};
use tutti_runtime::RuntimeDriver;

use crate::adopt::{self, Inventory};
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::logs::LogState;
use crate::machine::Machine;

pub use driver_fit::UNSUPPORTED_CONDITION;
pub use sandbox::{Resolv, parse_resolv_conf};

/// What every pod worker shares.
pub(crate) struct Shared {
    pub client: kube::Client,
    pub config: AgentConfig,
    pub recorder: Recorder,
    pub logs: LogState,
    pub machine: Machine,
    /// The uid the agent runs as (what the process driver's processes run as).
    pub agent_uid: Option<i64>,
    /// The host's resolv.conf, for pods without cluster DNS.
    pub host_resolv: Resolv,
    /// The node's pod network (docker network name) that sandboxes of drivers with their
    /// own pod network join; None: the driver's default network.
    pub pod_network: Option<String>,
}

impl Shared {
    /// `runtimeClassName: process` → the process driver; anything else → the default one.
    pub fn driver_for(&self, pod: &Pod) -> Arc<dyn RuntimeDriver> {
        let class = pod
            .spec
            .as_ref()
            .and_then(|s| s.runtime_class_name.as_deref());
        if class == Some("process") {
            self.config.process_driver.clone()
        } else {
            self.config.default_driver.clone()
        }
    }

    /// Record an Event about the pod (and one of its containers, if named).
    pub async fn event(
        &self,
        pod: &Pod,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let mut r: ObjectReference = tutti_client::reference(pod);
        if let Some(c) = container {
            let init = pod
                .spec
                .as_ref()
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|ics| ics.iter().any(|i| i.name == c));
            let list = if init { "initContainers" } else { "containers" };
            r.field_path = Some(format!("spec.{list}{{{c}}}"));
        }
        self.recorder.publish(&r, kind, reason, message).await;
    }
}

/// The latest word on a pod, as its worker sees it.
#[derive(Clone, Debug)]
pub(crate) enum PodUpdate {
    Present(Arc<Pod>),
    /// Deleted from the API (or no longer bound to this node).
    Gone(Arc<Pod>),
}

impl PodUpdate {
    fn pod(&self) -> Arc<Pod> {
        match self {
            PodUpdate::Present(p) | PodUpdate::Gone(p) => p.clone(),
        }
    }
}

/// Watch this node's pods and drive each with a worker, until cancelled.
pub(crate) async fn run(shared: Arc<Shared>, mut inventory: Inventory) -> Result<(), AgentError> {
    let node = shared.config.node_name.clone();
    let api: Api<Pod> = Api::all(shared.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher(api, cfg).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<PodUpdate>> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut listing: Option<HashSet<String>> = None;
    let mut first_listing = true;
    // Pods whose worker finished (they were deleted): late events about them are stale.
    let mut finished: HashSet<String> = HashSet::new();
    // Container exits reported by the runtimes: the pod's worker syncs at once.
    let (exit_tx, mut exits) = mpsc::channel::<String>(256);
    let (default, process) = (&shared.config.default_driver, &shared.config.process_driver);
    let drivers = if Arc::ptr_eq(default, process) {
        vec![default.clone()]
    } else {
        vec![default.clone(), process.clone()]
    };
    for driver in drivers {
        let tx = exit_tx.clone();
        tasks.spawn(async move {
            follow_exits(driver, tx).await;
            String::new()
        });
    }
    drop(exit_tx);
    info!(node = %node, "watching pods");
    loop {
        tokio::select! {
            Some(uid) = exits.recv() => {
                if let Some(tx) = workers.get(&uid) {
                    // Same pod, new look: the worker wakes and inspects its containers.
                    tx.send_modify(|_| {});
                }
            }
            event = events.next() => {
                let Some(event) = event else {
                    return Ok(());
                };
                match event {
                    Ok(watcher::Event::Init) => listing = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(pod)) => {
                        if let (Some(seen), Some(uid)) = (listing.as_mut(), pod.metadata.uid.clone()) {
                            seen.insert(uid);
                        }
                        apply(&shared, &mut workers, &mut tasks, &mut inventory, &finished, pod);
                    }
                    Ok(watcher::Event::InitDone) => {
                        let seen = listing.take().unwrap_or_default();
                        finished.retain(|uid| seen.contains(uid));
                        for (uid, tx) in &workers {
                            if !seen.contains(uid) {
                                let pod = tx.borrow().pod();
                                tx.send_replace(PodUpdate::Gone(pod));
                            }
                        }
                        if first_listing {
                            first_listing = false;
                            let orphans = std::mem::take(&mut inventory);
                            let dirs = adopt::leftover_dirs(&shared.config, &seen);
                            tasks.spawn(async move {
                                adopt::remove_orphans(orphans, &seen, dirs).await;
                                String::new()
                            });
                        }
                    }
                    Ok(watcher::Event::Apply(pod)) => {
                        apply(&shared, &mut workers, &mut tasks, &mut inventory, &finished, pod);
                    }
                    Ok(watcher::Event::Delete(pod)) => {
                        let uid = pod.metadata.uid.clone().unwrap_or_default();
                        finished.remove(&uid);
                        if let Some(tx) = workers.get(&uid) {
                            tx.send_replace(PodUpdate::Gone(Arc::new(pod)));
                        }
                    }
                    Err(e) => warn!(node = %node, error = %e, "pod watch failed; retrying"),
                }
            }
            Some(done) = tasks.join_next() => {
                match done {
                    Ok(uid) if !uid.is_empty() => {
                        debug!(uid = %uid, "pod worker finished");
                        workers.remove(&uid);
                        finished.insert(uid);
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "pod worker failed"),
                }
            }
        }
    }
}

/// Forward the pod uid of every container exit `driver` reports, subscribing again a
/// second after its feed breaks, until nobody listens.
async fn follow_exits(driver: Arc<dyn RuntimeDriver>, tx: mpsc::Sender<String>) {
    loop {
        match driver.exits().await {
            Ok(mut feed) => {
                while let Some(exit) = feed.next().await {
                    match exit {
                        Ok(exit) => {
                            if tx.send(exit.pod_uid).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            debug!(driver = driver.name(), error = %e, "exit feed broke");
                            break;
                        }
                    }
                }
            }
            Err(e) => debug!(driver = driver.name(), error = %e, "no exit feed"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

fn apply(
    shared: &Arc<Shared>,
    workers: &mut HashMap<String, watch::Sender<PodUpdate>>,
    tasks: &mut JoinSet<String>,
    inventory: &mut Inventory,
    finished: &HashSet<String>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    if finished.contains(&uid) {
        return;
    }
    let pod = Arc::new(pod);
    if let Some(tx) = workers.get(&uid) {
        tx.send_replace(PodUpdate::Present(pod));
        return;
    }
    let (tx, rx) = watch::channel(PodUpdate::Present(pod.clone()));
    let adopted = inventory.take(&uid);
    let worker = worker::Worker::new(shared.clone(), pod, rx, adopted);
    tasks.spawn(worker.run());
    workers.insert(uid, tx);
}
