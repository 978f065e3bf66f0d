//! `describe pod`: placement, phase, addresses, owner, containers with their state, conditions,
//! volumes, QoS class, node selectors and tolerations.

use serde_json::Value;

use super::containers::{Layout, containers, volumes};
use super::writer::{NONE, Writer, array, pairs, text};
use super::{conditions, controlled_by};
use crate::output::age::rfc1123;

pub fn write(w: &mut Writer, p: &Value) {
    w.field(0, "Name", text(p, "/metadata/name"));
    w.field(0, "Namespace", text(p, "/metadata/namespace"));
    if let Some(priority) = p.pointer("/spec/priority").and_then(Value::as_i64) {
        w.field(0, "Priority", priority);
    }
    let sa = text(p, "/spec/serviceAccountName");
    w.field(
        0,
        "Service Account",
        if sa.is_empty() { "default" } else { sa },
    );
    let node = text(p, "/spec/nodeName");
    let host_ip = text(p, "/status/hostIP");
    w.field(
        0,
        "Node",
        match (node.is_empty(), host_ip.is_empty()) {
            (true, _) => NONE.to_string(),
            (false, true) => node.to_string(),
            (false, false) => format!("{node}/{host_ip}"),
        },
    );
    let start = text(p, "/status/startTime");
    if !start.is_empty() {
        w.field(0, "Start Time", rfc1123(start));
    }
    w.labels(0, "Labels", p.pointer("/metadata/labels"));
    w.annotations(0, "Annotations", p.pointer("/metadata/annotations"));
    w.field(0, "Status", status(p));
    for (label, pointer) in [("Reason", "/status/reason"), ("Message", "/status/message")] {
        let v = text(p, pointer);
        if !v.is_empty() {
            w.field(0, label, v);
        }
    }
    w.field(0, "IP", text(p, "/status/podIP"));
    let ips: Vec<String> = array(p, "/status/podIPs")
        .iter()
        .map(|i| text(i, "/ip").to_string())
        .collect();
    if ips.is_empty() {
        w.field(0, "IPs", NONE);
    } else {
        w.heading(0, "IPs");
        for ip in ips {
            w.field(1, "IP", ip);
        }
    }
    if let Some(owner) = controlled_by(p) {
        w.field(0, "Controlled By", owner);
    }
    let statuses = array(p, "/status/containerStatuses");
    let init_statuses = array(p, "/status/initContainerStatuses");
    containers(
        w,
        0,
        "Init Containers",
        array(p, "/spec/initContainers"),
        init_statuses,
        Layout::Pod,
    );
    containers(
        w,
        0,
        "Containers",
        array(p, "/spec/containers"),
        statuses,
        Layout::Pod,
    );
    conditions(w, p, &["Type", "Status"]);
    volumes(w, 0, array(p, "/spec/volumes"));
    let qos = text(p, "/status/qosClass");
    if !qos.is_empty() {
        w.field(0, "QoS Class", qos);
    }
    w.lines(
        0,
        "Node-Selectors",
        &pairs(p.pointer("/spec/nodeSelector"), "="),
    );
    let tolerations: Vec<String> = array(p, "/spec/tolerations")
        .iter()
        .map(toleration)
        .collect();
    w.lines(0, "Tolerations", &tolerations);
}

/// The phase, or `Terminating` once a deletion is under way.
fn status(p: &Value) -> String {
    if p.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return "Terminating".to_string();
    }
    let phase = text(p, "/status/phase");
    if phase.is_empty() {
        "Pending".to_string()
    } else {
        phase.to_string()
    }
}

/// `node.kubernetes.io/not-ready:NoExecute op=Exists for 300s`.
fn toleration(t: &Value) -> String {
    let mut s = text(t, "/key").to_string();
    let value = text(t, "/value");
    if !value.is_empty() {
        s.push_str(&format!("={value}"));
    }
    let effect = text(t, "/effect");
    if !effect.is_empty() {
        s.push_str(&format!(":{effect}"));
    }
    if text(t, "/operator") == "Exists" {
        s.push_str(" op=Exists");
    }
    if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
        s.push_str(&format!(" for {secs}s"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_running_pod_reads_like_kubectl() {
        let p = json!({
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}],
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
            "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.5",
                "containerStatuses": [{"name": "web", "ready": true, "restartCount": 2,
                    "state": {"running": {"startedAt": "2024-03-05T10:00:00Z"}}}],
                "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let mut w = Writer::default();
        write(&mut w, &p);
        let out = w.finish();
        for expected in [
            "Node:             n1/10.0.0.1\n",
            "Status:           Running\n",
            "Controlled By:    ReplicaSet/web-abc\n",
            "    State:          Running\n      Started:      Tue, 05 Mar 2024 10:00:00 +0000\n",
            "    Restart Count:  2\n",
            "Conditions:\n  Type           Status\n  Ready          True\n",
            "Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n",
        ] {
            assert!(out.contains(expected), "missing {expected:?} in\n{out}");
        }
    }
}
