//! Claiming: a controller adopts orphans its selector matches and releases objects it owns
//! that no longer match (Kubernetes' ControllerRefManager). The decision is the pure
//! [`crate::pods::claim`]; this is the IO: optimistic-concurrency patches of
//! `metadata.ownerReferences`. Generic over the owned kind, so the Deployment controller
//! uses it for ReplicaSets.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Set `owner` as `obj`'s controller. Fails with a conflict if `obj` changed since it was
/// read (its resourceVersion is the precondition).
pub(crate) async fn adopt<K>(
    api: &Api<K>,
    obj: &K,
    owner: &OwnerReference,
) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let mut refs = obj.owner_references().to_vec();
    refs.retain(|r| r.uid != owner.uid);
    refs.push(owner.clone());
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": obj.resource_version(),
    }});
    tracing::debug!(object = %obj.name_any(), owner = %owner.name, "adopting");
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}

/// Remove the reference to the owner with `owner_uid` from `obj` (same precondition).
pub(crate) async fn release<K>(api: &Api<K>, obj: &K, owner_uid: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let refs: Vec<&OwnerReference> = obj
        .owner_references()
        .iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    let refs = if refs.is_empty() {
        json!(null)
    } else {
        json!(refs)
    };
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": obj.resource_version(),
    }});
    tracing::debug!(object = %obj.name_any(), owner_uid, "releasing");
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}

/// Whether an API error means the object is gone (nothing left to claim or delete).
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// Whether an API error is a write conflict (a stale resourceVersion): routine between
/// controllers writing the same object, retried at once by the next event.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() && !s.is_already_exists())
}

/// Whether an API error says the name is taken.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists())
}
