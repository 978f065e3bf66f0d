//! What the agent needs to know about its node: name, address, state directory, runtime
//! drivers and timings. The binary fills it with [`AgentConfig::new`] and adjusts fields.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tutti_runtime::RuntimeDriver;

/// The agent's configuration. Every field is public; [`AgentConfig::new`] sets the
/// kubelet-like defaults for the ones the binary usually leaves alone.
#[derive(Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// The node's InternalIP; also the pod IP of host-network and process-driver pods.
    pub node_ip: String,
    /// Per-pod directories (`pods/<uid>/...`) live here; drivers keep their own state here.
    pub data_dir: PathBuf,
    /// Runs pods without a `runtimeClassName` (docker when available, else process).
    pub default_driver: Arc<dyn RuntimeDriver>,
    /// Runs pods with `runtimeClassName: process`. May be the same driver as the default.
    pub process_driver: Arc<dyn RuntimeDriver>,
    /// The port of the log router, published as `status.daemonEndpoints.kubeletEndpoint`.
    pub log_port: u16,
    /// The node Lease's duration (10 s; a large cluster lengthens it); renewed every quarter.
    pub lease_duration: Duration,
    /// Extra node labels, on top of `kubernetes.io/hostname`, `kubernetes.io/os`, ...
    pub labels: BTreeMap<String, String>,
    /// Nameservers for pods; empty: the host's non-loopback resolv.conf nameservers.
    pub cluster_dns: Vec<String>,
    /// The cluster DNS domain (`cluster.local`); search domains are derived from it when
    /// `cluster_dns` is set.
    pub cluster_domain: String,
    /// The first crash-loop back-off (10 s). It doubles on every restart, is capped at 30×
    /// (5 min) and resets once a container ran 60× (10 min). Tests shrink it.
    pub backoff_base: Duration,
    /// How often a pod worker checks on its containers while it has any (1 s).
    pub sync_period: Duration,
    /// How often the Node's status (heartbeat) is written (10 s).
    pub node_status_period: Duration,
    /// A tmpfs directory for secrets and `emptyDir.medium: Memory`
    /// (`/dev/shm/tutti/<node>`): secret data never touches a disk. The agent owns it:
    /// directories of pods it does not know are removed.
    pub shm_dir: PathBuf,
    /// Join the cluster network (pod bridge, routes, service proxy, DNS); None: pods run
    /// on the driver's default network and the host's network is left alone.
    pub network: Option<crate::NetworkConfig>,
}

impl AgentConfig {
    pub fn new(
        node_name: impl Into<String>,
        node_ip: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        default_driver: Arc<dyn RuntimeDriver>,
        process_driver: Arc<dyn RuntimeDriver>,
    ) -> AgentConfig {
        let node_name = node_name.into();
        AgentConfig {
            shm_dir: PathBuf::from("/dev/shm/tutti").join(&node_name),
            node_name,
            node_ip: node_ip.into(),
            data_dir: data_dir.into(),
            default_driver,
            process_driver,
            log_port: 10250,
            lease_duration: Duration::from_secs(10),
            labels: BTreeMap::new(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".to_string(),
            backoff_base: Duration::from_secs(10),
            sync_period: Duration::from_secs(1),
            node_status_period: Duration::from_secs(10),
            network: None,
        }
    }

    /// Where the agent keeps pod `uid`'s on-disk state (volumes, container log dirs).
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(uid)
    }

    /// Where pod `uid`'s memory-backed volumes and secrets live.
    pub fn pod_shm_dir(&self, uid: &str) -> PathBuf {
        self.shm_dir.join(uid)
    }
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("node_name", &self.node_name)
            .field("node_ip", &self.node_ip)
            .field("data_dir", &self.data_dir)
            .field("default_driver", &self.default_driver.name())
            .field("process_driver", &self.process_driver.name())
            .field("log_port", &self.log_port)
            .field("lease_duration", &self.lease_duration)
            .field("labels", &self.labels)
            .field("cluster_dns", &self.cluster_dns)
            .field("cluster_domain", &self.cluster_domain)
            .field("backoff_base", &self.backoff_base)
            .field("sync_period", &self.sync_period)
            .field("node_status_period", &self.node_status_period)
            .field("shm_dir", &self.shm_dir)
            .field("network", &self.network)
            .finish()
    }
}
