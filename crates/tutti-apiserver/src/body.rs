//! Request bodies: size limit, content types (JSON, YAML, the patch types) and decoding into
//! `serde_json::Value`. A malformed or hostile body is a 4xx, never a crash: serde_json bounds
//! nesting depth, serde-saphyr bounds alias expansion and nesting.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Largest body accepted (Kubernetes uses 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The patch formats Kubernetes accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

pub fn patch_type(headers: &HeaderMap) -> ApiResult<PatchType> {
    match content_type(headers).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml"
        | "application/apply-patch+json"
        | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        other => Err(ApiError::UnsupportedMediaType(other.to_string())),
    }
}

/// Decode a body as JSON, or as YAML when the content type says so (apply patches are YAML).
pub fn decode(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(ApiError::TooLarge { limit: MAX_BODY });
    }
    let ct = content_type(headers);
    if ct.contains("protobuf") || ct.contains("cbor") {
        return Err(ApiError::UnsupportedMediaType(ct));
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let looks_json = matches!(first, Some(b'{') | Some(b'['));
    if ct.contains("yaml") && !looks_json {
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::BadRequest(format!("body is not UTF-8: {e}")))?;
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML body: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding JSON body: {e}")))
}

/// Decode a body that must be a JSON object.
pub fn decode_object(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let v = decode(headers, body)?;
    if !v.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be an object".into(),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn hostile_bodies_are_bad_requests() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            decode(&h("application/json"), deep.as_bytes()),
            Err(ApiError::BadRequest(_))
        ));
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        // Either refused, or bounded: never a crash or an explosion of memory.
        if let Ok(v) = decode(&h("application/apply-patch+yaml"), bomb.as_bytes()) {
            assert!(v.to_string().len() < 50 * 1024 * 1024);
        }
        let big = vec![b' '; MAX_BODY + 1];
        assert!(matches!(
            decode(&h("application/json"), &big),
            Err(ApiError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_object(&h("application/json"), b"[1]"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            decode(&h("application/json"), b"{\"a\":"),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn yaml_and_json_bodies_decode() {
        let v = decode(
            &h("application/apply-patch+yaml"),
            b"kind: Pod\nmetadata:\n  name: x\n",
        )
        .unwrap();
        assert_eq!(v["metadata"]["name"], "x");
        let v = decode(&h("application/json"), br#"{"kind":"Pod"}"#).unwrap();
        assert_eq!(v["kind"], "Pod");
    }
}
