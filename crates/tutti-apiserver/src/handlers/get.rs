//! `GET` one object (also serves `GET .../status`).

use axum::http::StatusCode;
use axum::response::Response;

use super::write::current;
use super::{Req, respond};
use crate::error::ApiResult;
use crate::objects::from_kv;

pub async fn get(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let name = t.name()?;
    let kv = if req.params.get("resourceVersion") == Some("0") {
        // "Any version": served from this manager's replica without asking the leader, so it
        // answers even when the managers lost their quorum (may lag behind the latest write).
        let key = t.info.key(t.ns(), name);
        let resp = req
            .api
            .store
            .range_stale(tutti_store::RangeRequest {
                prefix: key,
                exact: true,
                revision: 0,
                limit: 0,
                start_after: String::new(),
            })
            .await?;
        resp.kvs
            .into_iter()
            .next()
            .ok_or_else(|| super::write::not_found(t.info, name))?
    } else {
        current(&req.api, t.info, t.ns(), name).await?
    };
    let obj = from_kv(&kv)?;
    Ok(respond(&req, StatusCode::OK, obj, &[]))
}
