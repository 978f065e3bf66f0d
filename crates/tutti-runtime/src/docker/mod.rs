//! docker driver: runs pods on the Docker Engine through bollard.
//!
//! A pod is a sandbox container (`tutti/pause`, built by `scripts/images.sh`) that owns the
//! pod's network and IPC namespaces, with each of the pod's containers joined to them
//! (`network_mode: container:<sandbox>`). Everything the driver creates carries
//! `io.tutti.*` labels (`labels.rs`) so a restarted agent finds and re-adopts it.
//!
//! A driver is scoped to one node: what it creates is labelled and named with the node
//! (`labels.rs`, `names.rs`), and it lists only that node's containers, so several agents
//! can share one engine (test machines run nodes in network namespaces over one dockerd).

mod config;
mod container;
mod events;
mod exec;
mod image;
mod labels;
mod logs;
mod names;
mod network;
mod sandbox;
mod security;
mod state;
mod stats;

use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as EngineError;
use tracing::{debug, info};

use crate::{
    Capabilities, ContainerInfo, ContainerSpec, ContainerStats, ExecResult, ExitStream, ImageInfo,
    LogOptions, LogStream, PodNetworkSpec, PullPolicy, RuntimeDriver, RuntimeError, SandboxInfo,
    SandboxSpec,
};

pub use image::PAUSE_IMAGE;

/// How long `connect` waits for the engine to answer before the agent falls back.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The Docker Engine driver of one node. Cheap to clone (the client is shared).
///
/// It sees only containers labelled with its node: containers of other nodes on the same
/// engine, and those an older version created without a node label, belong to someone else
/// and are never listed, adopted or cleaned up by it.
#[derive(Clone, Debug)]
pub struct DockerDriver {
    docker: Docker,
    node: String,
}

impl DockerDriver {
    /// Connect to the local engine (`DOCKER_HOST`, else `/var/run/docker.sock`) for the agent
    /// of node `node_name`, agree on an API version and ping it, all within a few seconds.
    /// `Unavailable` when nothing answers, so the agent can fall back to the process driver;
    /// `Other` for an empty node name (it would scope the driver to nothing).
    pub async fn connect(node_name: &str) -> Result<DockerDriver, RuntimeError> {
        if node_name.trim().is_empty() {
            return Err(RuntimeError::Other(
                "the docker driver needs a node name (to tell its containers from other nodes' \
                 on a shared engine); got an empty one"
                    .to_string(),
            ));
        }
        let docker = Docker::connect_with_local_defaults().map_err(|e| {
            RuntimeError::Unavailable(format!("cannot reach the Docker Engine: {e}"))
        })?;
        let answer = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, EngineError>(docker)
        })
        .await;
        let docker = match answer {
            Ok(Ok(docker)) => docker,
            Ok(Err(e)) => {
                return Err(RuntimeError::Unavailable(format!(
                    "the Docker Engine does not answer: {e}"
                )));
            }
            Err(_) => {
                return Err(RuntimeError::Unavailable(format!(
                    "the Docker Engine did not answer within {CONNECT_TIMEOUT:?}"
                )));
            }
        };
        info!(api_version = %docker.client_version(), node = %node_name, "connected to the Docker Engine");
        Ok(DockerDriver {
            docker,
            node: node_name.to_string(),
        })
    }

    /// The node this driver works for: the `io.tutti.node` label of everything it creates.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The bollard client, for callers that need more than the seam offers (tests, tools).
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Translate an engine error; 404s become `NotFound { id }`.
pub(crate) fn engine_error(id: &str, e: EngineError) -> RuntimeError {
    match e {
        EngineError::DockerResponseServerError {
            status_code: 404, ..
        } => RuntimeError::NotFound { id: id.to_string() },
        EngineError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Other(format!("docker ({status_code}): {message}")),
        EngineError::RequestTimeoutError => {
            RuntimeError::Unavailable("the Docker Engine did not answer in time".to_string())
        }
        EngineError::HyperResponseError { .. }
        | EngineError::IOError { .. }
        | EngineError::SocketNotFoundError(_) => {
            RuntimeError::Unavailable(format!("the Docker Engine is unreachable: {e}"))
        }
        other => RuntimeError::Other(format!("docker: {other}")),
    }
}

/// The engine answered 404.
pub(crate) fn is_not_found(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[async_trait::async_trait]
impl RuntimeDriver for DockerDriver {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            images: true,
            pod_network: true,
            mounts: true,
            resource_limits: true,
            security_context: true,
            exec: true,
        }
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| engine_error("version", e))?;
        Ok(format!(
            "docker://{}",
            version.version.unwrap_or_else(|| "unknown".to_string())
        ))
    }

    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError> {
        image::ensure(&self.docker, image, policy).await
    }

    async fn ensure_pod_network(&self, spec: &PodNetworkSpec) -> Result<String, RuntimeError> {
        network::ensure(&self.docker, &self.node, spec).await
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        sandbox::create(&self.docker, &self.node, spec).await
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        sandbox::remove(&self.docker, &self.node, pod_uid).await
    }

    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        spec: &ContainerSpec,
    ) -> Result<ContainerInfo, RuntimeError> {
        container::start(&self.docker, &self.node, sandbox, spec).await
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        container::stop(&self.docker, id, grace).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        container::remove(&self.docker, id).await
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        container::inspect(&self.docker, id).await
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        container::list(&self.docker, &self.node).await
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>, RuntimeError> {
        sandbox::list(&self.docker, &self.node).await
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        debug!(container = %id, ?command, "exec");
        exec::run(&self.docker, id, command, timeout).await
    }

    async fn logs(&self, id: &str, opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        logs::stream(&self.docker, id, opts).await
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        stats::read(&self.docker, id).await
    }

    async fn exits(&self) -> Result<ExitStream, RuntimeError> {
        Ok(events::exits(&self.docker, &self.node))
    }
}
