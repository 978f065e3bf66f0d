//! Creating a controller's pods in slow-start batches (1, 2, 4, ...), as Kubernetes does, so
//! a broken template costs one failed request rather than hundreds. Every result is recorded
//! as a `SuccessfulCreate` / `FailedCreate` Event on the owner. Shared by the ReplicaSet,
//! DaemonSet and Job controllers.

use futures::future::join_all;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use tutti_client::{EventType, Recorder};

/// Batch sizes for creating `count` pods: 1, 2, 4, ... with the last one cut to fit.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut left, mut size) = (count, 1usize);
    while left > 0 {
        let batch = size.min(left);
        batches.push(batch);
        left -= batch;
        size = size.saturating_mul(2);
    }
    batches
}

/// Whether the API refused a create because the namespace is being deleted (the
/// `NamespaceTerminating` cause): nothing created there can succeed, and the namespace
/// controller is removing what exists, so it is no failure to report or retry.
pub fn namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.details.as_ref().is_some_and(|d| {
        d.causes.iter().any(|c| c.reason == "NamespaceTerminating")
    }))
}

/// Create `pods` batch by batch; a batch's creates run concurrently. After the first batch
/// with a failure, stop and return its first error. A namespace being deleted stops the
/// creates without an error (as in Kubernetes' controllers).
pub async fn create_in_batches(
    api: &Api<Pod>,
    recorder: &Recorder,
    owner: &ObjectReference,
    pods: Vec<Pod>,
) -> Result<(), kube::Error> {
    create_counted(api, recorder, owner, pods).await.1
}

/// [`create_in_batches`], also telling how many pods were created.
pub async fn create_counted(
    api: &Api<Pod>,
    recorder: &Recorder,
    owner: &ObjectReference,
    pods: Vec<Pod>,
) -> (usize, Result<(), kube::Error>) {
    let pp = PostParams::default();
    let mut created = 0;
    let mut rest = pods.as_slice();
    for batch in slow_start_batches(rest.len()) {
        let (now, later) = rest.split_at(batch);
        let results = join_all(now.iter().map(|p| api.create(&pp, p))).await;
        let mut failure = None;
        let mut terminating = false;
        let mut events = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Err(e) if namespace_terminating(&e) => terminating = true,
                Ok(pod) => {
                    created += 1;
                    tracing::debug!(owner = ?owner.name, pod = %pod.name_any(), "created pod");
                    let msg = format!("Created pod: {}", pod.name_any());
                    events.push((EventType::Normal, "SuccessfulCreate", msg));
                }
                Err(e) => {
                    tracing::warn!(owner = ?owner.name, error = %e, "creating a pod failed");
                    events.push((
                        EventType::Warning,
                        "FailedCreate",
                        format!("Error creating: {e}"),
                    ));
                    failure.get_or_insert(e);
                }
            }
        }
        // The batch's Events are written in the background: waiting for them made every
        // slow-start round cost two writes (pods created at half the rate).
        for (kind, reason, msg) in &events {
            recorder.emit(owner, *kind, reason, msg);
        }
        if let Some(e) = failure {
            return (created, Err(e));
        }
        if terminating {
            tracing::debug!(owner = ?owner.name, "namespace is being deleted; not creating pods");
            return (created, Ok(()));
        }
        rest = later;
    }
    (created, Ok(()))
}
