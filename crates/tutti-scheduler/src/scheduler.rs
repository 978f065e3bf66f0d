//! The thin loop: watches Nodes and Pods, keeps the [`Snapshot`] and the scheduling queue up to
//! date, decides pending pods in batches with [`schedule_one`], and hands the decisions to the
//! [`Binder`]. Pods that fit nowhere are retried when the cluster changes and every 30 s.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::binder::{BindOutcome, Binder};
use crate::framework::{Profile, ProfileName};
use crate::pod_info::{PodInfo, is_pending, pod_key};
use crate::queue::SchedulingQueue;
use crate::schedule::schedule_one;
use crate::snapshot::{NodeChange, PodChange, Snapshot};

/// Writes (bindings, conditions) in flight at once.
const MAX_IN_FLIGHT: usize = 64;
/// Watch events applied before a batch of decisions.
const MAX_EVENTS_PER_BATCH: usize = 1024;
/// Wait before retrying a pod whose binding failed.
const BIND_RETRY: Duration = Duration::from_secs(1);

/// How the scheduler places pods.
#[derive(Clone, Debug, Default)]
pub struct SchedulerConfig {
    /// Spread (the default) or bin-pack.
    pub profile: ProfileName,
    /// Seed for breaking ties; random (and logged) when not given.
    pub seed: Option<u64>,
}

/// Starts the scheduler; it runs until the task is aborted (e.g. on losing leadership).
pub fn spawn(client: kube::Client, config: SchedulerConfig) -> JoinHandle<()> {
    tokio::spawn(run(client, config))
}

enum Input {
    Node(Box<Result<Event<Node>, watcher::Error>>),
    Pod(Box<Result<Event<Pod>, watcher::Error>>),
}

/// What a finished write tells the loop.
struct Written {
    key: Arc<str>,
    outcome: BindOutcome,
}

struct Loop {
    snapshot: Snapshot,
    queue: SchedulingQueue,
    profile: Profile,
    seed: u64,
    binder: Binder,
    permits: Arc<Semaphore>,
    written: mpsc::UnboundedSender<Written>,
    /// Keys seen since a watch (re)started listing, to drop what disappeared meanwhile.
    relisted_nodes: Option<HashSet<String>>,
    relisted_pods: Option<HashSet<String>>,
    /// Both watches have listed everything once: before that, the snapshot may miss pods
    /// already placed, and deciding would over-commit nodes.
    nodes_synced: bool,
    pods_synced: bool,
}

async fn run(client: kube::Client, config: SchedulerConfig) {
    let seed = config.seed.unwrap_or_else(rand::random);
    let profile = Profile::named(config.profile);
    tracing::info!(profile = profile.name, seed, "scheduler started");
    let nodes = watcher(Api::<Node>::all(client.clone())).map(|e| Input::Node(Box::new(e)));
    let pods = watcher(Api::<Pod>::all(client.clone())).map(|e| Input::Pod(Box::new(e)));
    let mut inputs = Box::pin(futures::stream::select(nodes, pods));
    let (mut state, mut done) = Loop::new(client, profile, seed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            input = inputs.next() => match input {
                Some(input) => state.apply(input),
                None => break,
            },
            Some(w) = done.recv() => state.written(w),
            _ = tick.tick() => state.queue.tick(Instant::now()),
        }
        for _ in 0..MAX_EVENTS_PER_BATCH {
            match inputs.next().now_or_never() {
                Some(Some(input)) => state.apply(input),
                _ => break,
            }
        }
        while let Ok(w) = done.try_recv() {
            state.written(w);
        }
        state.schedule_batch();
    }
    tracing::info!("scheduler stopped: watch streams ended");
}

fn watcher<K>(api: Api<K>) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, watcher::Config::default()).default_backoff()
}

impl Loop {
    fn new(
        client: kube::Client,
        profile: Profile,
        seed: u64,
    ) -> (Loop, mpsc::UnboundedReceiver<Written>) {
        let (written, done) = mpsc::unbounded_channel();
        let state = Loop {
            snapshot: Snapshot::new(),
            queue: SchedulingQueue::default(),
            profile,
            seed,
            binder: Binder::new(client),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            written,
            relisted_nodes: None,
            relisted_pods: None,
            nodes_synced: false,
            pods_synced: false,
        };
        (state, done)
    }

    fn apply(&mut self, input: Input) {
        let failed = match input {
            Input::Node(node) => match *node {
                Ok(event) => return self.node_event(event),
                Err(e) => e,
            },
            Input::Pod(pod) => match *pod {
                Ok(event) => return self.pod_event(event),
                Err(e) => e,
            },
        };
        tracing::warn!(error = %failed, "watch failed; retrying");
    }

