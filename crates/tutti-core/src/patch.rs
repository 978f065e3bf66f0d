//! The three patch formats the API server accepts on `PATCH`: JSON merge patch (RFC 7386,
//! `application/merge-patch+json`), JSON patch (RFC 6902, `application/json-patch+json`) and
//! Kubernetes' strategic merge patch (`application/strategic-merge-patch+json`), which is
//! what `kubectl apply`, `kubectl patch` and `kubectl set image` send.

use serde_json::Value;

pub mod ownership;
mod schema;
mod strategic;

/// Why a patch could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("invalid JSON patch: {0}")]
    InvalidJsonPatch(String),
    #[error("JSON patch operation {operation} failed at {path:?}: {reason}")]
    JsonPatchFailed {
        operation: usize,
        path: String,
        reason: String,
    },
    #[error("a strategic merge patch must be a JSON object, got {0}")]
    NotAnObject(String),
    #[error("unknown patch directive {directive}: {value} (supported: replace, delete, merge)")]
    UnknownDirective { directive: String, value: String },
    #[error("list item {item} at {field} does not contain its merge key {key:?}")]
    MissingMergeKey {
        field: String,
        key: String,
        item: String,
    },
    #[error("invalid $retainKeys at {field}: {reason}")]
    RetainKeys { field: String, reason: String },
    #[error("invalid $setElementOrder/{field}: {reason}")]
    SetElementOrder { field: String, reason: String },
    #[error("invalid $deleteFromPrimitiveList/{field}: the value must be a list")]
    DeleteFromPrimitiveList { field: String },
    #[error("cannot merge lists of lists at {field}")]
    ListOfLists { field: String },
}

/// Applies an RFC 7386 JSON merge patch: objects merge key by key, `null` deletes, anything
/// else (lists included) replaces.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut doc = target.clone();
    json_patch::merge(&mut doc, patch);
    doc
}

/// Applies an RFC 6902 JSON patch (a list of `add`/`remove`/`replace`/`move`/`copy`/`test`
/// operations). Nothing is applied if any operation fails.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::InvalidJsonPatch(e.to_string()))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| PatchError::JsonPatchFailed {
        operation: e.operation,
        path: e.path.to_string(),
        reason: e.kind.to_string(),
    })?;
    Ok(doc)
}

/// Applies a Kubernetes strategic merge patch to an object of `kind`: lists with a merge key
/// (containers by `name`, container ports by `containerPort`, service ports by `port`, ...)
/// are merged item by item, other lists are replaced, `null` deletes, and the directives
/// `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`
/// are honoured and never left in the result.
pub fn strategic_merge_patch(
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    strategic::apply(schema::Ty::root(kind), original, patch)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "list": [1, 2]}});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"replicas": 5, "list": [3]}});
        assert_eq!(
            merge_patch(&target, &patch),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"replicas": 5, "list": [3]}})
        );
    }

    #[test]
    fn json_patch_applies_operations() {
        let target = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let patch = json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b", "image": "y"}},
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "a"}
        ]);
        let out = json_patch(&target, &patch).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][1]["name"],
            "b"
        );
    }

    #[test]
    fn json_patch_errors_say_which_operation() {
        let target = json!({"a": 1});
        let err = json_patch(&target, &json!([{"op": "remove", "path": "/b"}])).unwrap_err();
        assert!(
            matches!(err, PatchError::JsonPatchFailed { operation: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("\"/b\""), "{err}");
        let err = json_patch(&target, &json!({"op": "add"})).unwrap_err();
        assert!(matches!(err, PatchError::InvalidJsonPatch(_)));
        let err =
            json_patch(&target, &json!([{"op": "test", "path": "/a", "value": 2}])).unwrap_err();
        assert!(err.to_string().contains("value did not match"), "{err}");
    }
}
