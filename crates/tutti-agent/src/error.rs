//! The agent's errors: [`AgentError`] for the agent's own work (API calls, files, drivers)
//! and [`ContainerError`] for why one container could not start, which becomes the
//! container's waiting reason in the pod status.

use std::path::PathBuf;

use tutti_runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("watching pods failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("runtime driver {driver}: {source}")]
    Runtime {
        driver: &'static str,
        source: RuntimeError,
    },
    #[error("hollow nodes: {0}")]
    Hollow(String),
    #[error("could not encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
}

impl AgentError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> AgentError {
        AgentError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why a container could not be started; each maps to the waiting reason kubelet shows.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A referenced ConfigMap/Secret/key is missing, or the driver cannot run the spec
    /// (`CreateContainerConfigError`).
    #[error("{0}")]
    Config(String),
    /// The image is absent and the policy is `Never` (`ErrImageNeverPull`).
    #[error("{0}")]
    ImageNeverPull(String),
    /// The image could not be pulled (`ErrImagePull`, then `ImagePullBackOff`).
    #[error("{0}")]
    ImagePull(String),
    /// The driver failed to create or start it (`RunContainerError`).
    #[error("{0}")]
    Run(String),
}

impl ContainerError {
    /// The waiting reason kubelet reports for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            ContainerError::Config(_) => "CreateContainerConfigError",
            ContainerError::ImageNeverPull(_) => "ErrImageNeverPull",
            ContainerError::ImagePull(_) => "ErrImagePull",
            ContainerError::Run(_) => "RunContainerError",
        }
    }
}
