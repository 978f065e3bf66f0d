//! Kubernetes' defaulting, applied to objects as JSON before validation and storage, so
//! `kubectl get -o yaml` shows what a real cluster shows (`restartPolicy: Always`,
//! `strategy.rollingUpdate.maxSurge: 25%`, `sessionAffinity: None`, ...).
//!
//! Defaulting never overwrites a value the user gave; it only fills absent (or `null`) fields.
//! Pod spec defaults live in [`pod`]; filling a missing `apiVersion`/`selector` on old-style
//! manifests lives in [`legacy`].

use serde_json::{Map, Value, json};

mod legacy;
mod pod;

pub use legacy::{default_seed_deployment, preferred_api_version};
pub use pod::default_image_pull_policy;

/// Applies Kubernetes' defaults for `kind` to `obj` in place. Unknown kinds are left alone;
/// fields of the wrong JSON type are skipped (typed decoding reports them).
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match kind {
        "Pod" => {
            if let Some(spec) = child(root, "spec") {
                pod::default_pod_spec(spec);
                pod::default_requests_from_limits(spec);
            }
        }
        "Deployment" => default_deployment(root),
        "ReplicaSet" => {
            if let Some(spec) = child(root, "spec") {
                set_default(spec, "replicas", json!(1));
                default_template(spec);
            }
        }
        "DaemonSet" => default_daemon_set(root),
        "StatefulSet" => default_stateful_set(root),
        "Job" => default_job(root),
        "CronJob" => default_cron_job(root),
        "Service" => {
            if let Some(spec) = child(root, "spec") {
                default_service_spec(spec);
            }
        }
        "Secret" => default_secret(root),
        "Namespace" => default_namespace(root),
        "Endpoints" => default_endpoints(root),
        "EndpointSlice" => default_endpoint_slice(root),
        "Node" => default_node(root),
        "PodDisruptionBudget" => default_pod_disruption_budget_status(root),
        _ => {}
    }
}

/// Sets `map[key] = value` unless a non-null value is already there.
pub(crate) fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

/// The object at `map[key]`, created empty if absent or null; `None` if it is not an object.
pub(crate) fn child<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    set_default(map, key, json!({}));
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects in the list at `map[key]`, if it is a list (absent lists stay absent).
pub(crate) fn list_items<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// Defaults a workload's `spec.template.spec`.
fn default_template(spec: &mut Map<String, Value>) {
    if let Some(pod_spec) = child(spec, "template").and_then(|t| child(t, "spec")) {
        pod::default_pod_spec(pod_spec);
    }
}

fn default_deployment(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    if let Some(strategy) = child(spec, "strategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if str_field(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = child(strategy, "rollingUpdate")
        {
            set_default(rolling, "maxUnavailable", json!("25%"));
            set_default(rolling, "maxSurge", json!("25%"));
        }
    }
    default_template(spec);
}

fn default_daemon_set(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_default(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = child(spec, "updateStrategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if str_field(strategy, "type") == Some("RollingUpdate")
            && let Some(rolling) = child(strategy, "rollingUpdate")
        {
            set_default(rolling, "maxUnavailable", json!(1));
            set_default(rolling, "maxSurge", json!(0));
        }
    }
    default_template(spec);
}

fn default_stateful_set(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    if let Some(strategy) = child(spec, "updateStrategy") {
        let had_type = strategy.get("type").is_some_and(|t| !t.is_null());
        set_default(strategy, "type", json!("RollingUpdate"));
        let rolling_present = strategy.get("rollingUpdate").is_some_and(|r| !r.is_null());
        if str_field(strategy, "type") == Some("RollingUpdate")
            && (rolling_present || !had_type)
            && let Some(rolling) = child(strategy, "rollingUpdate")
        {
            set_default(rolling, "partition", json!(0));
        }
    }
    if let Some(policy) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        set_default(policy, "whenDeleted", json!("Retain"));
        set_default(policy, "whenScaled", json!("Retain"));
    }
    default_template(spec);
}

