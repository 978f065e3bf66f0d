//! Errors of the runtime seam.

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image is absent and the policy forbids pulling (`ErrImageNeverPull`).
    #[error("container image \"{image}\" is not present with pull policy of Never")]
    ImageNeverPull { image: String },
    /// The image is absent and could not be pulled (`ErrImagePull` / `ImagePullBackOff`).
    #[error("failed to pull image \"{image}\": {detail}")]
    ImagePull { image: String, detail: String },
    #[error("container {id} not found")]
    NotFound { id: String },
    /// The spec asks for something this driver cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The container could not be created or started (bad command, bad mount...).
    #[error("{0}")]
    StartFailed(String),
    #[error("the container runtime is unavailable: {0}")]
    Unavailable(String),
    #[error("runtime error: {0}")]
    Other(String),
}
