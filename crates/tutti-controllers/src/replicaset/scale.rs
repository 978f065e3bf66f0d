//! Making the number of active pods equal `spec.replicas`: the diff (pure), creating the
//! missing pods in slow-start batches (1, 2, 4, ... so a broken template fails once, not a
//! thousand times) and deleting the surplus in [`crate::pods::deletion_order`].

use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use tutti_client::EventType;

use super::claim::is_not_found;
use super::{Context, Error};
use crate::pod_cache::CachedPod;
use crate::pods::{self, PodFacts};

/// At most this many pods are created or deleted in one reconcile (Kubernetes' burstReplicas).
pub const BURST_REPLICAS: usize = 500;

/// What to do about the pod count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Diff {
    /// Create this many pods.
    Create(usize),
    /// Delete this many pods.
    Delete(usize),
    /// The count is right.
    None,
}

/// The diff between `active` pods and `replicas` wanted, at most [`BURST_REPLICAS`] at once.
pub fn diff(active: usize, replicas: i32) -> Diff {
    let wanted = usize::try_from(replicas).unwrap_or(0);
    if active < wanted {
        Diff::Create((wanted - active).min(BURST_REPLICAS))
    } else if active > wanted {
        Diff::Delete((active - wanted).min(BURST_REPLICAS))
    } else {
        Diff::None
    }
}

pub use crate::pod_creation::slow_start_batches;

/// Why creating or deleting pods failed, for the ReplicaFailure condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    pub message: String,
}

/// Create or delete pods so that `active` becomes `spec.replicas`.
pub(super) async fn manage(
    ctx: &Context,
    rs: &ReplicaSet,
    active: &[Arc<CachedPod>],
    now: Timestamp,
) -> Result<(), Failure> {
    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    match diff(active.len(), replicas) {
        Diff::None => Ok(()),
        Diff::Create(n) => create(ctx, rs, n).await,
        Diff::Delete(n) => {
            let refs: Vec<&CachedPod> = active.iter().map(|p| &**p).collect();
            let doomed: Vec<&CachedPod> = pods::deletion_order(&refs, &refs, now)
                .into_iter()
                .take(n)
                .collect();
            delete(ctx, rs, &doomed).await
        }
    }
}

/// Create `count` pods from the template, in slow-start batches; stop at the first batch
/// with an error. The cache is told to expect them first.
async fn create(ctx: &Context, rs: &ReplicaSet, count: usize) -> Result<(), Failure> {
    let ns = rs.namespace().unwrap_or_default();
    let (Some(template), Some(owner)) = (
        rs.spec.as_ref().and_then(|s| s.template.as_ref()),
        pods::controller_ref(rs),
    ) else {
        return Err(Failure {
            reason: "FailedCreate",
            message: "the ReplicaSet has no pod template".into(),
        });
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = tutti_client::reference(rs);
    let uid = owner.uid.clone();
    let pod = pods::pod_from_template(template, owner, &ns);
    ctx.pods.expect_creations(&uid, count);
    let (created, result) =
        crate::pod_creation::create_counted(&api, &ctx.recorder, &reference, vec![pod; count])
            .await;
    ctx.pods.creations_failed(&uid, count - created);
    result.map_err(|e| Failure {
        reason: "FailedCreate",
        message: format!("Error creating: {e}"),
    })
}

/// Delete `doomed` pods concurrently (a pod already gone counts as deleted). The cache is
/// told to expect their deletion first.
pub(super) async fn delete(
    ctx: &Context,
    rs: &ReplicaSet,
    doomed: &[&CachedPod],
) -> Result<(), Failure> {
    let ns = rs.namespace().unwrap_or_default();
    let uid = rs.uid().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = tutti_client::reference(rs);
    ctx.pods
        .expect_deletions(&uid, doomed.iter().map(|p| p.pod_uid()));
    let results = join_all(doomed.iter().map(|p| {
        let api = api.clone();
        async move {
            let r = api.delete(p.pod_name(), &DeleteParams::default()).await;
            (p.pod_name().to_string(), p.pod_uid(), r)
        }
    }))
    .await;
    let mut failure = None;
    for (name, pod_uid, result) in results {
        if result.is_err() {
            // Gone already or not deleted: either way no deletion of ours to wait for.
            ctx.pods.deletion_failed(&uid, pod_uid);
        }
        match result {
            Ok(_) => {
                let msg = format!("Deleted pod: {name}");
                ctx.recorder
                    .publish(&reference, EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                let msg = format!("Error deleting: {e}");
                tracing::warn!(replicaset = %rs.name_any(), pod = %name, error = %e, "deleting a pod failed");
                ctx.recorder
                    .publish(&reference, EventType::Warning, "FailedDelete", &msg)
                    .await;
                failure.get_or_insert(Failure {
                    reason: "FailedDelete",
                    message: msg,
                });
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Pods {
            reason: f.reason,
            message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_creates_or_deletes_the_difference_up_to_the_burst() {
        assert_eq!(diff(1, 3), Diff::Create(2));
        assert_eq!(diff(5, 3), Diff::Delete(2));
        assert_eq!(diff(3, 3), Diff::None);
        assert_eq!(diff(0, 2000), Diff::Create(BURST_REPLICAS));
        assert_eq!(diff(2, -1), Diff::Delete(2), "a negative count is zero");
    }

    #[test]
    fn slow_start_doubles_the_batch() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), [1]);
        assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(15), [1, 2, 4, 8]);
    }
}
