//! The shared write path: committing an object with its allocations in one store
//! transaction, the read-modify-write loop behind update and patch, and `pods/binding`.

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tutti_core::registry::ResourceInfo;
use tutti_store::{Compare, KeyValue, Txn, TxnOp};

use super::{Req, respond};
use crate::ApiServer;
pub use crate::admission::Part;
use crate::admission::{Admission, FieldValidation};
use crate::alloc::{self, Plan};
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, from_kv, to_bytes};

/// Options every write carries.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub field_validation: FieldValidation,
    pub field_manager: Option<String>,
    pub dry_run: bool,
}

impl WriteOptions {
    pub fn from_req(req: &Req) -> ApiResult<WriteOptions> {
        Ok(WriteOptions {
            field_validation: req.params.field_validation()?,
            field_manager: req.params.get("fieldManager").map(str::to_string),
            dry_run: req.params.get("dryRun").is_some_and(|d| d == "All"),
        })
    }
}

/// A committed (or dry-run) object and the warnings to send with it.
#[derive(Debug)]
pub struct Written {
    pub obj: Value,
    pub warnings: Vec<String>,
}

/// How a commit attempt ended.
pub enum Commit {
    Done(i64),
    /// The object's compare failed: someone else wrote it (or it exists, on create).
    ObjectConflict,
    /// A reservation is held by someone else.
    Taken(alloc::Reservation),
}

/// Put `obj` at `key` if the key's mod_revision is still `expected` (0 = absent), taking and
/// releasing allocations in the same transaction.
pub async fn commit_put(
    api: &ApiServer,
    key: &str,
    obj: &Value,
    expected: i64,
    plan: &Plan,
) -> ApiResult<Commit> {
    let owner = Bytes::from(key.to_string());
    let mut txn = Txn {
        compares: vec![Compare::ModRevision {
            key: key.to_string(),
            revision: expected,
        }],
        ops: vec![],
    };
    for r in &plan.reserve {
        txn.compares.push(Compare::ModRevision {
            key: r.key.clone(),
            revision: 0,
        });
        txn.ops.push(TxnOp::Put {
            key: r.key.clone(),
            value: owner.clone(),
        });
    }
    for k in &plan.release {
        txn.ops.push(TxnOp::Delete { key: k.clone() });
    }
    txn.ops.push(TxnOp::Put {
        key: key.to_string(),
        value: to_bytes(obj)?,
    });
    let resp = api.store.txn(txn).await?;
    if resp.succeeded {
        return Ok(Commit::Done(resp.revision));
    }
    let obj_current = resp.compared.first().cloned().flatten();
    if obj_current.map(|kv| kv.mod_revision).unwrap_or(0) != expected {
        return Ok(Commit::ObjectConflict);
    }
    for (r, current) in plan.reserve.iter().zip(resp.compared.iter().skip(1)) {
        if current.is_some() {
            return Ok(Commit::Taken(r.clone()));
        }
    }
    Ok(Commit::ObjectConflict)
}

/// Delete `key` if its mod_revision is still `expected`, releasing what the object held.
pub async fn commit_delete(
    api: &ApiServer,
    key: &str,
    expected: i64,
    release: &[String],
) -> ApiResult<Option<i64>> {
    let mut ops = vec![TxnOp::Delete {
        key: key.to_string(),
    }];
    ops.extend(release.iter().map(|k| TxnOp::Delete { key: k.clone() }));
    let txn = Txn {
        compares: vec![Compare::ModRevision {
            key: key.to_string(),
            revision: expected,
        }],
        ops,
    };
    let resp = api.store.txn(txn).await?;
    Ok(resp.succeeded.then_some(resp.revision))
}

pub fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
    ApiError::NotFound {
        resource: info.group_resource(),
        name: name.to_string(),
    }
}

pub fn conflict(info: &ResourceInfo, name: &str) -> ApiError {
    ApiError::Conflict {
        resource: info.group_resource(),
        name: name.to_string(),
    }
}

pub async fn current(
    api: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<KeyValue> {
    api.store
        .get(&info.key(ns, name))
        .await?
        .ok_or_else(|| not_found(info, name))
}

/// How an update is made: which part of the object, the resourceVersion the caller read
/// (a precondition), and the write options.
pub struct Update<'a> {
    pub part: Part,
    pub expected: Option<i64>,
    pub opts: &'a WriteOptions,
}

