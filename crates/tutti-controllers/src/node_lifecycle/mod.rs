//! The node lifecycle controller: notices nodes whose agent stopped renewing its Lease (in
//! `kube-node-lease`, named after the node), marks them NotReady (conditions Unknown), taints
//! them `node.kubernetes.io/unreachable` (or `not-ready` when the agent itself reports
//! Ready=False), marks their pods not ready, and evicts those pods once their toleration of
//! the NoExecute taint runs out (`eviction_timeout` when they have none), so their
//! controllers replace them elsewhere. When the agent is back (fresh lease and Ready=True
//! posted by the agent) the taints go away.
//!
//! Contract with the agent: renew the Lease well within `node_monitor_grace`, and post the
//! node's Ready condition (True/False) after a lapse — a renewed lease alone does not clear
//! the Unknown the controller wrote, as in Kubernetes.
//!
//! A small loop of its own (not a keyed `Controller`): every tick it looks at every node in
//! a watch-fed cache; the decisions are the pure functions in [`health`], [`taints`],
//! [`eviction`] and [`pod_status`].

pub mod budget;
pub mod eviction;
pub mod health;
pub mod pod_status;
pub mod taints;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tutti_client::{EventType, Recorder, reference};

use crate::ControllerConfig;
use budget::LeaseBudget;
use eviction::{TaintClock, evictions};
use health::{Heartbeats, NodeHealth, assess, reported, unknown_conditions};
use pod_status::not_ready_conditions;
use taints::{NO_EXECUTE, reconcile_taints};

/// The namespace of node heartbeat leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("node {node}: {source}")]
    Api {
        node: String,
        #[source]
        source: kube::Error,
    },
}

/// Start the controller on the current runtime.
pub fn spawn(client: kube::Client, config: ControllerConfig) {
    crate::supervise::supervise("node-lifecycle", move || {
        run(client.clone(), config.clone())
    });
}

async fn run(client: kube::Client, config: ControllerConfig) {
    let nodes = cache(Api::<Node>::all(client.clone()));
    let leases = cache(Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE));
    if nodes.wait_until_ready().await.is_err() || leases.wait_until_ready().await.is_err() {
        return;
    }
    tracing::info!(
        grace = ?config.node_monitor_grace,
        eviction_timeout = ?config.eviction_timeout,
        "node lifecycle controller started"
    );
    let period =
        (config.node_monitor_grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let longest = leases
        .state()
        .iter()
        .filter(|l| budgeted(l))
        .filter_map(|l| lease_duration(l))
        .max();
    let mut monitor = Monitor {
        budget: LeaseBudget::new(
            config.lease_renewals_per_second,
            config.node_monitor_grace,
            longest,
        ),
        leases_api: Api::namespaced(client.clone(), LEASE_NAMESPACE),
        nodes_api: Api::all(client.clone()),
        recorder: Recorder::new(client.clone(), "node-controller"),
        client,
        config,
        heartbeats: Heartbeats::default(),
        taint_clock: TaintClock::default(),
        sweeps: Sweeps::default(),
    };
    loop {
        tick.tick().await;
        monitor.pass(&nodes, &leases).await;
    }
}

fn lease_duration(lease: &Lease) -> Option<Duration> {
    let seconds = lease.spec.as_ref()?.lease_duration_seconds?;
    u64::try_from(seconds).ok().map(Duration::from_secs)
}

fn budgeted(lease: &Lease) -> bool {
    lease
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(budget::BUDGETED))
}

/// A watch-fed cache of one kind, kept up to date by a background task.
fn cache<K>(api: Api<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .for_each(|ev| async move {
            if let Err(e) = ev {
                tracing::debug!(error = %e, "node lifecycle watch failed; retrying");
            }
        });
    tokio::spawn(stream);
    reader
}

/// How often the pods of a node that is not ready (or has NoExecute taints) are looked at
/// when nothing about the node changed and no eviction is due sooner.
const SWEEP_PERIOD: SignedDuration = SignedDuration::from_secs(10);

/// When each troubled node's pods are looked at next: at once when the node's health or
/// taints change, else when its next eviction is due, and at least every [`SWEEP_PERIOD`].
#[derive(Default)]
struct Sweeps {
    next: HashMap<String, (String, Timestamp)>,
}

impl Sweeps {
    fn due(&self, node: &str, state: &str, now: Timestamp) -> bool {
        match self.next.get(node) {
            Some((seen, at)) if seen == state => *at <= now,
            _ => true,
        }
    }
}

/// At most this many leases get a new duration per tick (spreads the rewrite of every lease
/// when the budget changes over seconds instead of one burst).
const LEASE_REWRITES_PER_TICK: usize = 200;

struct Monitor {
    client: kube::Client,
    nodes_api: Api<Node>,
    leases_api: Api<Lease>,
    budget: LeaseBudget,
    recorder: Recorder,
    config: ControllerConfig,
    heartbeats: Heartbeats,
    taint_clock: TaintClock,
    sweeps: Sweeps,
}

impl Monitor {
    async fn pass(&mut self, nodes: &Store<Node>, leases: &Store<Lease>) {
        let now = Timestamp::now();
        let mut nodes = nodes.state();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let names: BTreeSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let before = self.budget.current();
        let duration = self.budget.update(nodes.len(), now);
        if duration != before {
            tracing::info!(
                nodes = nodes.len(),
                lease_duration = ?duration,
                grace = ?self.budget.grace(),
                budget = self.config.lease_renewals_per_second,
                "node lease duration follows the cluster's size"
            );
        }
        self.heartbeats.retain(&names);
        self.taint_clock.retain(|n| names.contains(n));
        self.sweeps.next.retain(|n, _| names.contains(n));
        for node in nodes {
            let Some(name) = node.metadata.name.clone() else {
                continue;
            };
            let lease = leases.get(&ObjectRef::new(&name).within(LEASE_NAMESPACE));
            let beat = self
                .heartbeats
                .observe(&name, reported(&node, lease.as_deref()), now);
            let health = assess(&node, beat, now, self.budget.grace());
            if let Err(e) = self.check(&node, health, now).await {
                tracing::debug!(node = %name, error = %e, "node check failed; retrying next tick");
            }
        }
        self.rewrite_leases(leases, now).await;
    }

