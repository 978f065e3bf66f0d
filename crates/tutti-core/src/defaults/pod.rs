//! Pod spec defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`, volumes, probes), used
//! for pods and for every pod template (Deployment, ReplicaSet, DaemonSet, StatefulSet, Job,
//! CronJob).

use serde_json::{Map, Value, json};

use super::{child, list_items, set_default};

/// Defaults a `PodSpec` in place.
pub(super) fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    let host_network = spec
        .get("hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        for container in list_items(spec, key) {
            default_container(container, host_network);
        }
    }
    for volume in list_items(spec, "volumes") {
        default_volume(volume);
    }
}

/// On a Pod (not a template), requests default to the limits when only limits are given.
pub(super) fn default_requests_from_limits(spec: &mut Map<String, Value>) {
    for key in ["initContainers", "containers"] {
        for container in list_items(spec, key) {
            let Some(resources) = container
                .get_mut("resources")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
                continue;
            };
            if let Some(requests) = child(resources, "requests") {
                for (name, quantity) in limits {
                    requests.entry(name).or_insert(quantity);
                }
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (a digest counts as
/// a pinned image).
pub fn default_image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_container(container: &mut Map<String, Value>, host_network: bool) {
    let policy = match container.get("image").and_then(Value::as_str) {
        Some(image) if !image.is_empty() => default_image_pull_policy(image),
        _ => "IfNotPresent",
    };
    set_default(container, "imagePullPolicy", json!(policy));
    set_default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    set_default(container, "terminationMessagePolicy", json!("File"));
    set_default(container, "resources", json!({}));
    for port in list_items(container, "ports") {
        set_default(port, "protocol", json!("TCP"));
        if host_network
            && port
                .get("hostPort")
                .is_none_or(|p| p.is_null() || p.as_i64() == Some(0))
            && let Some(container_port) = port.get("containerPort").cloned()
        {
            port.insert("hostPort".into(), container_port);
        }
    }
    for env in list_items(container, "env") {
        if let Some(field_ref) = env
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(probe).and_then(Value::as_object_mut) {
            set_default(probe, "timeoutSeconds", json!(1));
            set_default(probe, "periodSeconds", json!(10));
            set_default(probe, "successThreshold", json!(1));
            set_default(probe, "failureThreshold", json!(3));
            default_handler(probe);
        }
    }
    if let Some(lifecycle) = container
        .get_mut("lifecycle")
        .and_then(Value::as_object_mut)
    {
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = lifecycle.get_mut(hook).and_then(Value::as_object_mut) {
                default_handler(handler);
            }
        }
    }
}

fn default_handler(handler: &mut Map<String, Value>) {
    if let Some(http) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        set_default(http, "path", json!("/"));
        set_default(http, "scheme", json!("HTTP"));
    }
}

fn default_volume(volume: &mut Map<String, Value>) {
    let has_source = volume.iter().any(|(k, v)| k != "name" && !v.is_null());
    if !has_source {
        volume.insert("emptyDir".into(), json!({}));
        return;
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = volume.get_mut(source).and_then(Value::as_object_mut) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    if let Some(host_path) = volume.get_mut("hostPath").and_then(Value::as_object_mut) {
        set_default(host_path, "type", json!(""));
    }
    if let Some(items) = volume.get_mut("downwardAPI").and_then(Value::as_object_mut) {
        for item in list_items(items, "items") {
            if let Some(field_ref) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
                set_default(field_ref, "apiVersion", json!("v1"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_image_pull_policy("nginx"), "Always");
        assert_eq!(default_image_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_image_pull_policy("nginx:1.14.2"), "IfNotPresent");
        assert_eq!(
            default_image_pull_policy("registry.k8s.io/redis:e2e"),
            "IfNotPresent"
        );
        assert_eq!(default_image_pull_policy("localhost:5000/redis"), "Always");
        assert_eq!(
            default_image_pull_policy("nginx@sha256:abcd"),
            "IfNotPresent"
        );
    }
}
