//! `PATCH` an object or its status: JSON patch, JSON merge patch, strategic merge patch and
//! server-side apply (which creates the object when it does not exist yet).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tutti_core::patch;

use super::create::{create_object, set_managed_fields};
use super::write::{Part, Update, WriteOptions, update_with};
use super::{Req, respond};
use crate::body::{self, PatchType};
use crate::error::{ApiError, ApiResult};
use crate::objects;

/// Apply a patch document of the given type to `current`.
pub fn apply_patch(kind: &str, ty: PatchType, current: &Value, doc: &Value) -> ApiResult<Value> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!("the patch could not be applied: {e}"))
    };
    match ty {
        PatchType::Json => patch::json_patch(current, doc).map_err(|e| bad(&e)),
        PatchType::Merge => Ok(patch::merge_patch(current, doc)),
        PatchType::Strategic | PatchType::Apply => {
            patch::strategic_merge_patch(kind, current, doc).map_err(|e| bad(&e))
        }
    }
}

pub async fn patch(req: Req) -> ApiResult<Response> {
    let ty = body::patch_type(&req.headers)?;
    let doc = body::decode(&req.headers, &req.body)?;
    let mut opts = WriteOptions::from_req(&req)?;
    let t = &req.target;
    let info = t.info;
    let name = t.name()?.to_string();
    if ty == PatchType::Apply {
        if opts.field_manager.is_none() {
            return Err(ApiError::BadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into()));
        }
        if !doc.is_object() {
            return Err(ApiError::BadRequest(
                "an apply patch must be an object".into(),
            ));
        }
        // Field validation for apply defaults to Strict, as in Kubernetes.
        if req.params.get("fieldValidation").is_none() {
            opts.field_validation = crate::admission::FieldValidation::Strict;
        }
        let exists = req.api.store.get(&info.key(t.ns(), &name)).await?.is_some();
        if !exists {
            let mut obj = doc.clone();
            objects::metadata_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
            if let Some(m) = &opts.field_manager {
                set_managed_fields(&mut obj, m, "Apply");
            }
            let mut create_opts = opts.clone();
            create_opts.field_manager = None;
            let written = create_object(&req.api, info, t.ns(), obj, create_opts).await?;
            return Ok(respond(
                &req,
                StatusCode::CREATED,
                written.obj,
                &written.warnings,
            ));
        }
    }
    let part = if t.sub.as_deref() == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    let expected = objects::parse_rv(
        doc.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )?;
    let manager = opts.field_manager.clone();
    let written = update_with(
        &req.api,
        info,
        t.ns(),
        &name,
        Update {
            part,
            expected,
            opts: &opts,
        },
        |old| {
            let mut new = apply_patch(info.kind, ty, old, &doc)?;
            // Record the manager only when the apply changes something: a no-op apply must not
            // write (and bump resourceVersion) just to refresh a timestamp.
            if ty == PatchType::Apply
                && without_managed_fields(&new) != without_managed_fields(old)
                && let Some(m) = &manager
            {
                set_managed_fields(&mut new, m, "Apply");
            }
            Ok(new)
        },
    )
    .await?;
    Ok(respond(
        &req,
        StatusCode::OK,
        written.obj,
        &written.warnings,
    ))
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    obj
}
