//! Rows of the cluster-level kinds Namespace, Node and Lease (kube's `printNamespace`,
//! `printNode`, `printLease`): node readiness and cordoning, roles from labels, system info.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::age;
use super::column::{AGE, Column, NAME};
use super::fields::{items, name, text};

pub(super) const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the namespace"),
    AGE,
];

pub(super) fn namespace_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), json!(text(obj, "/status/phase")), age(obj, now)]
}

pub(super) const NODE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", "Kubelet Version reported by the node."),
    Column::new("Internal-IP", "string", "List of addresses reachable to the node.").wide(),
    Column::new("External-IP", "string", "List of addresses reachable to the node.").wide(),
    Column::new("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).").wide(),
    Column::new("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).").wide(),
    Column::new("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).").wide(),
];

pub(super) fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let info = |field: &str| match text(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        value => value.to_string(),
    };
    vec![
        name(node),
        json!(node_status(node)),
        json!(node_roles(node)),
        age(node, now),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

/// `Ready`, `NotReady` (condition False or Unknown) or `Unknown` (no Ready condition), with
/// `,SchedulingDisabled` for a cordoned node.
fn node_status(node: &Value) -> String {
    // kube indexes conditions by type, so the last Ready condition wins.
    let ready = items(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| text(c, "/type") == "Ready");
    let mut status = match ready {
        Some(c) if text(c, "/status") == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the legacy `kubernetes.io/role`
/// label's value, sorted and de-duplicated, or `<none>`.
fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = match node.pointer("/metadata/labels") {
        Some(Value::Object(labels)) => labels
            .iter()
            .filter_map(
                |(key, value)| match key.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role),
                    Some(_) => None,
                    None if key == "kubernetes.io/role" => value.as_str().filter(|v| !v.is_empty()),
                    None => None,
                },
            )
            .collect(),
        _ => Vec::new(),
    };
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

/// The first address of that type, or `<none>`.
fn node_address(node: &Value, ty: &str) -> String {
    items(node, "/status/addresses")
        .iter()
        .find(|a| text(a, "/type") == ty)
        .map_or_else(|| "<none>".to_string(), |a| text(a, "/address").to_string())
}

pub(super) const LEASE_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

pub(super) fn lease_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        json!(text(obj, "/spec/holderIdentity")),
        age(obj, now),
    ]
}

#[cfg(test)]
mod tests;
