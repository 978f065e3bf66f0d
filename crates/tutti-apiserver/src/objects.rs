//! Objects as stored: JSON bytes without `resourceVersion` (it is the key's mod_revision and
//! is filled in on every read), plus small accessors for metadata fields.

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
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

/// The stored JSON with `metadata.resourceVersion` filled in, written without building the
/// object: only the top level and `metadata` are split, into raw JSON slices. The same object
/// as encoding [`from_bytes`]'s result, at a fraction of the cost (no tree of maps to build
/// and free), which is what lets every watch send every write.
pub fn json_with_revision(value: &[u8], revision: Revision) -> ApiResult<Vec<u8>> {
    let stored =
        |e: serde_json::Error| ApiError::Internal(format!("stored object is not JSON: {e}"));
    let top: RawFields = serde_json::from_slice(value).map_err(stored)?;
    let mut out = Vec::with_capacity(value.len() + 40);
    let mut fields = Fields::new(&mut out);
    let mut has_metadata = false;
    for (key, raw) in &top.0 {
        fields.key(key);
        if key != "metadata" {
            fields.out.extend_from_slice(raw.get().as_bytes());
            continue;
        }
        has_metadata = true;
        // Anything but an object is replaced, as `metadata_mut` does.
        let meta = match serde_json::from_str::<RawFields>(raw.get()) {
            Ok(meta) => meta.0,
            Err(_) => Vec::new(),
        };
        let mut inner = Fields::new(&mut *fields.out);
        for (k, v) in meta.iter().filter(|(k, _)| k != "resourceVersion") {
            inner.key(k);
            inner.out.extend_from_slice(v.get().as_bytes());
        }
        inner.resource_version(revision);
        inner.close();
    }
    if !has_metadata {
        fields.key("metadata");
        let mut inner = Fields::new(&mut *fields.out);
        inner.resource_version(revision);
        inner.close();
    }
    fields.close();
    Ok(out)
}

/// A JSON object's fields in order, each value left as raw JSON.
struct RawFields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = RawFields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<String, &'a RawValue>()? {
                    fields.push(entry);
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(Visit(PhantomData))
    }
}

/// Writes a JSON object field by field.
struct Fields<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Fields<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Fields { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, key);
        self.out.push(b':');
    }

    fn resource_version(&mut self, revision: Revision) {
        self.key("resourceVersion");
        self.out.push(b'"');
        self.out.extend_from_slice(revision.to_string().as_bytes());
        self.out.push(b'"');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Encode for storage: resourceVersion is never stored. Written through a view that leaves
/// it out, rather than a copy of the object without it.
pub fn to_bytes(obj: &Value) -> ApiResult<Bytes> {
    serde_json::to_vec(&Stored(obj))
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// An object as stored: every field but `metadata.resourceVersion`.
struct Stored<'a>(&'a Value);

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(fields) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            match value {
                Value::Object(meta) if key == "metadata" => {
                    map.serialize_entry(key, &WithoutVersion(meta))?;
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

struct WithoutVersion<'a>(&'a Map<String, Value>);

impl Serialize for WithoutVersion<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.0.iter().filter(|(k, _)| *k != "resourceVersion");
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The `metadata` of an object in JSON (`{}` if it has none), as raw bytes: what a
/// PartialObjectMetadata watch or list sends, without decoding the rest.
pub fn metadata_json(json: &[u8]) -> ApiResult<Vec<u8>> {
    let top: RawFields = serde_json::from_slice(json)
        .map_err(|e| ApiError::Internal(format!("stored object is not JSON: {e}")))?;
    Ok(top
        .0
        .iter()
        .find(|(k, _)| k == "metadata")
        .map_or_else(|| b"{}".to_vec(), |(_, raw)| raw.get().as_bytes().to_vec()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path writes the same object as decoding, stamping and encoding.
    #[test]
    fn json_with_revision_matches_decoding_and_encoding() {
        let cases = [
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"x":"y"}},"spec":{"template":{"metadata":{"name":"inner"}}}}"#,
            r#"{"spec":{"a":[1,2,{"b":null}]},"metadata":{"name":"later","namespace":"n"}}"#,
            r#"{"metadata":{"name":"old","resourceVersion":"3","uid":"u"},"data":{"k":"v"}}"#,
            r#"{"kind":"ConfigMap","data":{"quote\"key":"tab\tvalue","ünïcode":"\u00e9\ud83d\ude00"}}"#,
            r#"{"metadata":{}}"#,
            r#"{}"#,
            r#"{"metadata":null,"kind":"X"}"#,
            r#" { "metadata" : { "name" : "spaced" } , "n" : 1.5e3 } "#,
        ];
        for stored in cases {
            let fast = json_with_revision(stored.as_bytes(), 42).unwrap();
            let slow = serde_json::to_vec(&from_bytes(stored.as_bytes(), 42).unwrap()).unwrap();
            let (fast, slow) = (
                String::from_utf8(fast).unwrap(),
                String::from_utf8(slow).unwrap(),
            );
            let reparsed: Value = serde_json::from_str(&fast).unwrap();
            assert_eq!(reparsed["metadata"]["resourceVersion"], "42", "{stored}");
            assert_eq!(
                reparsed,
                serde_json::from_str::<Value>(&slow).unwrap(),
                "{stored}"
            );
        }
    }

    #[test]
    fn stored_bytes_leave_the_resource_version_out_and_keep_the_rest() {
        let obj = json!({"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "9", "uid": "u"},
                         "spec": {"template": {"metadata": {"resourceVersion": "kept"}}}});
        let stored: Value = serde_json::from_slice(&to_bytes(&obj).unwrap()).unwrap();
        let mut expected = obj.clone();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        assert_eq!(stored, expected);
        let meta: Value = serde_json::from_slice(
            &metadata_json(&json_with_revision(&to_bytes(&obj).unwrap(), 4).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            meta,
            json!({"name": "a", "uid": "u", "resourceVersion": "4"})
        );
        assert_eq!(metadata_json(b"{\"kind\":\"X\"}").unwrap(), b"{}");
    }

    #[test]
    fn json_with_revision_rejects_what_is_not_an_object() {
        assert!(json_with_revision(b"not json", 1).is_err());
        assert!(json_with_revision(b"[1,2]", 1).is_err());
    }
}
