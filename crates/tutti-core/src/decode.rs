//! Typed decoding of JSON objects into the k8s-openapi type for their kind, with field paths
//! in errors (`spec.replicas: Invalid value: "three": expected i32`), and detection of fields
//! the schema does not know (`spec.template.spec.containers[0].imagePullPolicyy`), which the
//! API server reports as warnings or, under `fieldValidation=Strict`, as errors.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::error::FieldError;

/// Runs `$body` with `$T` bound to the k8s-openapi type of `$kind`, or evaluates `$other`.
macro_rules! with_kind_type {
    ($kind:expr, $T:ident => $body:expr, _ => $other:expr) => {{
        use k8s_openapi::api::{apps, autoscaling, batch, coordination, core, discovery, policy};
        match $kind {
            "Namespace" => {
                type $T = core::v1::Namespace;
                $body
            }
            "Pod" => {
                type $T = core::v1::Pod;
                $body
            }
            "Service" => {
                type $T = core::v1::Service;
                $body
            }
            "Endpoints" => {
                type $T = core::v1::Endpoints;
                $body
            }
            "ConfigMap" => {
                type $T = core::v1::ConfigMap;
                $body
            }
            "Secret" => {
                type $T = core::v1::Secret;
                $body
            }
            "Event" => {
                type $T = core::v1::Event;
                $body
            }
            "Node" => {
                type $T = core::v1::Node;
                $body
            }
            "ServiceAccount" => {
                type $T = core::v1::ServiceAccount;
                $body
            }
            "Binding" => {
                type $T = core::v1::Binding;
                $body
            }
            "Deployment" => {
                type $T = apps::v1::Deployment;
                $body
            }
            "ReplicaSet" => {
                type $T = apps::v1::ReplicaSet;
                $body
            }
            "DaemonSet" => {
                type $T = apps::v1::DaemonSet;
                $body
            }
            "StatefulSet" => {
                type $T = apps::v1::StatefulSet;
                $body
            }
            "Job" => {
                type $T = batch::v1::Job;
                $body
            }
            "CronJob" => {
                type $T = batch::v1::CronJob;
                $body
            }
            "Lease" => {
                type $T = coordination::v1::Lease;
                $body
            }
            "Scale" => {
                type $T = autoscaling::v1::Scale;
                $body
            }
            "PodDisruptionBudget" => {
                type $T = policy::v1::PodDisruptionBudget;
                $body
            }
            "EndpointSlice" => {
                type $T = discovery::v1::EndpointSlice;
                $body
            }
            _ => $other,
        }
    }};
}

/// Checks that `obj` decodes as the k8s-openapi type of `kind`. Unknown fields are ignored
/// here (see [`unknown_fields`]); a value of the wrong type is reported at its path.
pub fn decode_typed(kind: &str, obj: &Value) -> Result<(), Vec<FieldError>> {
    with_kind_type!(kind, T => decode_as::<T>(obj).map(|_| ()).map_err(|e| vec![e]), _ => Err(vec![unsupported_kind(kind)]))
}

/// Decodes `obj` into `T`, turning a serde error into a [`FieldError`] at the failing path.
pub fn decode_as<T: DeserializeOwned>(obj: &Value) -> Result<T, FieldError> {
    // Tracking the path costs on every field; only a failed decode needs it.
    if let Ok(t) = T::deserialize(obj) {
        return Ok(t);
    }
    serde_path_to_error::deserialize::<_, T>(obj).map_err(|err| {
        let mut segments: Vec<Segment> = err.path().iter().cloned().collect();
        let message = err.inner().to_string();
        locate_checked_field(obj, &mut segments, &message);
        to_field_error(obj, &segments, &message)
    })
}

fn unsupported_kind(kind: &str) -> FieldError {
    FieldError::not_supported(
        "kind",
        format!("{kind:?}"),
        crate::validation::SUPPORTED_KINDS,
    )
}

/// k8s-openapi checks `apiVersion` and `kind` after reading them, so the error points at the
/// enclosing object; find the string field holding the rejected value instead.
fn locate_checked_field(obj: &Value, segments: &mut Vec<Segment>, message: &str) {
    let Some(rest) = message.strip_prefix("invalid value: string ") else {
        return;
    };
    let Some((quoted, _)) = rest.split_once(", expected ") else {
        return;
    };
    let Ok(rejected) = serde_json::from_str::<String>(quoted) else {
        return;
    };
    if let Some(Value::Object(map)) = value_at(obj, segments)
        && let Some((key, _)) = map
            .iter()
            .find(|(_, v)| v.as_str() == Some(rejected.as_str()))
    {
        segments.push(Segment::Map { key: key.clone() });
    }
}

/// Maps serde's wording onto Kubernetes' (`Invalid value: "three": expected i32`).
fn to_field_error(obj: &Value, segments: &[Segment], message: &str) -> FieldError {
    let field = format_path(segments);
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        let path = if field.is_empty() {
            name.to_string()
        } else {
            format!("{field}.{name}")
        };
        return FieldError::required(path);
    }
    let shown = value_at(obj, segments).map_or_else(|| "null".to_string(), Value::to_string);
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return FieldError::type_invalid(field, format!("{shown}: expected {expected}"));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return FieldError::invalid(field, shown, format!("expected {expected}"));
    }
    // The only custom errors come from base64 decoding of Secret and ConfigMap binary data:
    // never echo the (secret) value.
    let in_data = matches!(segments.first(), Some(Segment::Map { key }) if key == "data" || key == "binaryData");
    if in_data {
        return FieldError::invalid(
            field,
            "\"<secret contents redacted>\"",
            format!("illegal base64 data: {message}"),
        );
    }
    FieldError::invalid(field, shown, message)
}