/// Job defaults (also used for nothing else: a CronJob's `jobTemplate.spec` is not defaulted
/// as a Job on a real cluster, only its pod template is).
fn default_job(root: &mut Map<String, Value>) {
    let template_labels = root
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .filter(|l| l.is_object())
        .cloned();
    let Some(spec) = child(root, "spec") else {
        return;
    };
    let unset = |m: &Map<String, Value>, k: &str| m.get(k).is_none_or(Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    let backoff = if unset(spec, "backoffLimitPerIndex") {
        json!(6)
    } else {
        json!(i32::MAX)
    };
    set_default(spec, "backoffLimit", backoff);
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let replacement = if unset(spec, "podFailurePolicy") {
        "TerminatingOrFailed"
    } else {
        "Failed"
    };
    set_default(spec, "podReplacementPolicy", json!(replacement));
    default_template(spec);
    if let Some(labels) = template_labels
        && let Some(meta) = child(root, "metadata")
        && meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    {
        meta.insert("labels".into(), labels);
    }
}

fn default_cron_job(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(job_spec) = child(spec, "jobTemplate").and_then(|t| child(t, "spec")) {
        default_template(job_spec);
    }
}

fn default_service_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let svc_type = str_field(spec, "type").unwrap_or("ClusterIP").to_string();
    match str_field(spec, "sessionAffinity") {
        Some("None") => {
            spec.shift_remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    for port in list_items(spec, "ports") {
        set_default(port, "protocol", json!("TCP"));
        let missing = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if missing && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".into(), p);
        }
    }
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = svc_type == "NodePort"
        || svc_type == "LoadBalancer"
        || (svc_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if svc_type == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if svc_type == "ExternalName" {
        return;
    }
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    // The registry keeps clusterIP and clusterIPs in step; do it here so both read the same.
    match (
        spec.get("clusterIP").cloned(),
        spec.get("clusterIPs").cloned(),
    ) {
        (Some(Value::String(ip)), None | Some(Value::Null)) if !ip.is_empty() => {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        (None | Some(Value::Null), Some(Value::Array(ips))) if !ips.is_empty() => {
            spec.insert("clusterIP".into(), ips[0].clone());
        }
        _ => {}
    }
    let family = match str_field(spec, "clusterIP").map(str::parse::<std::net::IpAddr>) {
        Some(Ok(std::net::IpAddr::V6(_))) => "IPv6",
        _ => "IPv4",
    };
    set_default(spec, "ipFamilies", json!([family]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
}

/// `type: Opaque`, and `stringData` folded into `data` (base64) as the API server does.
fn default_secret(root: &mut Map<String, Value>) {
    set_default(root, "type", json!("Opaque"));
    let Some(Value::Object(string_data)) = root.shift_remove("stringData") else {
        return;
    };
    if let Some(data) = child(root, "data") {
        for (key, value) in string_data {
            if let Value::String(text) = value {
                let encoded = serde_json::to_value(k8s_openapi::ByteString(text.into_bytes()))
                    .unwrap_or(Value::Null);
                data.insert(key, encoded);
            }
        }
    }
}

fn default_namespace(root: &mut Map<String, Value>) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(name) = name
        && let Some(labels) = child(root, "metadata").and_then(|m| child(m, "labels"))
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    if let Some(spec) = child(root, "spec") {
        set_default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = child(root, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

fn default_endpoints(root: &mut Map<String, Value>) {
    for subset in list_items(root, "subsets") {
        for port in list_items(subset, "ports") {
            set_default(port, "protocol", json!("TCP"));
        }
    }
}

/// An EndpointSlice port without a name is named `""` and speaks TCP, as `discovery/v1`
/// defaults it (so that `""` is a name two ports cannot share).
fn default_endpoint_slice(root: &mut Map<String, Value>) {
    for port in list_items(root, "ports") {
        set_default(port, "name", json!(""));
        set_default(port, "protocol", json!("TCP"));
    }
}

fn default_node(root: &mut Map<String, Value>) {
    let Some(status) = root.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned() {
        set_default(status, "allocatable", capacity);
    }
}

/// A budget's status counts are not optional in `policy/v1`: a status shows them as 0 until
/// the disruption controller has counted (as `kubectl get pdb -o yaml` shows on a real cluster).
fn default_pod_disruption_budget_status(root: &mut Map<String, Value>) {
    let Some(status) = root.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    for field in [
        "currentHealthy",
        "desiredHealthy",
        "disruptionsAllowed",
        "expectedPods",
    ] {
        set_default(status, field, json!(0));
    }
}

#[cfg(test)]
mod tests;
