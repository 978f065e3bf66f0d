//! The REST verbs. `core`/`grouped` route `/api/v1/...` and `/apis/<g>/<v>/...` requests to
//! one handler per verb: get, list, watch, create, update (PUT), patch, delete,
//! deletecollection, and the subresources (status, scale, binding, finalize).

pub mod create;
pub mod delete;
pub mod eviction;
pub mod get;
pub mod list;
pub mod log;
pub mod patch;
pub mod scale;
pub mod update;
pub mod watch;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ApiServer;
use crate::admission::FieldValidation;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Format};
use crate::paths::{self, Target};

/// Query parameters (last value wins when repeated).
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        let mut map = HashMap::new();
        if let Some(q) = query {
            for (k, v) in form_urlencoded_pairs(q) {
                map.insert(k, v);
            }
        }
        Params(map)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true") | Some("1"))
    }
    pub fn field_validation(&self) -> ApiResult<FieldValidation> {
        FieldValidation::parse(self.get("fieldValidation"))
    }
    pub fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A request after routing.
pub struct Req {
    pub api: Arc<ApiServer>,
    pub method: Method,
    pub target: Target,
    pub params: Params,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub async fn core(
    State(api): State<Arc<ApiServer>>,
    Path(rest): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(api, "", "v1", &rest, method, query, headers, body).await
}

pub async fn grouped(
    State(api): State<Arc<ApiServer>>,
    Path((group, version, rest)): Path<(String, String, String)>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(api, &group, &version, &rest, method, query, headers, body).await
}

pub async fn not_found() -> Response {
    ApiError::NoSuchResource.into_response()
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    api: Arc<ApiServer>,
    group: &str,
    version: &str,
    rest: &str,
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = match paths::parse(group, version, rest) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let params = Params::parse(query.as_deref());
    let req = Req {
        api,
        method,
        target,
        params,
        headers,
        body,
    };
    match route(req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(req: Req) -> ApiResult<Response> {
    let sub = req.target.sub.clone();
    let has_name = req.target.name.is_some();
    let watching = req.params.flag("watch");
    match (&req.method, has_name, sub.as_deref()) {
        (&Method::GET, false, None) if watching => watch::watch(req).await,
        (&Method::GET, false, None) => list::list(req).await,
        (&Method::GET, true, None) if watching => watch::watch(req).await,
        (&Method::GET, true, None | Some("status")) => get::get(req).await,
        (&Method::GET, true, Some("scale")) => scale::get(req).await,
        (&Method::GET, true, Some("log")) => log::log(req).await,
        (&Method::POST, false, None) => create::create(req).await,
        (&Method::POST, true, Some("binding")) => write::binding(req).await,
        (&Method::POST, true, Some("eviction")) => eviction::evict(req).await,
        (&Method::PUT, true, Some("scale")) => scale::update(req).await,
        (&Method::PUT, true, _) => update::update(req).await,
        (&Method::PATCH, true, Some("scale")) => scale::patch(req).await,
        (&Method::PATCH, true, _) => patch::patch(req).await,
        (&Method::DELETE, true, None) => delete::delete(req).await,
        (&Method::DELETE, false, None) => delete::delete_collection(req).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Answer with an object (or its one-row Table when the client asked for tables), adding
/// `Warning` headers.
pub fn respond(req: &Req, code: StatusCode, obj: Value, warnings: &[String]) -> Response {
    let body = match negotiate::format(&req.headers) {
        Format::Table if obj.get("kind").and_then(Value::as_str) == Some(req.target.info.kind) => {
            let meta = serde_json::json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
            crate::table::table(
                req.target.info.kind,
                std::slice::from_ref(&obj),
                meta,
                crate::table::IncludeObject::parse(req.params.get("includeObject")),
                crate::objects::now(),
            )
        }
        Format::PartialMetadata => serde_json::json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_default(),
        }),
        _ => obj,
    };
    let mut resp = (code, axum::Json(body)).into_response();
    add_warnings(&mut resp, warnings);
    resp
}

pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("Warning", v);
        }
    }
}
