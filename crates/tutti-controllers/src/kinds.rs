//! Mapping registry entries to kube-rs' dynamic `ApiResource`, and dynamic `Api` handles.

use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use tutti_core::registry::{self, ResourceInfo};

pub fn api_resource(info: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: info.group.to_string(),
        version: info.version.to_string(),
        api_version: info.api_version(),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
    }
}

/// An Api for one object's collection (namespaced or cluster-scoped as the kind is).
pub fn api_for(client: &kube::Client, info: &ResourceInfo, ns: Option<&str>) -> Api<DynamicObject> {
    let ar = api_resource(info);
    match (info.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

/// A metadata-only Api for every object of a kind: its requests ask the API server for
/// `PartialObjectMetadata`.
pub fn metadata_api_for(
    client: &kube::Client,
    info: &ResourceInfo,
) -> Api<PartialObjectMeta<DynamicObject>> {
    Api::all_with(client.clone(), &api_resource(info))
}

/// The registry entry for an ownerReference's apiVersion and kind.
pub fn by_owner(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    registry::find_by_kind(Some(api_version), kind)
}
