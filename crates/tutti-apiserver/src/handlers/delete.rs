//! `DELETE` an object or a collection. Objects with finalizers (including the ones a
//! propagation policy adds: `orphan`, `foregroundDeletion`), Namespaces, and Pods bound to a
//! node are deleted gracefully: they get a deletionTimestamp and go away once their
//! finalizers are removed (or, for pods, once the node has stopped them).

use axum::http::StatusCode;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tutti_core::registry::ResourceInfo;

use super::list::list_objects;
use super::write::{Commit, commit_delete, commit_put, conflict, current};
use super::{Req, respond};
use crate::ApiServer;
use crate::alloc::{self, Plan};
use crate::bootstrap::DEFAULT_NAMESPACES;
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, from_kv};

/// What the client asked for in DeleteOptions (body) and the query string.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub grace_period: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_req(req: &Req) -> ApiResult<DeleteOptions> {
        let body = if req.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            crate::body::decode_object(&req.headers, &req.body)?
        };
        let str_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let mut o = DeleteOptions {
            propagation: str_of(body.get("propagationPolicy")),
            grace_period: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            uid: str_of(body.pointer("/preconditions/uid")),
            resource_version: str_of(body.pointer("/preconditions/resourceVersion")),
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()),
        };
        if let Some(p) = req.params.get("propagationPolicy") {
            o.propagation = Some(p.to_string());
        }
        if let Some(g) = req.params.get("gracePeriodSeconds") {
            o.grace_period =
                Some(g.parse().map_err(|_| {
                    ApiError::BadRequest(format!("invalid gracePeriodSeconds {g:?}"))
                })?);
        }
        if req.params.get("dryRun") == Some("All") {
            o.dry_run = true;
        }
        match o.propagation.as_deref() {
            None | Some("Orphan") | Some("Background") | Some("Foreground") => Ok(o),
            Some(p) => Err(ApiError::BadRequest(format!(
                "propagationPolicy must be one of Orphan, Background or Foreground, not {p:?}"
            ))),
        }
    }
}

pub async fn delete(req: Req) -> ApiResult<Response> {
    let opts = DeleteOptions::from_req(&req)?;
    let t = &req.target;
    let (obj, gone) = delete_object(&req.api, t.info, t.ns(), t.name()?, &opts).await?;
    if gone {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": objects::name(&obj), "group": t.info.group, "kind": t.info.plural, "uid": objects::uid(&obj)},
        });
        return Ok(respond(&req, StatusCode::OK, status, &[]));
    }
    Ok(respond(&req, StatusCode::OK, obj, &[]))
}

/// Delete one object. Returns its last state and whether it is gone (false: it is now
/// terminating and waits for finalizers or its node).
pub async fn delete_object(
    api: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<(Value, bool)> {
    if info.kind == "Namespace" && DEFAULT_NAMESPACES.contains(&name) {
        return Err(ApiError::Forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    let key = info.key(ns, name);
    for _ in 0..16 {
        let kv = current(api, info, ns, name).await?;
        let old = from_kv(&kv)?;
        if opts.uid.as_deref().is_some_and(|u| u != objects::uid(&old)) {
            return Err(ApiError::ConflictMessage {
                resource: info.group_resource(),
                name: name.to_string(),
                message: format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    opts.uid.as_deref().unwrap_or(""),
                    objects::uid(&old)
                ),
            });
        }
        if opts
            .resource_version
            .as_deref()
            .is_some_and(|rv| rv != kv.mod_revision.to_string())
        {
            return Err(conflict(info, name));
        }
        let mut obj = old.clone();
        let mut finalizers = objects::finalizers(&obj);
        let extra = match opts.propagation.as_deref() {
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            _ => None,
        };
        if let Some(f) = extra
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(f.to_string());
        }
        let grace = pod_grace(info, &obj, opts);
        let graceful = !finalizers.is_empty() || info.kind == "Namespace" || grace > 0;
        if graceful
            && !(objects::is_terminating(&old)
                && grace == 0
                && info.kind == "Pod"
                && finalizers.is_empty())
        {
            if objects::is_terminating(&old) && objects::finalizers(&old) == finalizers {
                return Ok((old, false));
            }
            let meta = objects::metadata_mut(&mut obj);
            if !meta.contains_key("deletionTimestamp") {
                let at = objects::now().as_second() + grace;
                let at = k8s_openapi::jiff::Timestamp::from_second(at).unwrap_or(objects::now());
                meta.insert("deletionTimestamp".into(), json!(at.to_string()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), json!(finalizers));
            }
            if info.kind == "Namespace" {
                obj["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok((obj, false));
            }
            match commit_put(api, &key, &obj, kv.mod_revision, &Plan::default()).await? {
                Commit::Done(rev) => {
                    objects::set_resource_version(&mut obj, rev);
                    return Ok((obj, false));
                }
                _ => continue,
            }
        }
        if opts.dry_run {
            return Ok((old, true));
        }
        if commit_delete(api, &key, kv.mod_revision, &alloc::held_keys(&old))
            .await?
            .is_some()
        {
            return Ok((old, true));
        }
    }
    Err(conflict(info, name))
}

/// Seconds a pod bound to a node is given to stop (0 for everything else).
fn pod_grace(info: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> i64 {
    if info.kind != "Pod"
        || obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return 0;
    }
    // A pod that never started (or already finished) has nothing to stop.
    if matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded") | Some("Failed")
    ) {
        return 0;
    }
    let spec = obj
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    opts.grace_period.unwrap_or(spec).max(0)
}

/// How many of a collection's deletions are in flight at once.
const DELETE_COLLECTION_IN_FLIGHT: usize = 64;

pub async fn delete_collection(req: Req) -> ApiResult<Response> {
    let opts = DeleteOptions::from_req(&req)?;
    let t = &req.target;
    let (items, _) = list_objects(&req.api, t.info, t.ns(), &req.params).await?;
    // Many deletions in flight share the store's group commit: one after the other, a
    // namespace of 10,000 pods took minutes to empty.
    let targets: Vec<(Option<String>, String)> = items
        .iter()
        .map(|obj| {
            let ns = objects::meta_str(obj, "namespace").map(str::to_string);
            (ns, objects::name(obj).to_string())
        })
        .collect();
    let (api, info, opts) = (&req.api, t.info, &opts);
    let failures = futures::stream::iter(targets)
        .map(|(ns, name)| async move { delete_object(api, info, ns.as_deref(), &name, opts).await })
        .buffer_unordered(DELETE_COLLECTION_IN_FLIGHT)
        .filter_map(|r| async move {
            match r {
                Ok(_) | Err(ApiError::NotFound { .. }) => None,
                Err(e) => Some(e),
            }
        });
    futures::pin_mut!(failures);
    if let Some(e) = failures.next().await {
        return Err(e);
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"});
    Ok(respond(&req, StatusCode::OK, status, &[]))
}
