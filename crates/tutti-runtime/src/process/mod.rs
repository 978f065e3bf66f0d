//! process driver: a container's command as a host process (Nomad's raw_exec), for
//! `runtimeClassName: process` pods and nodes without a container engine.
//!
//! What it honours: command + args, env (exactly as given, plus the agent's PATH when the
//! spec sets none), workingDir (default: a fresh directory per container), logs with
//! timestamps, signals to the process group, exit codes (signal N → 128+N), resource usage,
//! exec on the host, and runAsUser/runAsGroup when the agent runs as root. Everything else
//! in a spec (mounts, limits, capabilities, ...) is refused with `Unsupported` naming the
//! fields — see [`ProcessDriver::unsupported_fields`]; DNS settings are ignored (processes
//! use the host's resolver).
//!
//! Pods have no sandbox of their own: `create_sandbox` returns an empty id and an **empty
//! ip; the agent fills in the node's IP** (processes share the host network).
//!
//! Re-adoption: per-container records live under the state directory (`record.rs`); a new
//! driver over the same directory lists running processes (checked by pid *and* start time)
//! and takes over their logs. Each command runs under a small wrapper shell (`/bin/sh`) that
//! writes its exit status to a file, so a process that exits while its agent is down still
//! reports its real exit code; only if the wrapper itself was killed behind our back is the
//! code unknown: exit code 137 with reason `ContainerStatusUnknown`, as Kubernetes reports.

mod exec;
mod logfile;
mod observe;
mod procfs;
mod record;
mod spawn;
mod stop;
mod supervise;
mod unsupported;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::debug;

use self::observe::observe;
use self::record::{Layout, load_json, save_json};
use crate::{
    Capabilities, ContainerInfo, ContainerSpec, ContainerStats, ExecResult, ImageInfo, LogOptions,
    LogStream, PullPolicy, RuntimeDriver, RuntimeError, SandboxInfo, SandboxSpec,
};

/// Runs containers as host processes; state under `state_dir`.
#[derive(Clone, Debug)]
pub struct ProcessDriver {
    layout: Layout,
}

/// What is remembered of a pod's (non-existent) sandbox, so `list_sandboxes` survives a
/// restart like the docker driver's does.
#[derive(Debug, Serialize, Deserialize)]
struct SandboxRecord {
    pod_uid: String,
    pod_name: String,
    namespace: String,
}

impl ProcessDriver {
    /// A driver keeping its records under `state_dir` (created on first use). Two drivers
    /// over the same directory see the same containers (that is how an agent restart works).
    pub fn new(state_dir: PathBuf) -> ProcessDriver {
        ProcessDriver {
            layout: Layout::new(state_dir),
        }
    }

    /// The fields of `spec` this driver cannot honour, as `field: why` strings; empty when
    /// it can run the spec. `start_container` refuses a spec with any (`Unsupported`).
    pub fn unsupported_fields(spec: &ContainerSpec) -> Vec<String> {
        unsupported::fields(spec, rustix::process::geteuid().as_raw())
    }

    fn io_error(path: &std::path::Path, e: std::io::Error) -> RuntimeError {
        RuntimeError::Other(format!("{}: {e}", path.display()))
    }
}

#[async_trait::async_trait]
impl RuntimeDriver for ProcessDriver {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            images: false,
            pod_network: false,
            mounts: false,
            resource_limits: false,
            security_context: false,
            exec: true,
        }
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        Ok(format!("process://{}", env!("CARGO_PKG_VERSION")))
    }

    /// There are no images: always present, recorded as given.
    async fn ensure_image(
        &self,
        image: &str,
        _policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError> {
        Ok(ImageInfo {
            image: image.to_string(),
            image_id: format!("process://{image}"),
        })
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        if let Some(port) = spec.ports.iter().find(|p| p.host_port != p.container_port) {
            return Err(RuntimeError::Unsupported(format!(
                "hostPort {} for containerPort {}: a host process listens on the host itself, \
                 so the two must be equal",
                port.host_port, port.container_port
            )));
        }
        let dir = self.layout.sandboxes();
        std::fs::create_dir_all(&dir).map_err(|e| Self::io_error(&dir, e))?;
        let record = SandboxRecord {
            pod_uid: spec.pod_uid.clone(),
            pod_name: spec.pod_name.clone(),
            namespace: spec.namespace.clone(),
        };
        save_json(&self.layout.sandbox_file(&spec.pod_uid), &record)?;
        debug!(pod_uid = %spec.pod_uid, "process sandbox recorded (host network)");
        Ok(SandboxInfo {
            pod_uid: spec.pod_uid.clone(),
            id: String::new(),
            ip: String::new(),
            running: true,
        })
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        let path = self.layout.sandbox_file(pod_uid);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io_error(&path, e)),
        }
    }

    async fn start_container(
        &self,
        _sandbox: &SandboxInfo,
        spec: &ContainerSpec,
    ) -> Result<ContainerInfo, RuntimeError> {
        let record = spawn::spawn(&self.layout, spec).await?;
        observe(&self.layout, record)
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        stop::stop(&self.layout, id, grace).await
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        stop::remove(&self.layout, id).await
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        observe(&self.layout, self.layout.load(id)?)
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        self.layout
            .all()?
            .into_iter()
            .map(|record| observe(&self.layout, record))
            .collect()
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>, RuntimeError> {
        let dir = self.layout.sandboxes();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io_error(&dir, e)),
        };
        let mut sandboxes = Vec::new();
        for entry in entries.filter_map(|e| e.ok()) {
            if let Some(record) = load_json::<SandboxRecord>(&entry.path())? {
                sandboxes.push(SandboxInfo {
                    pod_uid: record.pod_uid,
                    id: String::new(),
                    ip: String::new(),
                    running: true,
                });
            }
        }
        sandboxes.sort_by(|a, b| a.pod_uid.cmp(&b.pod_uid));
        Ok(sandboxes)
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        exec::run(&self.layout.load(id)?, command, timeout).await
    }

    async fn logs(&self, id: &str, opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        let record = self.layout.load(id)?;
        // Observing adopts an unsupervised process, so its output keeps reaching the log.
        observe(&self.layout, record.clone())?;
        let layout = self.layout.clone();
        let id = id.to_string();
        // The stream ends once the container has exited (or was removed).
        let exited = move || match layout.load(&id) {
            Ok(record) => observe(&layout, record)
                .map(|info| matches!(info.state, crate::ContainerState::Exited { .. }))
                .unwrap_or(true),
            Err(_) => true,
        };
        logfile::stream(record.log_path, opts, exited).await
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats, RuntimeError> {
        let record = self.layout.load(id)?;
        if record.exit.is_some() || !procfs::alive(record.pid, record.pid_start_ticks) {
            return Err(RuntimeError::Other(format!(
                "container {id} is not running"
            )));
        }
        let (memory_bytes, cpu_usage_nanos) = procfs::group_usage(record.pid);
        Ok(ContainerStats {
            memory_bytes,
            cpu_usage_nanos,
        })
    }
}
