//! The downward API: the pod's own fields (`metadata.name`, `status.podIP`, labels...) and
//! its containers' resources, as env values and downwardAPI volume files see them.

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use tutti_core::quantity::Quantity;

/// What the downward API reads besides the pod object itself.
#[derive(Clone, Debug)]
pub struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// Node allocatable, the value of a `limits.*` field when the container sets no limit.
    pub node_cpu_millis: i64,
    pub node_memory_bytes: i64,
}

/// The value of a `fieldRef.fieldPath`.
pub fn field_value(path: &str, facts: &PodFacts) -> Result<String, String> {
    let meta = &facts.pod.metadata;
    let spec = facts.pod.spec.as_ref();
    let map_entry = |map: Option<&std::collections::BTreeMap<String, String>>, key: &str| {
        map.and_then(|m| m.get(key)).cloned().unwrap_or_default()
    };
    if let Some(key) = subscript(path, "metadata.labels") {
        return Ok(map_entry(meta.labels.as_ref(), key));
    }
    if let Some(key) = subscript(path, "metadata.annotations") {
        return Ok(map_entry(meta.annotations.as_ref(), key));
    }
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_lines(meta.labels.as_ref()),
        "metadata.annotations" => map_lines(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_string()),
        "status.podIP" | "status.podIPs" => facts.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.to_string(),
        other => return Err(format!("unsupported fieldPath: {other}")),
    };
    Ok(value)
}

/// `metadata.labels['app']` → `app`.
fn subscript<'p>(path: &'p str, field: &str) -> Option<&'p str> {
    let rest = path
        .strip_prefix(field)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    rest.strip_prefix('\'')?.strip_suffix('\'')
}

/// A map as a downwardAPI file shows it: sorted `key="value"` lines.
fn map_lines(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}\n", serde_json::Value::String(v.clone())))
        .collect()
}

/// The value of a `resourceFieldRef` on `container` (which the ref may override by name).
pub fn resource_value(
    r: &ResourceFieldSelector,
    container: &Container,
    facts: &PodFacts,
) -> Result<String, String> {
    let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) if name != container.name => facts
            .pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == name)
            .ok_or_else(|| format!("container {name} not found"))?,
        _ => container,
    };
    let resources = target.resources.as_ref();
    let get = |which: &str, name: &str| -> Result<Option<Quantity>, String> {
        let map = match which {
            "limits" => resources.and_then(|r| r.limits.as_ref()),
            _ => resources.and_then(|r| r.requests.as_ref()),
        };
        map.and_then(|m| m.get(name)).map(parse).transpose()
    };
    let divisor = match &r.divisor {
        Some(d) => parse(d)?,
        None => Quantity::parse("1").map_err(|e| e.to_string())?,
    };
    let (which, name) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {}", r.resource))?;
    let quantity = get(which, name)?;
    let value = match (which, name) {
        ("limits" | "requests", "cpu") => {
            let millis = quantity
                .map(|q| q.milli_value())
                .unwrap_or(if which == "limits" {
                    facts.node_cpu_millis
                } else {
                    0
                });
            ceil_div(i128::from(millis), i128::from(divisor.milli_value()))
        }
        ("limits" | "requests", "memory" | "ephemeral-storage") => {
            let bytes =
                quantity
                    .map(|q| q.value())
                    .unwrap_or(if which == "limits" && name == "memory" {
                        facts.node_memory_bytes
                    } else {
                        0
                    });
            ceil_div(i128::from(bytes), i128::from(divisor.value()))
        }
        _ => return Err(format!("unsupported container resource : {}", r.resource)),
    };
    Ok(value.to_string())
}

fn parse(q: &KubeQuantity) -> Result<Quantity, String> {
    Quantity::parse(&q.0).map_err(|e| format!("invalid quantity {:?}: {e}", q.0))
}

fn ceil_div(n: i128, d: i128) -> i128 {
    if d <= 0 {
        return n;
    }
    (n + d - 1).div_euclid(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1",
                "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "a \"b\""}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x",
                "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}}}]}
        }))
        .unwrap()
    }

    fn facts(pod: &Pod) -> PodFacts<'_> {
        PodFacts {
            pod,
            pod_ip: "10.1.0.5",
            host_ip: "192.168.1.2",
            node_cpu_millis: 4000,
            node_memory_bytes: 8 << 30,
        }
    }

    #[test]
    fn fields() {
        let p = pod();
        let f = facts(&p);
        for (path, want) in [
            ("metadata.name", "web"),
            ("metadata.namespace", "prod"),
            ("metadata.uid", "u-1"),
            ("metadata.labels['app']", "web"),
            ("metadata.labels['missing']", ""),
            ("metadata.annotations['note']", "a \"b\""),
            ("spec.nodeName", "n1"),
            ("spec.serviceAccountName", "default"),
            ("status.podIP", "10.1.0.5"),
            ("status.hostIP", "192.168.1.2"),
            ("metadata.labels", "app=\"web\"\ntier=\"front\"\n"),
        ] {
            assert_eq!(field_value(path, &f).as_deref(), Ok(want), "{path}");
        }
        assert!(field_value("spec.bogus", &f).is_err());
    }

    #[test]
    fn resources() {
        let p = pod();
        let f = facts(&p);
        let c = &p.spec.as_ref().unwrap().containers[0];
        let sel = |resource: &str, divisor: Option<&str>| ResourceFieldSelector {
            resource: resource.to_string(),
            divisor: divisor.map(|d| KubeQuantity(d.to_string())),
            container_name: None,
        };
        let v = |s| resource_value(&s, c, &f);
        assert_eq!(v(sel("limits.memory", None)).as_deref(), Ok("67108864"));
        assert_eq!(v(sel("limits.memory", Some("1Mi"))).as_deref(), Ok("64"));
        assert_eq!(
            v(sel("requests.cpu", None)).as_deref(),
            Ok("1"),
            "rounded up"
        );
        assert_eq!(v(sel("requests.cpu", Some("1m"))).as_deref(), Ok("250"));
        assert_eq!(
            v(sel("limits.cpu", None)).as_deref(),
            Ok("4"),
            "no limit: node allocatable"
        );
        assert!(v(sel("limits.gpu", None)).is_err());
    }
}
