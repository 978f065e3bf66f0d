use serde_json::json;

use crate::table::fixtures::{ago, row};

fn node_info() -> serde_json::Value {
    json!({"kubeletVersion": "v1.33.1", "osImage": "Ubuntu 24.04.2 LTS",
        "kernelVersion": "6.8.0-60-generic", "containerRuntimeVersion": "containerd://2.0.5"})
}

#[test]
fn ready_control_plane_node() {
    let node = json!({
        "metadata": {"name": "cp-1", "creationTimestamp": ago(12 * 86400),
            "labels": {"kubernetes.io/hostname": "cp-1", "node-role.kubernetes.io/control-plane": ""}},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "cp-1"}],
            "nodeInfo": node_info()}
    });
    assert_eq!(
        row("Node", &node),
        [
            "cp-1",
            "Ready",
            "control-plane",
            "12d",
            "v1.33.1",
            "192.168.1.10",
            "<none>",
            "Ubuntu 24.04.2 LTS",
            "6.8.0-60-generic",
            "containerd://2.0.5"
        ]
    );
}

#[test]
fn not_ready_cordoned_worker() {
    let node = json!({
        "metadata": {"name": "worker-2", "creationTimestamp": ago(5 * 3600 + 20 * 60),
            "labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "ingress", "node-role.kubernetes.io/": ""}},
        "spec": {"unschedulable": true, "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.12"}, {"type": "ExternalIP", "address": "203.0.113.12"}],
            "nodeInfo": node_info()}
    });
    assert_eq!(
        row("Node", &node)[..7],
        [
            "worker-2",
            "NotReady,SchedulingDisabled",
            "ingress,worker",
            "5h20m",
            "v1.33.1",
            "192.168.1.12",
            "203.0.113.12"
        ]
    );
}

#[test]
fn node_that_never_reported() {
    let node = json!({"metadata": {"name": "new"}});
    assert_eq!(
        row("Node", &node),
        [
            "new",
            "Unknown",
            "<none>",
            "<unknown>",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ]
    );
}

#[test]
fn namespace_and_lease() {
    let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(100 * 86400)}, "status": {"phase": "Active"}});
    assert_eq!(row("Namespace", &ns), ["kube-system", "Active", "100d"]);
    let terminating = json!({"metadata": {"name": "old"}, "status": {"phase": "Terminating"}});
    assert_eq!(row("Namespace", &terminating)[1], "Terminating");

    let lease = json!({"metadata": {"name": "kube-scheduler", "creationTimestamp": ago(300)},
        "spec": {"holderIdentity": "cp-1_5f7d0c2e", "leaseDurationSeconds": 15}});
    assert_eq!(
        row("Lease", &lease),
        ["kube-scheduler", "cp-1_5f7d0c2e", "5m"]
    );
    let free = json!({"metadata": {"name": "l"}, "spec": {}});
    assert_eq!(row("Lease", &free)[1], "");
}
