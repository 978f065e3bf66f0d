//! tutti-controllers: the reconcile loops that run in the manager, each an ordinary API
//! client (the manager hands them an in-process `kube::Client`). Level-triggered through
//! kube-runtime's `Controller` (keyed queue, one worker per key, back-off, resync) or, for
//! the garbage collector and namespaces, small loops of their own.
//!
//! - [`replicaset`], [`deployment`]: pods from templates; rollouts, rollbacks, status.
//! - [`daemonset`], [`job`], [`cronjob`]: the other workload kinds.
//! - [`endpoints`]: Endpoints and EndpointSlices of every service with a selector.
//! - [`node_lifecycle`]: NotReady after a missed lease, taints, eviction.
//! - [`node_ipam`]: a pod CIDR for every node.
//! - [`service_lb`]: the Ready nodes' addresses as every LoadBalancer service's ingress.
//! - [`garbage_collector`]: cascading deletion through ownerReferences.
//! - [`namespace`]: deleting everything in a terminating namespace.
//! - [`event_ttl`]: deleting Events a TTL after their last write (Kubernetes' `--event-ttl`).

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod event_ttl;
pub mod garbage_collector;
pub mod job;
pub mod kinds;
pub mod namespace;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pod_cache;
pub mod pod_creation;
pub mod pod_feed;
pub mod pods;
pub mod replicaset;
pub mod service_lb;
pub mod supervise;

use std::net::Ipv4Addr;
use std::time::Duration;

/// Settings of the controllers.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// A node whose lease is older than this is NotReady (Kubernetes: 40 s; tutti: 10 s, longer
    /// in clusters large enough to need a longer lease).
    pub node_monitor_grace: Duration,
    /// Node lease renewals the managers accept per second: beyond
    /// `4 × nodes / node_monitor_grace` leases get longer (see `node_lifecycle::budget`).
    pub lease_renewals_per_second: u32,
    /// How long pods stay on an unreachable/not-ready node before eviction (tutti: 30 s).
    pub eviction_timeout: Duration,
    /// Nodes' pod CIDRs are blocks of this IPv4 range (Kubernetes' `--cluster-cidr`;
    /// tutti: 10.244.0.0/16).
    pub cluster_cidr: (Ipv4Addr, u8),
    /// Prefix length of each node's block (Kubernetes' `--node-cidr-mask-size`: 24, so 256
    /// nodes of up to 254 pods in the default range).
    pub node_cidr_prefix: u8,
    /// Events are deleted this long after they were last written (Kubernetes'
    /// `--event-ttl`: 1 h). At least one second; see [`event_ttl`].
    pub event_ttl: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            node_monitor_grace: Duration::from_secs(10),
            lease_renewals_per_second: 250,
            eviction_timeout: Duration::from_secs(30),
            cluster_cidr: (Ipv4Addr::new(10, 244, 0, 0), 16),
            node_cidr_prefix: 24,
            event_ttl: Duration::from_secs(3600),
        }
    }
}

/// How many objects a controller reconciles at once (Kubernetes runs 5 workers for most of
/// its controllers). kube-runtime polls every running reconcile whenever one of them wakes,
/// so an unbounded count (5,000 nodes registering at once) costs time quadratic in it; the
/// rest wait in its queue, which costs nothing to poll.
const RECONCILE_CONCURRENCY: u16 = 16;

/// The kube-runtime controller settings every controller here uses.
pub(crate) fn reconcile_config() -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default().concurrency(RECONCILE_CONCURRENCY)
}

/// Start every controller on the current runtime.
pub fn spawn_all(client: kube::Client, config: ControllerConfig) {
    garbage_collector::spawn(client.clone());
    namespace::spawn(client.clone());
    // One pod watch for the five controllers that follow pods; they subscribe first so
    // they see its initial listing.
    let pods = pod_feed::PodFeed::default();
    replicaset::spawn_with(client.clone(), &pods);
    deployment::spawn(client.clone());
    daemonset::spawn_with(client.clone(), &pods);
    job::spawn_with(client.clone(), &pods);
    cronjob::spawn(client.clone());
    disruption::spawn_with(client.clone(), &pods);
    endpoints::spawn_with(client.clone(), &pods);
    pods.start(client.clone());
    service_lb::spawn(client.clone());
    node_ipam::spawn(client.clone(), &config);
    event_ttl::spawn(client.clone(), &config);
    node_lifecycle::spawn(client, config);
}
