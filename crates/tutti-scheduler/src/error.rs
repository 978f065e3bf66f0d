//! The scheduler's one error type: what can go wrong reading a pod or talking to the API.

/// Errors of the scheduler crate.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A field of the pod cannot be understood, so the pod cannot be placed until it is fixed.
    #[error("pod {pod}: {field}: {reason}")]
    InvalidPod {
        pod: String,
        field: String,
        reason: String,
    },
    /// A call to the API server failed.
    #[error("{action} pod {pod}: {source}")]
    Api {
        action: &'static str,
        pod: String,
        #[source]
        source: kube::Error,
    },
}