    /// Give leases the duration the budget asks for; agents adopt it at their next renewal.
    async fn rewrite_leases(&mut self, leases: &Store<Lease>, now: Timestamp) {
        let stale: Vec<String> = leases
            .state()
            .iter()
            .filter(|l| self.budget.rewrite(lease_duration(l), budgeted(l)))
            .filter_map(|l| l.metadata.name.clone())
            .collect();
        if stale.is_empty() {
            self.budget.converged(now);
            return;
        }
        let seconds = i32::try_from(self.budget.current().as_secs()).unwrap_or(i32::MAX);
        let patch = json!({
            "metadata": {"annotations": {budget::BUDGETED: "true"}},
            "spec": {"leaseDurationSeconds": seconds},
        });
        let failed = futures::stream::iter(stale.into_iter().take(LEASE_REWRITES_PER_TICK))
            .map(|name| {
                let (api, patch) = (&self.leases_api, &patch);
                async move {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                        .err()
                }
            })
            .buffer_unordered(16)
            .filter_map(|e| async move { e })
            .count()
            .await;
        if failed > 0 {
            tracing::debug!(
                failed,
                "rewriting lease durations failed; retrying next tick"
            );
        }
    }

    /// Bring one node's conditions and taints in line with its health; mark and evict its pods.
    async fn check(
        &mut self,
        node: &Node,
        health: NodeHealth,
        now: Timestamp,
    ) -> Result<(), Error> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let err = |source| Error::Api {
            node: name.clone(),
            source,
        };
        let stamp = Timestamp::from_second(now.as_second()).unwrap_or(now);
        // Checked every tick for every node: the node is copied only when a patch returns
        // a newer one.
        let mut patched: Option<Node> = None;
        if health == (NodeHealth::Unreachable { mark_unknown: true }) {
            let patch = json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "status": {"conditions": unknown_conditions(node, stamp)},
            });
            patched = Some(
                self.nodes_api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(err)?,
            );
            tracing::info!(node = %name, "node stopped renewing its lease; marked NotReady");
            self.recorder
                .publish(
                    &reference(patched.as_ref().unwrap_or(node)),
                    EventType::Normal,
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                )
                .await;
        }
        if let Some(taints) = reconcile_taints(patched.as_ref().unwrap_or(node), stamp) {
            let keys: Vec<String> = taints
                .iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect();
            let current = patched.as_ref().unwrap_or(node);
            let patch = json!({
                "metadata": {"resourceVersion": current.metadata.resource_version},
                "spec": {"taints": taints},
            });
            patched = Some(
                self.nodes_api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(err)?,
            );
            tracing::info!(node = %name, taints = ?keys, "node taints updated");
        }
        let node = patched.as_ref().unwrap_or(node);
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let no_execute = taints.iter().any(|t| t.effect == NO_EXECUTE);
        if health == NodeHealth::Ready && !no_execute {
            self.sweeps.next.remove(&name);
            return Ok(());
        }
        let state = format!(
            "{health:?} {}",
            serde_json::to_string(&taints).unwrap_or_default()
        );
        if !self.sweeps.due(&name, &state, now) {
            return Ok(());
        }
        let pods_api: Api<Pod> = Api::all(self.client.clone());
        let pods = pods_api
            .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map_err(err)?
            .items;
        if health != NodeHealth::Ready {
            for pod in &pods {
                self.mark_not_ready(pod, stamp).await;
            }
        }
        let mut next = now.saturating_add(SWEEP_PERIOD).unwrap_or(now);
        if no_execute {
            let taints = self.taint_clock.stamp(&name, &taints, stamp);
            let plan = evictions(&pods, &taints, now, self.config.eviction_timeout);
            next = plan.next.map_or(next, |at| at.min(next));
            for pod in plan.due {
                self.evict(pod).await;
            }
        }
        self.sweeps.next.insert(name, (state, next));
        Ok(())
    }

    async fn mark_not_ready(&self, pod: &Pod, now: Timestamp) {
        let Some(conditions) = not_ready_conditions(pod, now) else {
            return;
        };
        let (ns, name) = pod_key(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let patch = json!({
            "metadata": {"resourceVersion": pod.metadata.resource_version},
            "status": {"conditions": conditions},
        });
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::debug!(pod = %format!("{ns}/{name}"), "marked not ready: its node is not ready");
                self.recorder
                    .publish(
                        &reference(pod),
                        EventType::Warning,
                        "NodeNotReady",
                        "Node is not ready",
                    )
                    .await;
            }
            Err(e) => {
                tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "could not mark pod not ready")
            }
        }
    }

    /// Delete the pod at once: nobody is left on the node to finish a graceful deletion.
    async fn evict(&self, pod: &Pod) {
        let (ns, name) = pod_key(pod);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {
                tracing::info!(pod = %format!("{ns}/{name}"), "evicted from a tainted node");
                self.recorder
                    .publish(
                        &reference(pod),
                        EventType::Normal,
                        "TaintManagerEviction",
                        &format!("Marking for deletion Pod {ns}/{name}"),
                    )
                    .await;
            }
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "eviction failed; retrying next tick")
            }
        }
    }
}

fn pod_key(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}
