//! How many pods a budget expects when its bound is relative (`maxUnavailable`, percentage
//! `minAvailable`): the sum of the `spec.replicas` of the controllers of the pods it selects,
//! each counted once (a Deployment for the pods of all its ReplicaSets, a ReplicaSet on its
//! own, a StatefulSet). A pod without such a controller counts as one pod.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::Api;

use crate::pods;

/// A controller's uid and its desired replicas.
type Scale = (String, i32);

/// The expected pod count for `pods` (all in namespace `ns`).
pub(super) async fn from_controllers(
    client: &kube::Client,
    ns: &str,
    pods: &[Pod],
) -> Result<i32, kube::Error> {
    // Lookups by the pod's owner uid; totals by the controller that sets the scale.
    let mut by_owner: BTreeMap<String, Option<Scale>> = BTreeMap::new();
    let mut scales: BTreeMap<String, i32> = BTreeMap::new();
    let mut uncontrolled = 0i32;
    for pod in pods {
        let Some(owner) = pods::controller_of(&pod.metadata) else {
            uncontrolled += 1;
            continue;
        };
        let scale = match by_owner.get(&owner.uid) {
            Some(known) => known.clone(),
            None => {
                let found = scale_of(client, ns, owner).await?;
                by_owner.insert(owner.uid.clone(), found.clone());
                found
            }
        };
        match scale {
            Some((uid, replicas)) => {
                scales.insert(uid, replicas);
            }
            None => uncontrolled += 1,
        }
    }
    let total: i64 = scales.values().map(|r| i64::from(*r)).sum::<i64>() + i64::from(uncontrolled);
    Ok(i32::try_from(total).unwrap_or(i32::MAX))
}

/// The scale behind one controller reference, or `None` when it is of another kind or gone.
async fn scale_of(
    client: &kube::Client,
    ns: &str,
    owner: &OwnerReference,
) -> Result<Option<Scale>, kube::Error> {
    if owner.api_version != "apps/v1" {
        return Ok(None);
    }
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
            let Some(rs) = api.get_opt(&owner.name).await? else {
                return Ok(None);
            };
            if rs.uid().as_deref() != Some(owner.uid.as_str()) {
                return Ok(None);
            }
            if let Some(dep_ref) = pods::controller_of(&rs.metadata)
                && dep_ref.kind == "Deployment"
                && let Some(scale) = deployment_scale(client, ns, dep_ref).await?
            {
                return Ok(Some(scale));
            }
            let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            Ok(Some((owner.uid.clone(), replicas)))
        }
        "StatefulSet" => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            Ok(api
                .get_opt(&owner.name)
                .await?
                .filter(|s| s.uid().as_deref() == Some(owner.uid.as_str()))
                .map(|s| {
                    let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    (owner.uid.clone(), replicas)
                }))
        }
        "Deployment" => deployment_scale(client, ns, owner).await,
        _ => Ok(None),
    }
}

async fn deployment_scale(
    client: &kube::Client,
    ns: &str,
    owner: &OwnerReference,
) -> Result<Option<Scale>, kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    Ok(api
        .get_opt(&owner.name)
        .await?
        .filter(|d| d.uid().as_deref() == Some(owner.uid.as_str()))
        .map(|d| {
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            (owner.uid.clone(), replicas)
        }))
}
