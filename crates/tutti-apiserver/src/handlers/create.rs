//! `POST` a collection: create an object (with generateName, service allocations, and the
//! namespace check).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tutti_core::FieldError;
use tutti_core::registry::{self, ResourceInfo};

use super::write::{Commit, WriteOptions, Written, commit_put};
use super::{Req, respond};
use crate::ApiServer;
use crate::admission::Admission;
use crate::alloc::{self, Plan};
use crate::error::{ApiError, ApiResult};
use crate::objects;

pub async fn create(req: Req) -> ApiResult<Response> {
    let body = crate::body::decode_object(&req.headers, &req.body)?;
    let opts = WriteOptions::from_req(&req)?;
    let written = create_object(&req.api, req.target.info, req.target.ns(), body, opts).await?;
    Ok(respond(
        &req,
        StatusCode::CREATED,
        written.obj,
        &written.warnings,
    ))
}

/// Check that objects may be created in `ns`.
async fn check_namespace(
    api: &ApiServer,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
) -> ApiResult<()> {
    let ns_info = registry::find_by_plural("", "namespaces").ok_or(ApiError::NoSuchResource)?;
    match api.store.get(&ns_info.key(None, ns)).await? {
        None => Err(ApiError::NotFound {
            resource: "namespaces".into(),
            name: ns.to_string(),
        }),
        Some(kv) if objects::is_terminating(&objects::from_kv(&kv)?) => {
            Err(ApiError::NamespaceTerminating {
                resource: info.group_resource(),
                name: name.to_string(),
                namespace: ns.to_string(),
            })
        }
        Some(_) => Ok(()),
    }
}

pub async fn create_object(
    api: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    body: Value,
    opts: WriteOptions,
) -> ApiResult<Written> {
    let ns = if info.namespaced {
        Some(
            ns.or(objects::meta_str(&body, "namespace"))
                .unwrap_or("default"),
        )
    } else {
        None
    };
    let generated = objects::meta_str(&body, "name").is_none_or(str::is_empty);
    for _ in 0..16 {
        let mut adm = Admission {
            info,
            namespace: ns,
            field_validation: opts.field_validation,
            warnings: vec![],
        };
        let mut obj = adm.create(body.clone())?;
        let name = objects::name(&obj).to_string();
        if name.is_empty() {
            return Err(ApiError::Invalid {
                group_kind: info.group_kind(),
                kind: info.kind.to_string(),
                name,
                causes: vec![
                    FieldError::required("metadata.name")
                        .with_message("name or generateName is required"),
                ],
            });
        }
        if let Some(ns) = ns {
            check_namespace(api, info, ns, &name).await?;
        }
        let plan = if info.kind == "Service" {
            alloc::plan_service(&api.config, None, &mut obj)?
        } else {
            Plan::default()
        };
        if let Some(m) = &opts.field_manager {
            set_managed_fields(&mut obj, m, "Update", serde_json::json!({}));
        }
        if opts.dry_run {
            return Ok(Written {
                obj,
                warnings: adm.warnings,
            });
        }
        match commit_put(api, &info.key(ns, &name), &obj, 0, &plan).await? {
            Commit::Done(rev) => {
                objects::set_resource_version(&mut obj, rev);
                return Ok(Written {
                    obj,
                    warnings: adm.warnings,
                });
            }
            Commit::ObjectConflict if generated => continue,
            Commit::ObjectConflict => {
                return Err(ApiError::AlreadyExists {
                    resource: info.group_resource(),
                    name,
                });
            }
            Commit::Taken(r) if r.user_chosen => return Err(alloc::taken(&name, &r)),
            Commit::Taken(_) => continue,
        }
    }
    Err(ApiError::Internal(
        "could not allocate a name or address after many attempts".into(),
    ))
}

/// Record (minimally) which manager last wrote the object, as Kubernetes' managedFields.
pub fn set_managed_fields(obj: &mut Value, manager: &str, operation: &str, fields: Value) {
    let api_version = obj.get("apiVersion").cloned().unwrap_or_default();
    let entry = serde_json::json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": objects::now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    let meta = objects::metadata_mut(obj);
    let mut list: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.retain(|e| !(e["manager"] == manager && e["operation"] == operation));
    list.push(entry);
    meta.insert("managedFields".into(), Value::Array(list));
}