    fn node_event(&mut self, event: Event<Node>) {
        match event {
            Event::Init => self.relisted_nodes = Some(HashSet::new()),
            Event::InitApply(node) | Event::Apply(node) => {
                if let Some(seen) = &mut self.relisted_nodes {
                    seen.insert(node.metadata.name.clone().unwrap_or_default());
                }
                let change = self.snapshot.upsert_node(&node);
                if change != NodeChange::Unchanged {
                    tracing::debug!(
                        node = node.metadata.name.as_deref().unwrap_or_default(),
                        ?change,
                        "node changed"
                    );
                    self.queue.cluster_changed();
                }
            }
            Event::Delete(node) => {
                self.snapshot
                    .remove_node(node.metadata.name.as_deref().unwrap_or_default());
            }
            Event::InitDone => {
                let seen = self.relisted_nodes.take().unwrap_or_default();
                let gone: Vec<String> = self
                    .snapshot
                    .nodes()
                    .iter()
                    .filter(|n| !seen.contains(&*n.name))
                    .map(|n| n.name.to_string())
                    .collect();
                for name in gone {
                    self.snapshot.remove_node(&name);
                }
                self.nodes_synced = true;
                self.queue.cluster_changed();
            }
        }
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.relisted_pods = Some(HashSet::new()),
            Event::InitApply(pod) | Event::Apply(pod) => {
                let key = pod_key(&pod);
                if let Some(seen) = &mut self.relisted_pods {
                    seen.insert(key.clone());
                }
                if self.snapshot.upsert_pod(&pod) == PodChange::Freed {
                    self.queue.cluster_changed();
                }
                if is_pending(&pod) {
                    self.queue.upsert(&key, pod);
                } else {
                    self.queue.remove(&key);
                }
            }
            Event::Delete(pod) => self.pod_gone(&pod_key(&pod)),
            Event::InitDone => {
                let seen = self.relisted_pods.take().unwrap_or_default();
                for key in self.queue.keys() {
                    if !seen.contains(&*key) {
                        self.pod_gone(&key);
                    }
                }
                for key in self.snapshot.pod_keys() {
                    if !seen.contains(&*key) {
                        self.pod_gone(&key);
                    }
                }
                self.pods_synced = true;
            }
        }
    }

    fn pod_gone(&mut self, key: &str) {
        self.queue.remove(key);
        if self.snapshot.remove_pod(key) == PodChange::Freed {
            self.queue.cluster_changed();
        }
    }

    fn written(&mut self, w: Written) {
        let key = &*w.key;
        match w.outcome {
            BindOutcome::Bound => self.queue.bound(key),
            BindOutcome::AlreadyBound => {
                tracing::debug!(pod = %key, "already bound");
                self.snapshot.forget(key);
                self.queue.bound(key);
            }
            BindOutcome::Gone => {
                self.snapshot.forget(key);
                self.queue.remove(key);
            }
            BindOutcome::Failed(e) => {
                tracing::warn!(pod = %key, error = %e, "binding failed; will retry");
                self.snapshot.forget(key);
                self.queue.backoff(key, Instant::now() + BIND_RETRY);
            }
        }
    }

    /// Decides every active pod (as long as writes can be started), in queue order.
    fn schedule_batch(&mut self) {
        if !(self.nodes_synced && self.pods_synced) {
            return;
        }
        while self.queue.has_active() {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            let Some((key, pod)) = self.queue.pop() else {
                return;
            };
            let seed = pod_seed(self.seed, &key);
            let span = tracing::debug_span!("schedule", pod = %key, seed);
            let _entered = span.enter();
            let info = match PodInfo::from_pod(&pod) {
                Ok(info) => Arc::new(info),
                Err(e) => {
                    self.unschedulable(&key, pod, e.to_string(), permit);
                    continue;
                }
            };
            let mut rng = StdRng::seed_from_u64(seed);
            match schedule_one(&info, &self.snapshot, &self.profile, &mut rng) {
                Ok(placement) => {
                    tracing::debug!(node = %placement.node, score = placement.score, feasible = placement.feasible, "placed");
                    self.snapshot.assume(info, &placement.node);
                    let binder = self.binder.clone();
                    let written = self.written.clone();
                    let node = placement.node.clone();
                    let work = async move {
                        let outcome = binder.bind(&pod, &node).await;
                        drop(permit);
                        let _ = written.send(Written { key, outcome });
                    };
                    tokio::spawn(work.instrument(span.clone()));
                }
                Err(unschedulable) => self.unschedulable(&key, pod, unschedulable.summary, permit),
            }
        }
    }

    fn unschedulable(
        &mut self,
        key: &str,
        pod: Pod,
        summary: String,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        tracing::debug!(pod = %key, summary = %summary, "pod fits no node");
        self.queue.unschedulable(key, Instant::now());
        let binder = self.binder.clone();
        tokio::spawn(async move {
            if let Err(e) = binder.mark_unschedulable(&pod, &summary).await {
                tracing::warn!(error = %e, "could not record why the pod fits no node");
            }
            drop(permit);
        });
    }
}

/// The seed of one pod's decision: the scheduler's seed mixed with the pod's key (FNV-1a), so
/// that a decision can be replayed from the logged seed.
fn pod_seed(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ seed
}

#[cfg(test)]
mod tests;
