//! `PATCH` an object or its status: JSON patch, JSON merge patch, strategic merge patch and
//! server-side apply (which creates the object when it does not exist yet).

use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;

use serde_json::Value;
use tutti_core::patch;
use tutti_core::patch::ownership::{self, FieldSet};

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
                let owned = FieldSet::of_config(info.kind, &doc);
                set_managed_fields(&mut obj, m, "Apply", owned.to_fields_v1());
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
    let force = req.params.flag("force");
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
        |old| match (ty, &manager) {
            (PatchType::Apply, Some(m)) => server_side_apply(info.kind, old, &doc, m, force),
            _ => apply_patch(info.kind, ty, old, &doc),
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

/// Server-side apply of `config` by `manager` to an existing object: merge it in, remove what
/// the manager's previous configuration set and this one no longer does (unless another
/// applier sets it too), and refuse (409) to change a field another applier set to a
/// different value unless `force` takes it over.
fn server_side_apply(
    kind: &str,
    old: &Value,
    config: &Value,
    manager: &str,
    force: bool,
) -> ApiResult<Value> {
    let entries: Vec<Value> = old
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_apply = |e: &Value| e["operation"] == "Apply";
    let owners: BTreeMap<String, FieldSet> = entries
        .iter()
        .filter(|e| is_apply(e))
        .filter_map(|e| {
            let m = e["manager"].as_str()?;
            Some((m.to_string(), FieldSet::from_fields_v1(&e["fieldsV1"])))
        })
        .collect();
    let plan = ownership::plan_apply(kind, old, config, manager, &owners);
    if !plan.conflicts.is_empty() && !force {
        let list: Vec<String> = plan
            .conflicts
            .iter()
            .map(|c| {
                format!(
                    "conflict with \"{}\": {}",
                    c.manager,
                    ownership::path_string(&c.path)
                )
            })
            .collect();
        let n = list.len();
        return Err(ApiError::ConflictMessage {
            resource: kind.to_lowercase(),
            name: old
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            message: format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("\n")
            ),
        });
    }
    let mut new = apply_patch(kind, PatchType::Apply, old, config)?;
    for path in &plan.removed {
        ownership::remove_at(&mut new, path);
    }
    // Forced: the fields move to this manager (`new` otherwise keeps the old entries).
    if !plan.conflicts.is_empty() {
        let mut entries = entries;
        for c in &plan.conflicts {
            for e in entries
                .iter_mut()
                .filter(|e| is_apply(e) && e["manager"] == c.manager.as_str())
            {
                let mut set = FieldSet::from_fields_v1(&e["fieldsV1"]);
                set.paths.remove(&c.path);
                e["fieldsV1"] = set.to_fields_v1();
            }
        }
        objects::metadata_mut(&mut new).insert("managedFields".into(), Value::Array(entries));
    }
    let before = owners.get(manager).cloned().unwrap_or_default();
    // Record the manager only when the apply changes something: a no-op apply must not
    // write (and bump resourceVersion) just to refresh a timestamp.
    if without_managed_fields(&new) != without_managed_fields(old) || before != plan.owned {
        set_managed_fields(&mut new, manager, "Apply", plan.owned.to_fields_v1());
    }
    Ok(new)
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    obj
}
