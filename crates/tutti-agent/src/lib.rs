//! tutti-agent: the node agent (kubelet's job). It registers its Node and renews its
//! Lease, watches the pods bound to it and drives each through a sync loop on a
//! [`RuntimeDriver`](tutti_runtime::RuntimeDriver) — sandbox, volumes, init containers,
//! containers, probes, restart back-off, graceful stop, status — re-adopts the containers
//! a previous run left, and serves container logs for `kubectl logs`.
//!
//! ```no_run
//! # async fn start(client: kube::Client) -> Result<(), tutti_agent::AgentError> {
//! use std::sync::Arc;
//! use tutti_runtime::process::ProcessDriver;
//!
//! let process = Arc::new(ProcessDriver::new("/var/lib/tutti/process".into()));
//! let config = tutti_agent::AgentConfig::new(
//!     "node-1", "10.0.0.5", "/var/lib/tutti", process.clone(), process,
//! );
//! let agent = tutti_agent::Agent::new(client, config);
//! // Serve this on `config.log_port`, inside TLS and authentication.
//! let _router = tutti_agent::log_router(agent.log_state());
//! agent.run().await?; // until cancelled: drop the future or abort its task
//! # Ok(())
//! # }
//! ```

pub mod adopt;
pub mod config;
pub mod error;
pub mod hollow;
pub mod kubetime;
pub mod lease;
pub mod logs;
pub mod machine;
pub mod network;
pub mod node;
mod pods;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{info, warn};
use tutti_client::Recorder;

pub use config::AgentConfig;
pub use error::{AgentError, ContainerError};
pub use logs::{LogState, log_router};
pub use network::NetworkConfig;
pub use pods::UNSUPPORTED_CONDITION;

/// A node agent, before it runs. [`Agent::log_state`] is what the log router serves.
pub struct Agent {
    client: kube::Client,
    config: AgentConfig,
    logs: LogState,
}

impl Agent {
    pub fn new(client: kube::Client, config: AgentConfig) -> Agent {
        Agent {
            client,
            config,
            logs: LogState::new(),
        }
    }

    /// The log index of this agent, for [`log_router`]. Valid before and while it runs.
    pub fn log_state(&self) -> LogState {
        self.logs.clone()
    }

    /// Run until cancelled: dropping this future stops every task the agent started
    /// (containers keep running; a new agent re-adopts them). Returns early only on an
    /// error it cannot retry (the data directory cannot be created).
    pub async fn run(self) -> Result<(), AgentError> {
        let config = self.config;
        let pods_dir = config.data_dir.join("pods");
        tokio::fs::create_dir_all(&pods_dir)
            .await
            .map_err(|e| AgentError::io(&pods_dir, e))?;
        let drivers = adopt::drivers(&config);
        let inventory = adopt::Inventory::take_stock(&drivers).await;
        let mut reporter = node::NodeReporter::new(self.client.clone(), &config).await;
        let mut delay = Duration::from_millis(200);
        let node_uid = loop {
            match reporter.register().await {
                Ok(uid) => break uid,
                Err(e) => {
                    warn!(node = %config.node_name, error = %e, "node registration failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        };
        info!(node = %config.node_name, driver = config.default_driver.name(), "agent started");
        let mut background = JoinSet::new();
        background.spawn(reporter.heartbeat());
        let lease = lease::LeaseKeeper::new(
            self.client.clone(),
            &config.node_name,
            &node_uid,
            config.lease_duration,
        );
        background.spawn(lease.run());
        let pod_network = match &config.network {
            Some(net) => {
                network::start(
                    &self.client,
                    &config.node_name,
                    &config.node_ip,
                    &config.default_driver,
                    &config.cluster_domain,
                    net,
                    &mut background,
                )
                .await
            }
            None => None,
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf")
            .map(|s| pods::parse_resolv_conf(&s))
            .unwrap_or_default();
        let shared = Arc::new(pods::Shared {
            recorder: Recorder::with_host(self.client.clone(), "kubelet", &config.node_name),
            client: self.client,
            logs: self.logs,
            machine: machine::Machine::read(),
            agent_uid: machine::effective_uid(),
            host_resolv,
            pod_network,
            config,
        });
        pods::run(shared, inventory).await
    }
}

/// Run an agent until cancelled; see [`Agent`] to get at its logs.
pub async fn run(client: kube::Client, config: AgentConfig) -> Result<(), AgentError> {
    Agent::new(client, config).run().await
}
