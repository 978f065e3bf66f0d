//! What a fresh cluster has before anyone asks: the `default`, `kube-system`, `kube-public`
//! and `kube-node-lease` namespaces.

use std::sync::Arc;

use serde_json::json;
use tutti_core::registry;

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::handlers::create::create_object;

pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn ensure_defaults(api: &Arc<ApiServer>) -> ApiResult<()> {
    let info = registry::find_by_plural("", "namespaces").ok_or(ApiError::NoSuchResource)?;
    for ns in DEFAULT_NAMESPACES {
        if api.store.get(&info.key(None, ns)).await?.is_some() {
            continue;
        }
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match create_object(api, info, None, obj, Default::default()).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
