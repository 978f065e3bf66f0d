//! Objects as stored: JSON bytes without `resourceVersion` (it is the key's mod_revision and
//! is filled in on every read), plus small accessors for metadata fields.

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};
use tutti_store::{KeyValue, Revision};

use crate::error::{ApiError, ApiResult};

/// Decode a stored value and stamp its resourceVersion.
pub fn from_kv(kv: &KeyValue) -> ApiResult<Value> {
    from_bytes(&kv.value, kv.mod_revision)
}

pub fn from_bytes(value: &[u8], revision: Revision) -> ApiResult<Value> {
    let mut obj: Value = serde_json::from_slice(value)
        .map_err(|e| ApiError::Internal(format!("stored object is not JSON: {e}")))?;
    set_resource_version(&mut obj, revision);
    Ok(obj)
}

/// Encode for storage: resourceVersion is never stored.
pub fn to_bytes(obj: &Value) -> ApiResult<Bytes> {
    let mut obj = obj.clone();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&obj)
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub fn set_resource_version(obj: &mut Value, revision: Revision) {
    metadata_mut(obj).insert("resourceVersion".into(), json!(revision.to_string()));
}

/// `metadata` as a mutable map, created if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        // Unreachable: metadata was made an object just above; return a leaked empty map
        // rather than panic to keep library code panic-free.
        None => Box::leak(Box::new(Map::new())),
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid").unwrap_or("")
}

pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_terminating(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

/// Parse a resourceVersion string; "" is None.
pub fn parse_rv(rv: &str) -> ApiResult<Option<Revision>> {
    if rv.is_empty() {
        return Ok(None);
    }
    rv.parse::<Revision>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid resource version {rv:?}: must be an integer"
        ))
    })
}

/// Now, at second precision, as Kubernetes' `metav1.Time` prints it.
pub fn now_rfc3339() -> String {
    now().to_string()
}

pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}
