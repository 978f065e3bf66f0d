//! What the agent asks a driver for, and what the driver reports back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Kubernetes' `imagePullPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Runs images (false: the process driver runs the command on the host).
    pub images: bool,
    /// Gives each pod its own network namespace and IP.
    pub pod_network: bool,
    /// Honours bind mounts of volumes into the container.
    pub mounts: bool,
    /// Enforces cpu/memory limits.
    pub resource_limits: bool,
    /// Honours securityContext users, capabilities, privileged, read-only root.
    pub security_context: bool,
    /// Supports exec (exec probes).
    pub exec: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub image: String,
    /// `docker-pullable://...` / `sha256:...` as Kubernetes shows `imageID`.
    pub image_id: String,
}

/// A host port published from the sandbox (`hostPort` in a container port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: Option<String>,
    /// "TCP", "UDP" or "SCTP".
    pub protocol: String,
}

/// The pod-level environment shared by its containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxSpec {
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    pub hostname: String,
    /// Docker network to attach the sandbox to (None: the driver's default bridge).
    pub network: Option<String>,
    /// Use the host's network namespace (`hostNetwork: true`).
    pub host_network: bool,
    pub ports: Vec<PortMapping>,
    /// resolv.conf for the pod: nameservers, search domains, options.
    pub dns_servers: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// Extra labels to put on the sandbox (the driver adds its own for re-adoption).
    pub labels: BTreeMap<String, String>,
}

/// The node's pod network, as the agent asks a driver to set it up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodNetworkSpec {
    /// The node's pod CIDR (`Node.spec.podCIDR`, e.g. `10.244.1.0/24`).
    pub subnet: String,
    /// The bridge's own address in it (the first host address, `10.244.1.1`).
    pub gateway: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxInfo {
    pub pod_uid: String,
    /// Driver-specific id (docker container id; empty for the process driver).
    pub id: String,
    /// The pod's IP address. Empty when the pod shares the node's network (host-network
    /// pods, the process driver): the agent then reports the node's IP.
    pub ip: String,
    pub running: bool,
}

/// A volume already prepared on the host by the agent, to bind into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// The subset of securityContext drivers act on (already merged pod-level + container-level).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub read_only_root_filesystem: bool,
    pub privileged: bool,
    /// Capability names as Kubernetes writes them (`NET_ADMIN`, `ALL`, case-insensitive).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub supplemental_groups: Vec<i64>,
}

/// One container to start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    pub name: String,
    /// How many times this container was started before (0 for the first start).
    pub attempt: u32,
    pub image: String,
    /// Entrypoint override (`command`) and arguments (`args`), both already expanded.
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// Environment, in order, `$(VAR)` references already expanded by the agent.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub mounts: Vec<Mount>,
    /// CPU limit in millicores, memory limit in bytes.
    pub cpu_limit_millis: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// CPU request in millicores (docker: cpu shares).
    pub cpu_request_millis: Option<u64>,
    pub security: Security,
    pub tty: bool,
    pub stdin: bool,
    /// Where the process driver writes logs and the agent keeps per-container state.
    pub log_dir: Option<PathBuf>,
    /// Extra labels (the driver adds its own for re-adoption).
    pub labels: BTreeMap<String, String>,
}

/// A container's state as Kubernetes' containerStatuses show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running {
        started_at: SystemTime,
    },
    Exited {
        exit_code: i32,
        /// `OOMKilled`, `Error`, `Completed`, ...
        reason: Option<String>,
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
    },
    Unknown,
}

/// A container (or sandbox) that stopped running: which one, and whose pod it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    pub id: String,
    pub pod_uid: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub image_id: String,
    pub state: ContainerState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    pub exit_code: i64,
    pub output: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u64>,
    /// Only lines written at or after this time.
    pub since: Option<SystemTime>,
    pub timestamps: bool,
}

/// A container's resource usage at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// Memory in bytes (docker: the cgroup's working set, usage minus inactive file cache;
    /// process: resident set of every process in its process group).
    pub memory_bytes: u64,
    /// CPU time used since the container started, in nanoseconds (cumulative).
    pub cpu_usage_nanos: u64,
}
