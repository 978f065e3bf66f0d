//! tutti-controllers: the reconcile loops that run in the manager, each an ordinary API
//! client (the manager hands them an in-process `kube::Client`). Level-triggered through
//! kube-runtime's `Controller` (keyed queue, one worker per key, back-off, resync) or, for
//! the garbage collector and namespaces, small loops of their own.
//!
//! - [`replicaset`], [`deployment`]: pods from templates; rollouts, rollbacks, status.
//! - [`daemonset`], [`job`], [`cronjob`]: the other workload kinds.
//! - [`node_lifecycle`]: NotReady after a missed lease, taints, eviction.
//! - [`garbage_collector`]: cascading deletion through ownerReferences.
//! - [`namespace`]: deleting everything in a terminating namespace.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod garbage_collector;
pub mod job;
pub mod kinds;
pub mod namespace;
pub mod node_lifecycle;
pub mod pod_creation;
pub mod pods;
pub mod replicaset;

use std::time::Duration;

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// A node whose lease is older than this is NotReady (Kubernetes: 40 s; tutti: 10 s).
    pub node_monitor_grace: Duration,
    /// How long pods stay on an unreachable/not-ready node before eviction (tutti: 30 s).
    pub eviction_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_monitor_grace: Duration::from_secs(10),
            eviction_timeout: Duration::from_secs(30),
        }
    }
}

/// Start every controller on the current runtime.
pub fn spawn_all(client: kube::Client, config: ControllerConfig) {
    garbage_collector::spawn(client.clone());
    namespace::spawn(client.clone());
    replicaset::spawn(client.clone());
    deployment::spawn(client.clone());
    daemonset::spawn(client.clone());
    job::spawn(client.clone());
    cronjob::spawn(client.clone());
    disruption::spawn(client.clone());
    node_lifecycle::spawn(client, config);
}
