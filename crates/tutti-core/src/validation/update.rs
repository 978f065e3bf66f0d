//! Update rules: fields that may not change once an object exists (workload selectors, a
//! Service's cluster IPs, most of a Pod's spec, a Job's template, immutable ConfigMaps and
//! Secrets), checked on the JSON of the stored and the proposed object.

use serde_json::{Map, Value};

use super::path::q;
use crate::error::FieldError;

const IMMUTABLE: &str = "field is immutable";

/// Update-only checks for `kind`; call [`super::validate`] on `new` as well.
pub(super) fn validate_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = validate_metadata_update(old, new);
    match kind {
        "Deployment" | "ReplicaSet" | "DaemonSet" => {
            errs.extend(immutable(old, new, "/spec/selector", "spec.selector"))
        }
        "StatefulSet" => errs.extend(validate_stateful_set_update(old, new)),
        "Job" => errs.extend(validate_job_update(old, new)),
        "Service" => errs.extend(validate_service_update(old, new)),
        "Pod" => errs.extend(validate_pod_update(old, new)),
        "ConfigMap" | "Secret" => errs.extend(validate_immutable_data(kind, old, new)),
        "Node" => errs.extend(validate_node_update(old, new)),
        _ => {}
    }
    errs
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A JSON value, or `null` when absent, for comparisons.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn validate_metadata_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["name", "namespace", "uid"] {
        let pointer = format!("/metadata/{field}");
        let (before, after) = (str_at(old, &pointer), str_at(new, &pointer));
        if !before.is_empty() && before != after {
            errs.push(FieldError::invalid(
                format!("metadata.{field}"),
                q(after),
                IMMUTABLE,
            ));
        }
    }
    errs
}

fn immutable(old: &Value, new: &Value, pointer: &str, field: &str) -> Option<FieldError> {
    let after = at(new, pointer);
    (at(old, pointer) != after).then(|| FieldError::invalid(field, after, IMMUTABLE))
}

fn validate_stateful_set_update(old: &Value, new: &Value) -> Vec<FieldError> {
    const MUTABLE: &[&str] = &[
        "replicas",
        "template",
        "updateStrategy",
        "minReadySeconds",
        "ordinals",
        "revisionHistoryLimit",
        "persistentVolumeClaimRetentionPolicy",
    ];
    let strip = |v: &Value| -> Map<String, Value> {
        v.get("spec")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !MUTABLE.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if strip(old) == strip(new) {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        "spec",
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', \
         'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    )]
}

fn validate_job_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> = ["selector", "completionMode", "completions"]
        .iter()
        .filter_map(|f| immutable(old, new, &format!("/spec/{f}"), &format!("spec.{f}")))
        .collect();
    // A suspended Job that never started may still have its scheduling directives changed.
    let never_started =
        at(old, "/spec/suspend") == &Value::Bool(true) && at(old, "/status/startTime").is_null();
    let scrub = |v: &Value| -> Value {
        let mut t = at(v, "/spec/template").clone();
        if never_started {
            if let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("labels");
                meta.remove("annotations");
            }
            if let Some(spec) = t.get_mut("spec").and_then(Value::as_object_mut) {
                for f in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
                    spec.remove(f);
                }
            }
        }
        t
    };
    if scrub(old) != scrub(new) {
        errs.push(FieldError::invalid(
            "spec.template",
            "core.PodTemplateSpec{...}",
            IMMUTABLE,
        ));
    }
    errs
}

fn cluster_ips(v: &Value) -> Vec<String> {
    let list: Vec<String> = at(v, "/spec/clusterIPs")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str().map(str::to_string))
        .collect();
    if !list.is_empty() {
        return list;
    }
    match str_at(v, "/spec/clusterIP") {
        "" => Vec::new(),
        ip => vec![ip.to_string()],
    }
}

