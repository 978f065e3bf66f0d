//! `GET` one object (also serves `GET .../status`).

use axum::http::StatusCode;
use axum::response::Response;

use super::write::current;
use super::{Req, respond};
use crate::error::ApiResult;
use crate::objects::from_kv;

pub async fn get(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let kv = current(&req.api, t.info, t.ns(), t.name()?).await?;
    let obj = from_kv(&kv)?;
    Ok(respond(&req, StatusCode::OK, obj, &[]))
}
