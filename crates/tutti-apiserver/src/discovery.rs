//! Discovery documents (`/version`, `/api`, `/apis`, group/version resource lists), generated
//! from the registry so that kubectl and client libraries find every resource.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tutti_core::registry::{self, RESOURCES, ResourceInfo};

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};

/// The Kubernetes version whose API we serve (matches the k8s-openapi feature).
pub const KUBE_MINOR: &str = "33";

pub async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": format!("v1.{KUBE_MINOR}.0-tutti.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    }))
}

pub async fn core_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }))
}

fn group_json(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

pub async fn groups() -> Json<Value> {
    let groups: Vec<Value> = registry::groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

pub async fn group(Path(group): Path<String>) -> ApiResult<Json<Value>> {
    let (g, v) = registry::groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .ok_or(ApiError::NoSuchResource)?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(Json(doc))
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(resource_json(r));
        for s in r.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                sub["group"] = json!(s.group);
                sub["version"] = json!(s.version);
            }
            resources.push(sub);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn resource_json(r: &ResourceInfo) -> Value {
    let mut v = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    v
}

pub async fn core_resources() -> Json<Value> {
    Json(resource_list("", "v1"))
}

pub async fn group_resources(
    State(_api): State<Arc<ApiServer>>,
    Path((group, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !registry::groups()
        .iter()
        .any(|(g, v)| *g == group && *v == version)
    {
        return Err(ApiError::NoSuchResource);
    }
    Ok(Json(resource_list(&group, &version)))
}
