//! Writing what [`super::subsets`] and [`super::slices`] computed: the Endpoints object only
//! when it differs from the stored one, the slice plan in the order that never hides an
//! endpoint (create, then update, then delete), and the removal of everything this
//! controller wrote for a service.

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};

use super::slices;
use super::subsets;
use super::targets::Target;
use super::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SKIP_MIRROR_LABEL};
use crate::replicaset::claim::is_not_found;

/// What a reconcile wrote, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    pub endpoints: bool,
    pub slices_created: usize,
    pub slices_updated: usize,
    pub slices_deleted: usize,
}

/// Create or replace the service's Endpoints with `desired`, unless the stored one already
/// says the same. Returns whether it wrote.
pub(super) async fn endpoints(client: &kube::Client, desired: Endpoints) -> kube::Result<bool> {
    let ns = desired.metadata.namespace.clone().unwrap_or_default();
    let name = desired.name_any();
    let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    match api.get_opt(&name).await? {
        None => {
            api.create(&PostParams::default(), &desired).await?;
        }
        Some(stored) if subsets::is_current(&stored, &desired) => return Ok(false),
        Some(mut stored) => {
            // Replace guarded by the stored resourceVersion; other metadata is kept.
            stored.metadata.labels = desired.metadata.labels;
            stored.subsets = desired.subsets;
            api.replace(&name, &PostParams::default(), &stored).await?;
        }
    }
    Ok(true)
}

/// The label selector of the slices this controller wrote for service `name`.
pub(super) fn slice_selector(name: &str) -> String {
    format!("{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}")
}

/// Bring the service's slices to what `targets` call for.
pub(super) async fn slices(
    client: &kube::Client,
    svc: &Service,
    targets: &[Target],
    written: &mut Written,
) -> kube::Result<()> {
    let ns = svc.namespace().unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let stored = api
        .list(&ListParams::default().labels(&slice_selector(&svc.name_any())))
        .await?
        .items;
    let plan = slices::plan(svc, targets, &stored);
    for slice in &plan.create {
        api.create(&PostParams::default(), slice).await?;
        written.slices_created += 1;
    }
    for slice in &plan.update {
        api.replace(&slice.name_any(), &PostParams::default(), slice)
            .await?;
        written.slices_updated += 1;
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => written.slices_deleted += 1,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Delete what this controller wrote for service `ns/name`: its slices owned by `owner_uid`
/// (all of its slices when `None`) and, if `endpoints_too`, its Endpoints — only one that
/// carries this controller's mark, so hand-written Endpoints are never touched.
pub(super) async fn remove_managed(
    client: &kube::Client,
    ns: &str,
    name: &str,
    owner_uid: Option<&str>,
    endpoints_too: bool,
) -> kube::Result<()> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let stored = slices
        .list(&ListParams::default().labels(&slice_selector(name)))
        .await?
        .items;
    for slice in stored {
        let owned =
            owner_uid.is_none_or(|uid| slice.owner_references().iter().any(|r| r.uid == uid));
        if owned {
            delete_exact(&slices, &slice.name_any(), slice.uid()).await?;
        }
    }
    if endpoints_too {
        let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), ns);
        if let Some(ep) = endpoints.get_opt(name).await?
            && is_marked(&ep)
        {
            delete_exact(&endpoints, name, ep.uid()).await?;
        }
    }
    Ok(())
}

/// Whether an Endpoints object carries the mark of the endpoints controller.
pub(super) fn is_marked(ep: &Endpoints) -> bool {
    ep.labels().get(SKIP_MIRROR_LABEL).map(String::as_str) == Some("true")
}

/// Delete `name` if it is still the object with `uid` (a newer one of that name is left
/// alone); gone already is fine.
async fn delete_exact<K>(api: &Api<K>, name: &str, uid: Option<String>) -> kube::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || is_conflict_status(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A failed precondition (409): the object was replaced by a newer one of the same name.
fn is_conflict_status(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict())
}