/// Cluster IPs may not change once allocated (the registry copies the old ones into an update
/// that leaves them empty, as Kubernetes does, before validating).
fn validate_service_update(old: &Value, new: &Value) -> Vec<FieldError> {
    if str_at(old, "/spec/type") == "ExternalName" || str_at(new, "/spec/type") == "ExternalName" {
        return Vec::new();
    }
    let (before, after) = (cluster_ips(old), cluster_ips(new));
    let headless = |ips: &[String]| ips.first().map(String::as_str) == Some("None");
    if headless(&before) && headless(&after) {
        return Vec::new();
    }
    let shown = format!(
        "[]string{{{}}}",
        after.iter().map(|ip| q(ip)).collect::<Vec<_>>().join(", ")
    );
    let mut errs = Vec::new();
    if after.is_empty() && !before.is_empty() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            &shown,
            "primary clusterIP can not be unset",
        ));
    }
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if b != a {
            errs.push(FieldError::invalid(
                format!("spec.clusterIPs[{i}]"),
                &shown,
                "may not change once set",
            ));
        }
    }
    errs
}

const POD_UPDATE_RULE: &str = "pod updates may not change fields other than `spec.containers[*].image`,\
`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing \
tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_pod_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let old_spec = at(old, "/spec").clone();
    let mut munged = at(new, "/spec").clone();
    for key in ["containers", "initContainers"] {
        let old_len = old_spec
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let new_len = munged
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if old_len != new_len {
            errs.push(FieldError::forbidden(
                "spec",
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for i in 0..old_len {
            let image = old_spec.pointer(&format!("/{key}/{i}/image")).cloned();
            if let (Some(c), Some(image)) = (
                munged
                    .pointer_mut(&format!("/{key}/{i}"))
                    .and_then(Value::as_object_mut),
                image,
            ) {
                c.insert("image".into(), image);
            }
        }
    }
    let old_deadline = old_spec
        .get("activeDeadlineSeconds")
        .and_then(Value::as_i64);
    let new_deadline = munged.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (old_deadline, new_deadline) {
        (Some(_), None) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            "null",
            "must not update from a positive integer to nil value",
        )),
        (Some(before), Some(after)) if after > before => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            after,
            "must be less than or equal to previous value",
        )),
        _ => {}
    }
    let old_tolerations = old_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new_tolerations = munged
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !old_tolerations.iter().all(|t| new_tolerations.contains(t)) {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    if let Some(m) = munged.as_object_mut() {
        for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match old_spec.get(key) {
                Some(v) => m.insert(key.into(), v.clone()),
                None => m.remove(key),
            };
        }
    }
    if munged != old_spec {
        let changed: Vec<String> = changed_keys(&old_spec, &munged)
            .into_iter()
            .map(|k| format!("spec.{k}"))
            .collect();
        errs.push(FieldError::forbidden(
            "spec",
            format!("{POD_UPDATE_RULE}\n  changed: {}", changed.join(", ")),
        ));
    }
    errs
}

fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn validate_immutable_data(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if kind == "Secret" {
        errs.extend(immutable(old, new, "/type", "type"));
    }
    if at(old, "/immutable") != &Value::Bool(true) {
        return errs;
    }
    let detail = "field is immutable when `immutable` is set";
    if at(new, "/immutable") != &Value::Bool(true) {
        errs.push(FieldError::forbidden("immutable", detail));
    }
    let fields: &[&str] = if kind == "Secret" {
        &["data"]
    } else {
        &["data", "binaryData"]
    };
    for field in fields {
        let pointer = format!("/{field}");
        if at(old, &pointer) != at(new, &pointer) {
            errs.push(FieldError::forbidden(*field, detail));
        }
    }
    errs
}

fn validate_node_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let before = at(old, "/spec/podCIDRs");
    if before.is_null()
        || before.as_array().is_some_and(Vec::is_empty)
        || before == at(new, "/spec/podCIDRs")
    {
        return Vec::new();
    }
    vec![FieldError::forbidden(
        "spec.podCIDRs",
        "node updates may not change podCIDR except from \"\" to valid",
    )]
}