/// Read-modify-write with optimistic concurrency: read the object, compute its new form with
/// `change`, admit it and commit if nobody wrote in between; otherwise read again. With a
/// caller precondition (`expected`), a concurrent write is a 409 instead of a retry.
pub async fn update_with<F>(
    api: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    how: Update<'_>,
    mut change: F,
) -> ApiResult<Written>
where
    F: FnMut(&Value) -> ApiResult<Value>,
{
    let Update {
        part,
        expected,
        opts,
    } = how;
    let key = info.key(ns, name);
    for _ in 0..16 {
        let kv = current(api, info, ns, name).await?;
        if expected.is_some_and(|rv| rv != kv.mod_revision) {
            return Err(conflict(info, name));
        }
        let old = from_kv(&kv)?;
        let mut new = change(&old)?;
        // Service addresses carry over from the old object before validation sees it.
        let plan = if info.kind == "Service" && part == Part::Main {
            alloc::plan_service(&api.config, Some(&old), &mut new)?
        } else {
            Plan::default()
        };
        let mut adm = Admission {
            info,
            namespace: ns,
            field_validation: opts.field_validation,
            warnings: vec![],
        };
        let mut obj = adm.update(&old, new, part)?;
        if same_object(&old, &obj) || opts.dry_run {
            return Ok(Written {
                obj,
                warnings: adm.warnings,
            });
        }
        if objects::is_terminating(&obj) && !has_finalizers(&obj) && !has_grace_left(&obj) {
            // The last finalizer is gone: the object is deleted now. (A pod still in its
            // grace period waits for its node agent's final delete instead.)
            if commit_delete(api, &key, kv.mod_revision, &alloc::held_keys(&old))
                .await?
                .is_some()
            {
                return Ok(Written {
                    obj,
                    warnings: adm.warnings,
                });
            }
        } else {
            match commit_put(api, &key, &obj, kv.mod_revision, &plan).await? {
                Commit::Done(rev) => {
                    objects::set_resource_version(&mut obj, rev);
                    return Ok(Written {
                        obj,
                        warnings: adm.warnings,
                    });
                }
                Commit::Taken(r) if r.user_chosen => return Err(alloc::taken(name, &r)),
                Commit::Taken(_) | Commit::ObjectConflict => {}
            }
        }
        if expected.is_some() {
            return Err(conflict(info, name));
        }
    }
    Err(conflict(info, name))
}

/// A terminating object given a grace period (a pod its node is stopping).
fn has_grace_left(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        > 0
}

/// Metadata finalizers, plus a Namespace's `spec.finalizers`.
pub fn has_finalizers(obj: &Value) -> bool {
    !objects::finalizers(obj).is_empty()
        || obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
            && obj.get("kind").and_then(Value::as_str) == Some("Namespace")
}

/// Equal but for `metadata.resourceVersion` (compared in place: no copies of the objects).
fn same_object(a: &Value, b: &Value) -> bool {
    /// Equal objects once the key `skip` is left out of both.
    fn equal_without(a: &Value, b: &Value, skip: &str) -> bool {
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return a == b;
        };
        let rest = |m: &serde_json::Map<String, Value>| m.len() - usize::from(m.contains_key(skip));
        rest(a) == rest(b)
            && a.iter()
                .filter(|(k, _)| *k != skip)
                .all(|(k, v)| b.get(k) == Some(v))
    }
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    ao.len() == bo.len()
        && ao.iter().all(|(k, v)| match bo.get(k) {
            Some(w) if k == "metadata" => equal_without(v, w, "resourceVersion"),
            Some(w) => v == w,
            None => false,
        })
}

/// `POST pods/<name>/binding`: assign a pending pod to a node (the scheduler's one write).
pub async fn binding(req: Req) -> ApiResult<Response> {
    let body = crate::body::decode_object(&req.headers, &req.body)?;
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let info = req.target.info;
    let name = req.target.name()?.to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid {
            group_kind: "Binding".into(),
            kind: "Binding".into(),
            name,
            causes: vec![tutti_core::FieldError::required("target.name")],
        });
    }
    let opts = WriteOptions::from_req(&req)?;
    // One write, as Kubernetes' binding does: the node name and the PodScheduled condition
    // together, so watchers see the pod bound and scheduled in the same event.
    update_with(&req.api, info, req.target.ns(), &name, Update { part: Part::Binding, expected: None, opts: &opts }, |old| {
        let current = old.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        if !current.is_empty() {
            return Err(ApiError::ConflictMessage {
                resource: info.group_resource(),
                name: name.clone(),
                message: format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{current}\""),
            });
        }
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!(node);
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": objects::now_rfc3339()});
        let mut conds: Vec<Value> = match new["status"]["conditions"].take() {
            Value::Array(conds) => conds.into_iter().filter(|c| c["type"] != "PodScheduled").collect(),
            _ => Vec::new(),
        };
        conds.push(cond);
        new["status"]["conditions"] = Value::Array(conds);
        Ok(new)
    })
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(respond(&req, StatusCode::CREATED, status, &[]))
}
