//! `GET` a collection: label and field selectors, `limit`/`continue` paging at a consistent
//! revision, `resourceVersion` semantics, and Table output.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tutti_core::fields::FieldSelector;
use tutti_core::labels::Selector;
use tutti_core::registry::ResourceInfo;
use tutti_store::{KeyValue, RangeRequest};

use super::{Params, Req, add_warnings};
use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Format};
use crate::objects::{self, from_kv};

/// Label and field selectors of a request.
pub struct Filter {
    pub labels: Option<Selector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn from_params(info: &ResourceInfo, params: &Params) -> ApiResult<Filter> {
        let labels =
            match params.get("labelSelector").filter(|s| !s.trim().is_empty()) {
                Some(s) => Some(Selector::parse(s).map_err(|e| {
                    ApiError::BadRequest(format!("unable to parse requirement: {e}"))
                })?),
                None => None,
            };
        let fields = match params.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let sel =
                    FieldSelector::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
                sel.check_supported(info.kind)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                Some(sel)
            }
            None => None,
        };
        Ok(Filter { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels
            && !l.matches(&objects::labels(obj))
        {
            return false;
        }
        if let Some(f) = &self.fields
            && !f.matches_object(obj)
        {
            return false;
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }
}

/// The labels of a stored object, decoded without the rest of it.
#[derive(serde::Deserialize)]
struct LabelsOnly {
    #[serde(default)]
    metadata: MetaLabels,
}

#[derive(serde::Deserialize, Default)]
struct MetaLabels {
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// A continue token: the revision the first page was read at and the last key returned.
fn encode_continue(rev: i64, key: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": rev, "start": key}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::BadRequest("invalid continue token".into());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v["rv"].as_i64().ok_or_else(bad)?,
        v["start"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

/// List matching objects; returns the items and the list's metadata.
pub async fn list_objects(
    api: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
) -> ApiResult<(Vec<Value>, Value)> {
    list_with(api, info, ns, params, |kv, filter| {
        let obj = from_kv(kv)?;
        Ok(filter.matches(&obj).then_some(obj))
    })
    .await
}

/// List matching objects as JSON, each with its resourceVersion. Without selectors no object
/// is decoded at all ([`objects::json_with_revision`]): a LIST of every pod costs a copy of
/// the stored bytes instead of building and freeing one tree of maps per pod.
pub async fn list_json(
    api: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
) -> ApiResult<(Vec<Vec<u8>>, Value)> {
    list_with(api, info, ns, params, |kv, filter| {
        if filter.is_empty() {
            return objects::json_with_revision(&kv.value, kv.mod_revision).map(Some);
        }
        // A label selector alone (what controllers ask for) reads only the labels.
        if filter.fields.is_none()
            && let Some(labels) = &filter.labels
            && let Ok(stored) = serde_json::from_slice::<LabelsOnly>(&kv.value)
        {
            if !labels.matches(&stored.metadata.labels) {
                return Ok(None);
            }
            return objects::json_with_revision(&kv.value, kv.mod_revision).map(Some);
        }
        let obj = from_kv(kv)?;
        if !filter.matches(&obj) {
            return Ok(None);
        }
        serde_json::to_vec(&obj)
            .map(Some)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
}

/// The paging and revision rules of a LIST; `keep` turns each stored object into an item, or
/// None when the selectors leave it out.
async fn list_with<T>(
    api: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
    mut keep: impl FnMut(&KeyValue, &Filter) -> ApiResult<Option<T>>,
) -> ApiResult<(Vec<T>, Value)> {
    let filter = Filter::from_params(info, params)?;
    let limit: usize = match params.get("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let prefix = info.namespace_prefix(ns);
    let (mut revision, mut start_after) = (0, String::new());
    // resourceVersion=0 without a continue token: any version will do (Kubernetes serves it
    // from its cache); we answer from this manager's replica, even without a quorum.
    let stale = params.get("resourceVersion") == Some("0")
        && params.get("continue").is_none_or(str::is_empty);
    if let Some(token) = params.get("continue").filter(|t| !t.is_empty()) {
        let (rv, start) = decode_continue(token)?;
        (revision, start_after) = (rv, start);
    } else if let Some(rv) = params.get("resourceVersion") {
        // "0" = any version (we serve the latest); an exact match reads at that revision.
        if params.get("resourceVersionMatch") == Some("Exact") {
            revision = objects::parse_rv(rv)?.unwrap_or(0);
        }
    }
    let mut items = Vec::new();
    let mut more = false;
    let mut last_key = String::new();
    let mut remaining = 0;
    loop {
        let want = if limit == 0 {
            0
        } else {
            (limit - items.len()).max(if filter.is_empty() { 0 } else { 256 })
        };
        let req = RangeRequest {
            prefix: prefix.clone(),
            exact: false,
            revision,
            limit: want,
            start_after: start_after.clone(),
        };
        let read = if stale {
            api.store.range_stale(req).await
        } else {
            api.store.range(req).await
        };
        let resp = match read {
            Err(tutti_store::StoreError::Compacted { .. }) if params.get("continue").is_some() => {
                return Err(ApiError::Gone {
                    requested: revision,
                    compacted: 0,
                });
            }
            r => r?,
        };
        revision = resp.revision;
        let n = resp.kvs.len();
        for (i, kv) in resp.kvs.iter().enumerate() {
            if let Some(item) = keep(kv, &filter)? {
                items.push(item);
            }
            last_key = kv.key.clone();
            if limit > 0 && items.len() >= limit {
                more = resp.more || i + 1 < n;
                remaining = resp.remaining + (n - i - 1);
                break;
            }
        }
        if limit > 0 && items.len() >= limit {
            break;
        }
        if !resp.more {
            break;
        }
        start_after = last_key.clone();
    }
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if more {
        meta["continue"] = json!(encode_continue(revision, &last_key));
        if filter.is_empty() {
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    Ok((items, meta))
}

pub async fn list(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let format = negotiate::format(&req.headers);
    if let Format::Json = format {
        let (items, meta) = list_json(&req.api, t.info, t.ns(), &req.params).await?;
        let mut resp = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json_list(t.info, &meta, &items),
        )
            .into_response();
        add_warnings(&mut resp, &[]);
        return Ok(resp);
    }
    // Plain JSON was answered above; tables and metadata-only lists look inside the objects.
    let (items, meta) = list_objects(&req.api, t.info, t.ns(), &req.params).await?;
    let body = if let Format::PartialMetadata = format {
        let items: Vec<Value> = items
            .iter()
            .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}))
            .collect();
        json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items})
    } else {
        crate::table::table(
            t.info.kind,
            &items,
            meta,
            crate::table::IncludeObject::parse(req.params.get("includeObject")),
            objects::now(),
        )
    };
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    add_warnings(&mut resp, &[]);
    Ok(resp)
}

/// `{"kind": ..List, "apiVersion", "metadata", "items": [...]}` around items already in JSON.
fn json_list(info: &ResourceInfo, meta: &Value, items: &[Vec<u8>]) -> Vec<u8> {
    let head = json!({"kind": info.list_kind, "apiVersion": info.api_version(), "metadata": meta});
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop(); // the closing brace: the items follow
    out.reserve(items.iter().map(|i| i.len() + 1).sum::<usize>() + 12);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    out
}
