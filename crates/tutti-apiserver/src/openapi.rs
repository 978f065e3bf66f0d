//! OpenAPI v3, generated from the registry: one document per group/version listing every
//! resource path and operation with its `x-kubernetes-group-version-kind` and parameters.
//! kubectl reads it to learn that the server validates fields itself (`fieldValidation`)
//! before `apply`. We serve what we implement; no upstream spec files are shipped.
//!
//! OpenAPI v2 is served as an empty document (no definitions): kubectl validates a `List`
//! on the client against the v2 schemas, skips the kinds it finds no schema for, and fails
//! when `/openapi/v2` is missing; the server still validates every item it is sent.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tutti_core::registry::{self, RESOURCES, ResourceInfo};

use crate::discovery::KUBE_MINOR;
use crate::error::{ApiError, ApiResult};

/// `GET /openapi/v2`: a swagger 2.0 document without paths or definitions, as JSON or as
/// the protobuf kubectl asks for (gnostic's `openapi_v2.Document`).
pub async fn v2(headers: HeaderMap) -> Response {
    let wants_protobuf = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("protobuf"));
    if wants_protobuf {
        // Field 1 `swagger` = "2.0"; field 2 `info` = {1 `title` = "tutti", 2 `version` = "v1"}.
        const DOCUMENT: &[u8] = b"\x0a\x032.0\x12\x0b\x0a\x05tutti\x12\x02v1";
        // Sent as octet-stream, as Kubernetes does: Go's media type parser rejects the '@'.
        return (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            DOCUMENT,
        )
            .into_response();
    }
    Json(json!({
        "swagger": "2.0",
        "info": {"title": "tutti", "version": "v1"},
        "paths": {},
        "definitions": {},
    }))
    .into_response()
}

fn gv_paths() -> Vec<(String, &'static str, &'static str)> {
    let mut out = vec![("api/v1".to_string(), "", "v1")];
    for (g, v) in registry::groups() {
        out.push((format!("apis/{g}/{v}"), g, v));
    }
    out
}

pub async fn index() -> Json<Value> {
    let mut paths = Map::new();
    for (p, _, _) in gv_paths() {
        paths.insert(p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", env!("CARGO_PKG_VERSION"))}));
    }
    Json(json!({"paths": paths}))
}

pub async fn document(Path(path): Path<String>) -> ApiResult<Json<Value>> {
    let path = path.trim_matches('/');
    let (_, group, version) = gv_paths()
        .into_iter()
        .find(|(p, _, _)| p == path)
        .ok_or(ApiError::NoSuchResource)?;
    let mut paths = Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resource_paths(r, &mut paths);
    }
    Ok(Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "tutti", "version": format!("v1.{KUBE_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    })))
}

fn param(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}})
}

fn op(r: &ResourceInfo, action: &str, kind: &str, extra: &[&str]) -> Value {
    let params: Vec<Value> = extra.iter().map(|p| param(p, "query")).collect();
    json!({
        "operationId": format!("{action}{}", r.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": kind},
    })
}

const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];

fn resource_paths(r: &ResourceInfo, paths: &mut Map<String, Value>) {
    let base = if r.group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let scoped = if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    };
    let mut path_params = vec![];
    if r.namespaced {
        path_params.push(param("namespace", "path"));
    }
    paths.insert(
        scoped.clone(),
        json!({
            "get": op(r, "list", r.kind, LIST_PARAMS),
            "post": op(r, "post", r.kind, WRITE_PARAMS),
            "delete": op(r, "deletecollection", r.kind, LIST_PARAMS),
            "parameters": path_params.clone(),
        }),
    );
    if r.namespaced {
        paths.insert(
            format!("{base}/{}", r.plural),
            json!({"get": op(r, "list", r.kind, LIST_PARAMS)}),
        );
    }
    let mut item_params = path_params;
    item_params.push(param("name", "path"));
    let item = format!("{scoped}/{{name}}");
    let patch = |kind| {
        let mut p = op(
            r,
            "patch",
            kind,
            &["dryRun", "fieldManager", "fieldValidation", "force"],
        );
        p["requestBody"] = json!({"content": {
            "application/json-patch+json": {}, "application/merge-patch+json": {},
            "application/strategic-merge-patch+json": {}, "application/apply-patch+yaml": {}}});
        p
    };
    paths.insert(
        item.clone(),
        json!({
            "get": op(r, "get", r.kind, &[]),
            "put": op(r, "put", r.kind, WRITE_PARAMS),
            "patch": patch(r.kind),
            "delete": op(r, "delete", r.kind, &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
            "parameters": item_params.clone(),
        }),
    );
    for s in r.subresources {
        let mut ops = Map::new();
        if s.verbs.contains(&"get") {
            ops.insert("get".into(), op(r, "get", s.kind, &[]));
        }
        if s.verbs.contains(&"update") {
            ops.insert("put".into(), op(r, "put", s.kind, WRITE_PARAMS));
            ops.insert("patch".into(), patch(s.kind));
        }
        if s.verbs.contains(&"create") {
            ops.insert("post".into(), op(r, "post", s.kind, WRITE_PARAMS));
        }
        ops.insert("parameters".into(), Value::Array(item_params.clone()));
        paths.insert(format!("{item}/{}", s.name), Value::Object(ops));
    }
}