fn value_at<'a>(obj: &'a Value, segments: &[Segment]) -> Option<&'a Value> {
    segments.iter().try_fold(obj, |v, seg| match seg {
        Segment::Seq { index } => v.get(*index),
        Segment::Map { key } => v.get(key),
        Segment::Enum { .. } | Segment::Unknown => Some(v),
    })
}

/// Formats a path the way Kubernetes prints it: `spec.containers[0].ports[1].containerPort`,
/// with keys that are not plain identifiers in brackets (`metadata.labels[app.kubernetes.io/name]`).
fn format_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Seq { index } => push_index(&mut out, *index),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn push_index(out: &mut String, index: usize) {
    out.push('[');
    out.push_str(&index.to_string());
    out.push(']');
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$');
    if !plain {
        out.push('[');
        out.push_str(key);
        out.push(']');
        return;
    }
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
}

/// Paths of fields in `obj` that the schema of `kind` does not know: the keys the typed
/// decode skips. Keys whose value is `null` do not count. Free-form maps (labels, data,
/// selectors) keep every key, so theirs are never reported. Returns nothing if `obj` does not
/// decode.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    decode_checked(kind, obj, true).unwrap_or_default()
}

/// [`decode_typed`] and, when `find_unknown` is set, [`unknown_fields`] in one typed decode
/// (what a write's admission needs: decoding a pod is a noticeable part of creating one).
/// The keys the typed decode skips are the unknown ones, reported as they are met.
pub fn decode_checked(
    kind: &str,
    obj: &Value,
    find_unknown: bool,
) -> Result<Vec<String>, Vec<FieldError>> {
    with_kind_type!(kind, T => {
        if !find_unknown {
            return decode_as::<T>(obj).map(|_| Vec::new()).map_err(|e| vec![e]);
        }
        let mut out = Vec::new();
        let decoded: Result<T, _> = serde_ignored::deserialize(obj, |path| {
            let mut segments = Vec::new();
            ignored_segments(&path, &mut segments);
            // A key set to null says "no value": not worth a warning.
            if value_at(obj, &segments).is_some_and(|v| !v.is_null()) {
                out.push(segments_to_path(&segments));
            }
        });
        match decoded {
            Ok(_) => Ok(out),
            // Decode again with path tracking to say where it failed.
            Err(_) => decode_as::<T>(obj).map(|_| Vec::new()).map_err(|e| vec![e]),
        }
    }, _ => Err(vec![unsupported_kind(kind)]))
}

/// The segments of a path reported by `serde_ignored`, root first.
fn ignored_segments(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            ignored_segments(parent, out);
            out.push(Segment::Seq { index: *index });
        }
        Path::Map { parent, key } => {
            ignored_segments(parent, out);
            out.push(Segment::Map { key: key.clone() });
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_segments(parent, out),
    }
}

fn segments_to_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => push_index(&mut out, *index),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}, "creationTimestamp": null},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx",
                        "resources": {"limits": {"cpu": "1", "memory": 128}},
                        "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    #[test]
    fn wrong_types_report_their_path() {
        let mut d = deployment();
        d["spec"]["replicas"] = json!("three");
        let errs = decode_typed("Deployment", &d).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "spec.replicas: Invalid value: \"three\": expected i32"
        );

        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("http");
        let errs = decode_typed("Deployment", &d).unwrap_err();
        assert_eq!(
            errs[0].field,
            "spec.template.spec.containers[0].ports[0].containerPort"
        );

        let mut d = deployment();
        d["metadata"]["labels"]["app.kubernetes.io/name"] = json!(5);
        let errs = decode_typed("Deployment", &d).unwrap_err();
        assert_eq!(errs[0].field, "metadata.labels[app.kubernetes.io/name]");
    }

    #[test]
    fn wrong_api_version_is_reported() {
        let mut d = deployment();
        d["apiVersion"] = json!("extensions/v1beta1");
        let errs = decode_typed("Deployment", &d).unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "apiVersion: Invalid value: \"extensions/v1beta1\": expected apps/v1"
        );
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}});
        let errs = decode_typed("Secret", &s).unwrap_err();
        assert_eq!(errs[0].field, "data.k");
        assert!(
            !errs[0].message.contains("not base64"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let errs = decode_typed("Widget", &json!({})).unwrap_err();
        assert_eq!(errs[0].field, "kind");
        assert!(unknown_fields("Widget", &json!({"a": 1})).is_empty());
    }

    #[test]
    fn finds_unknown_fields_only() {
        assert_eq!(
            unknown_fields("Deployment", &deployment()),
            Vec::<String>::new()
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
        d["spec"]["replicaz"] = json!(1);
        d["spec"]["paused"] = Value::Null;
        d["spec"]["bogus"] = Value::Null;
        d["status"] = json!({"whatever": {"x": 1}});
        assert_eq!(
            unknown_fields("Deployment", &d),
            vec![
                "spec.template.spec.containers[0].imagePullPolicyy".to_string(),
                "spec.replicaz".to_string(),
                "status.whatever".to_string()
            ]
        );
    }

    #[test]
    fn free_form_values_are_not_unknown() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "data": {"any.key": "v", "other": ""}});
        assert!(unknown_fields("ConfigMap", &cm).is_empty());
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": "http"}]}});
        assert!(unknown_fields("Service", &svc).is_empty());
    }
}
