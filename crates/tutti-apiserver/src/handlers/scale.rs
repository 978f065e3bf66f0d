//! The `scale` subresource (`autoscaling/v1 Scale`) of Deployments, ReplicaSets and
//! StatefulSets: `kubectl scale` reads and patches it.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::patch::apply_patch;
use super::write::{Part, Update, WriteOptions, current, update_with};
use super::{Req, respond};
use crate::body::{self, PatchType};
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, from_kv};

/// The Scale view of a workload.
pub fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| {
            serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(
                s.clone(),
            )
            .ok()
        })
        .and_then(|s| tutti_core::labels::Selector::from_label_selector(&s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

pub async fn get(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let obj = from_kv(&current(&req.api, t.info, t.ns(), t.name()?).await?)?;
    Ok(respond(&req, StatusCode::OK, scale_of(&obj), &[]))
}

fn replicas_of(scale: &Value) -> ApiResult<i64> {
    let r = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if r < 0 || r > i64::from(i32::MAX) {
        return Err(ApiError::Invalid {
            group_kind: "Scale.autoscaling".into(),
            kind: "Scale".into(),
            name: objects::name(scale).to_string(),
            causes: vec![tutti_core::FieldError::invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            )],
        });
    }
    Ok(r)
}

async fn write_scale(
    req: &Req,
    mut to_scale: impl FnMut(&Value) -> ApiResult<Value>,
    expected: Option<i64>,
) -> ApiResult<Response> {
    let opts = WriteOptions::from_req(req)?;
    let t = &req.target;
    let written = update_with(
        &req.api,
        t.info,
        t.ns(),
        t.name()?,
        Update {
            part: Part::Main,
            expected,
            opts: &opts,
        },
        |old| {
            let scale = to_scale(&scale_of(old))?;
            let mut new = old.clone();
            new["spec"]["replicas"] = json!(replicas_of(&scale)?);
            Ok(new)
        },
    )
    .await?;
    Ok(respond(
        req,
        StatusCode::OK,
        scale_of(&written.obj),
        &written.warnings,
    ))
}

pub async fn update(req: Req) -> ApiResult<Response> {
    let body = body::decode_object(&req.headers, &req.body)?;
    let expected = objects::parse_rv(objects::meta_str(&body, "resourceVersion").unwrap_or(""))?;
    write_scale(&req, |_| Ok(body.clone()), expected).await
}

pub async fn patch(req: Req) -> ApiResult<Response> {
    let ty = body::patch_type(&req.headers)?;
    let doc = body::decode(&req.headers, &req.body)?;
    let ty = if ty == PatchType::Apply {
        PatchType::Merge
    } else {
        ty
    };
    write_scale(&req, |scale| apply_patch("Scale", ty, scale, &doc), None).await
}
