//! The agent's Node object: registration (create it, or take over the existing one after
//! an agent restart) and the status heartbeat (capacity, conditions, nodeInfo, addresses).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::kubetime;
use crate::machine::Machine;

/// What `status.nodeInfo.kubeletVersion` says.
pub const KUBELET_VERSION: &str = concat!("v1.33.0-tutti.", env!("CARGO_PKG_VERSION"));

/// Pods a node accepts, as kubelet's default `--max-pods`.
const MAX_PODS: &str = "110";

/// The labels the agent puts on its Node (the configured ones win over none of these).
pub fn node_labels(config: &AgentConfig, machine: &Machine) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    for (k, v) in [
        ("kubernetes.io/hostname", config.node_name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", machine.architecture.as_str()),
        ("beta.kubernetes.io/arch", machine.architecture.as_str()),
        ("tutti.dev/runtime", config.default_driver.name()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    labels
}

/// The Node's status at `now`; conditions keep their transition time from `previous`.
pub fn node_status(
    config: &AgentConfig,
    machine: &Machine,
    runtime_version: &str,
    previous: Option<&NodeStatus>,
    now: &Time,
) -> NodeStatus {
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), Quantity(machine.cpus.to_string()));
    capacity.insert(
        "memory".to_string(),
        Quantity(format!("{}Ki", machine.memory_kib)),
    );
    capacity.insert("pods".to_string(), Quantity(MAX_PODS.to_string()));
    let conditions = [
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
    ]
    .into_iter()
    .map(|(type_, status, reason, message)| {
        let before = previous
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_));
        let transition = match before {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => None,
        };
        NodeCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(transition.unwrap_or_else(|| now.clone())),
        }
    })
    .collect();
    NodeStatus {
        allocatable: Some(capacity.clone()),
        capacity: Some(capacity),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_string(),
                address: config.node_ip.clone(),
            },
            NodeAddress {
                type_: "Hostname".to_string(),
                address: config.node_name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(config.log_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: machine.architecture.clone(),
            boot_id: machine.boot_id.clone(),
            container_runtime_version: runtime_version.to_string(),
            kernel_version: machine.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: machine.machine_id.clone(),
            operating_system: "linux".to_string(),
            os_image: machine.os_image.clone(),
            system_uuid: machine.system_uuid.clone(),
            swap: None,
        }),
        ..Default::default()
    }
}

/// Keeps the Node registered and its status fresh.
pub struct NodeReporter {
    api: Api<Node>,
    config: AgentConfig,
    machine: Machine,
    runtime_version: String,
    last: Option<NodeStatus>,
}

impl NodeReporter {
    pub async fn new(client: kube::Client, config: &AgentConfig) -> NodeReporter {
        let runtime_version = match config.default_driver.version().await {
            Ok(v) => v,
            Err(e) => {
                warn!(driver = config.default_driver.name(), error = %e, "runtime version unknown");
                format!("{}://unknown", config.default_driver.name())
            }
        };
        NodeReporter {
            api: Api::all(client),
            config: config.clone(),
            machine: Machine::read(),
            runtime_version,
            last: None,
        }
    }

    /// Create the Node, or take over the one a previous run left; then write its status.
    /// Returns the Node's uid (for the Lease's owner reference).
    pub async fn register(&mut self) -> Result<String, AgentError> {
        let name = self.config.node_name.clone();
        let labels = node_labels(&self.config, &self.machine);
        let node = Node {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match self.api.create(&PostParams::default(), &node).await {
            Ok(_) => info!(node = %name, "registered node"),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let patch = json!({"metadata": {"labels": labels}});
                self.api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                info!(node = %name, "node already registered; taking it over");
            }
            Err(e) => return Err(e.into()),
        }
        let node = self.write_status().await?;
        Ok(node.metadata.uid.unwrap_or_default())
    }

    /// Write the current status (the heartbeat).
    pub async fn write_status(&mut self) -> Result<Node, AgentError> {
        let now = kubetime::now();
        let status = node_status(
            &self.config,
            &self.machine,
            &self.runtime_version,
            self.last.as_ref(),
            &now,
        );
        let patch = json!({ "status": status });
        let node = self
            .api
            .patch_status(
                &self.config.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        debug!(node = %self.config.node_name, "node status written");
        self.last = Some(status);
        Ok(node)
    }

    /// Heartbeat forever; re-register if the Node was deleted.
    pub async fn heartbeat(mut self) {
        let period = self.config.node_status_period;
        loop {
            tokio::time::sleep(period).await;
            match self.write_status().await {
                Ok(_) => {}
                Err(AgentError::Api(kube::Error::Api(e))) if e.code == 404 => {
                    warn!(node = %self.config.node_name, "node object is gone; registering again");
                    self.last = None;
                    if let Err(e) = self.register().await {
                        warn!(node = %self.config.node_name, error = %e, "re-registration failed");
                    }
                }
                Err(e) => warn!(node = %self.config.node_name, error = %e, "node heartbeat failed"),
            }
        }
    }
}
