//! `PUT` an object (or its `/status`, or a Namespace's `/finalize`): replace it, guarded by
//! the resourceVersion the client read.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::write::{Part, Update, WriteOptions, update_with};
use super::{Req, respond};
use crate::error::ApiResult;
use crate::objects;

pub async fn update(req: Req) -> ApiResult<Response> {
    let body = crate::body::decode_object(&req.headers, &req.body)?;
    let opts = WriteOptions::from_req(&req)?;
    let expected = objects::parse_rv(objects::meta_str(&body, "resourceVersion").unwrap_or(""))?;
    let t = &req.target;
    let sub = t.sub.as_deref();
    let part = if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    let finalize = sub == Some("finalize");
    let written = update_with(
        &req.api,
        t.info,
        t.ns(),
        t.name()?,
        Update {
            part,
            expected,
            opts: &opts,
        },
        |old| {
            if finalize {
                // Only the namespace's spec.finalizers change through /finalize.
                let mut new = old.clone();
                new["spec"]["finalizers"] = body
                    .pointer("/spec/finalizers")
                    .cloned()
                    .unwrap_or(Value::Array(vec![]));
                return Ok(new);
            }
            Ok(body.clone())
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
