//! Lenient defaults for manifests written before `apps/v1` (like the seed demo): a missing
//! `apiVersion` becomes the kind's preferred version, and a workload without `spec.selector`
//! selects its template's labels. Each default comes back as a warning for the user.
//!
//! `kubectl` refuses such manifests client-side; `tutti apply` accepts them and says what it
//! filled in.

use serde_json::{Value, json};

/// The preferred `apiVersion` for a kind tutti serves.
pub fn preferred_api_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Namespace" | "Pod" | "Service" | "Endpoints" | "ConfigMap" | "Secret" | "Event"
        | "Node" | "ServiceAccount" | "Binding" => "v1",
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        "Lease" => "coordination.k8s.io/v1",
        "Scale" => "autoscaling/v1",
        "PodDisruptionBudget" => "policy/v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        _ => return None,
    })
}

/// Fills a missing `apiVersion` (any kind above) and, for Deployments, ReplicaSets, DaemonSets
/// and StatefulSets, a missing `spec.selector` (from `spec.template.metadata.labels`).
/// Returns one human-readable warning per default applied; nothing if the object was complete.
pub fn default_seed_deployment(obj: &mut Value) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(root) = obj.as_object_mut() else {
        return warnings;
    };
    let kind = root
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let what = if name.is_empty() {
        kind.clone()
    } else {
        format!("{kind} {name:?}")
    };

    let missing_version = root
        .get("apiVersion")
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if missing_version && let Some(version) = preferred_api_version(&kind) {
        root.insert("apiVersion".into(), json!(version));
        warnings.push(format!("{what}: no apiVersion given; assuming {version}"));
    }

    if matches!(
        kind.as_str(),
        "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet"
    ) && let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut)
        && spec.get("selector").is_none_or(Value::is_null)
    {
        let labels = spec
            .get("template")
            .and_then(|t| t.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .filter(|l| !l.is_empty())
            .cloned();
        if let Some(labels) = labels {
            let shown = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            spec.insert("selector".into(), json!({ "matchLabels": labels }));
            warnings.push(format!(
                "{what}: no spec.selector given; selecting the template's labels ({shown}) with spec.selector.matchLabels"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn seed_deployment_gets_version_and_selector() {
        let mut d = json!({"kind": "Deployment", "metadata": {"name": "nginx"},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}});
        let warnings = default_seed_deployment(&mut d);
        assert_eq!(d["apiVersion"], "apps/v1");
        assert_eq!(
            d["spec"]["selector"],
            json!({"matchLabels": {"app": "nginx"}})
        );
        assert_eq!(warnings.len(), 2);
        assert_eq!(
            warnings[0],
            "Deployment \"nginx\": no apiVersion given; assuming apps/v1"
        );
        assert!(warnings[1].contains("(app=nginx)"), "{}", warnings[1]);
    }

    #[test]
    fn complete_manifests_are_untouched() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b", "c": "d"}}}}});
        let before = d.clone();
        assert!(default_seed_deployment(&mut d).is_empty());
        assert_eq!(d, before);
    }

    #[test]
    fn services_get_v1() {
        let mut s = json!({"kind": "Service", "metadata": {"name": "nginx-service"}});
        assert_eq!(
            default_seed_deployment(&mut s),
            vec!["Service \"nginx-service\": no apiVersion given; assuming v1"]
        );
        assert_eq!(s["apiVersion"], "v1");
        let mut unknown = json!({"kind": "Widget"});
        assert!(default_seed_deployment(&mut unknown).is_empty());
    }
}
