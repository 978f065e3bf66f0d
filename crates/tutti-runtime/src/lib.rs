//! tutti-runtime: the `RuntimeDriver` seam between the node agent and whatever runs
//! containers, after Nomad's driver plugins.
//!
//! The agent decides *what* should run (from the pod spec) and drives a pod through its
//! life; a driver only knows *how* to run one container. Drivers:
//! - [`docker`]: Docker Engine through bollard. A pod is a sandbox container that owns the
//!   network namespace, with the pod's containers joined to it.
//! - [`process`]: the container's command as a host process (no image, host network).
//!
//! Every driver passes the same conformance suite (`tests/conformance`).

pub mod error;
pub mod types;

pub use error::RuntimeError;
pub use types::*;

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

/// A stream of log bytes (one or more lines per item).
pub type LogStream = BoxStream<'static, Result<bytes::Bytes, RuntimeError>>;

/// Containers of this node that stopped running, as the runtime reports them.
pub type ExitStream = BoxStream<'static, Result<ContainerExit, RuntimeError>>;

/// How the agent runs containers.
///
/// Obligations every implementation keeps (checked by the conformance suite):
/// - Everything a driver creates carries the pod uid, container name and restart attempt
///   (docker: labels), so [`RuntimeDriver::list`] lets a restarted agent re-adopt running
///   containers instead of restarting them. A driver never stops what it did not start.
/// - `stop_container` sends the stop signal (SIGTERM), waits up to `grace`, then SIGKILLs;
///   it returns once the container has exited. Stopping an exited container is a no-op.
/// - `remove_container` and `remove_sandbox` are idempotent: removing what is already gone
///   is `Ok`.
/// - `ensure_image` never reaches a registry when the policy is `Never`; an image that is
///   absent and cannot be pulled is `RuntimeError::ImageNotPresent` / `ImagePull`, so the
///   agent can report `ErrImageNeverPull` / `ImagePullBackOff`.
/// - A container killed by the kernel for exceeding its memory limit reports
///   `ContainerState::Exited { reason: Some("OOMKilled"), .. }`.
#[async_trait::async_trait]
pub trait RuntimeDriver: Send + Sync + 'static {
    /// `docker` or `process`.
    fn name(&self) -> &'static str;

    /// What this driver can honour; the agent refuses pods needing more, with a clear reason.
    fn capabilities(&self) -> Capabilities;

    /// The runtime's version string for the Node's `status.nodeInfo.containerRuntimeVersion`
    /// (e.g. `docker://20.10.24`, `process://0.1.0`).
    async fn version(&self) -> Result<String, RuntimeError>;

    /// Make sure the image is present according to the pull policy.
    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError>;

    /// Create (or find, if it already exists) the pod's sandbox: the network namespace its
    /// containers share. Returns its IP address.
    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError>;

    /// Prepare this node's pod network: a bridge whose subnet is the node's pod CIDR, which
    /// sandboxes then join (`SandboxSpec.network` = the returned name). Idempotent; a
    /// network left with another subnet is replaced when nothing is attached to it.
    /// Drivers whose pods share the host's network answer `Unsupported`.
    async fn ensure_pod_network(&self, spec: &PodNetworkSpec) -> Result<String, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "the {} driver has no pod network (pod CIDR {})",
            self.name(),
            spec.subnet
        )))
    }

    /// Remove the pod's sandbox (after its containers). Idempotent.
    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError>;

    /// Create and start one container in the pod's sandbox.
    async fn start_container(
        &self,
        sandbox: &SandboxInfo,
        spec: &ContainerSpec,
    ) -> Result<ContainerInfo, RuntimeError>;

    /// SIGTERM, wait up to `grace`, SIGKILL. Returns once it has exited.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Remove a container (stopping it first if needed). Idempotent.
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;

    /// The current state of one container.
    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError>;

    /// Every container this driver manages on this node, running or exited (for
    /// re-adoption); sandboxes are listed by [`RuntimeDriver::list_sandboxes`].
    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError>;

    /// Every sandbox this driver manages on this node.
    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>, RuntimeError>;

    /// Run a command inside a running container (exec probes, `kubectl exec` later) with a
    /// timeout; returns its exit code and combined output (truncated to a few KiB).
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError>;

    /// The container's logs (stdout and stderr interleaved).
    async fn logs(&self, id: &str, opts: &LogOptions) -> Result<LogStream, RuntimeError>;

    /// Exits of this node's containers (sandboxes included) as they happen, so the agent
    /// can act on a dead container at once instead of at its next sync. The stream ends or
    /// fails when the runtime's feed breaks; the caller subscribes again and, since exits
    /// may have been missed meanwhile, still syncs periodically. Drivers without a feed
    /// keep the default: a stream that never yields.
    async fn exits(&self) -> Result<ExitStream, RuntimeError> {
        Ok(futures::stream::pending().boxed())
    }

    /// Resource usage of one running container (the agent's stats, `kubectl top`).
    /// A driver that cannot measure it answers `RuntimeError::Unsupported`.
    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "the {} driver does not report resource usage (container {id})",
            self.name()
        )))
    }
}

pub mod docker;
mod naming;
pub mod process;
mod timestamp;
