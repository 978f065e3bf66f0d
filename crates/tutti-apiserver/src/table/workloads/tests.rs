use serde_json::json;

use crate::table::fixtures::{ago, row};

fn template() -> serde_json::Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27"}, {"name": "metrics", "image": "prom/exporter:v0.15"}
    ]}})
}

#[test]
fn deployment_rolling_out_two_of_three() {
    let deploy = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(45 * 60)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    assert_eq!(
        row("Deployment", &deploy),
        [
            "web",
            "2/3",
            "#3",
            "#2",
            "45m",
            "web,metrics",
            "nginx:1.27,prom/exporter:v0.15",
            "app=web"
        ]
    );
}

#[test]
fn fresh_deployment_without_status_defaults_to_one_replica() {
    let deploy = json!({"metadata": {"name": "api", "creationTimestamp": ago(3)},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "api:v2"}]}}}});
    assert_eq!(
        row("Deployment", &deploy),
        ["api", "0/1", "#0", "#0", "3s", "api", "api:v2", ""]
    );
}

#[test]
fn replica_set_counts_and_selector() {
    let rs = json!({
        "metadata": {"name": "web-7d9c5b6f4", "creationTimestamp": ago(2 * 86400 + 5 * 3600)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9c5b6f4"}},
            "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2}
    });
    assert_eq!(
        row("ReplicaSet", &rs),
        [
            "web-7d9c5b6f4",
            "#3",
            "#3",
            "#2",
            "2d5h",
            "web,metrics",
            "nginx:1.27,prom/exporter:v0.15",
            "app=web,pod-template-hash=7d9c5b6f4"
        ]
    );
}

#[test]
fn daemon_set_with_node_selector() {
    let ds = json!({
        "metadata": {"name": "node-exporter", "creationTimestamp": ago(30 * 86400)},
        "spec": {"selector": {"matchLabels": {"app": "node-exporter"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "exporter", "image": "prom/node-exporter:v1.8"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
            "updatedNumberScheduled": 3, "numberAvailable": 2}
    });
    assert_eq!(
        row("DaemonSet", &ds),
        [
            "node-exporter",
            "#3",
            "#3",
            "#2",
            "#3",
            "#2",
            "kubernetes.io/os=linux",
            "30d",
            "exporter",
            "prom/node-exporter:v1.8",
            "app=node-exporter"
        ]
    );
    let bare = json!({"metadata": {"name": "d"}});
    assert_eq!(row("DaemonSet", &bare)[6], "<none>");
    assert_eq!(row("DaemonSet", &bare)[10], "<none>");
}

#[test]
fn stateful_set_ready_of_desired() {
    let sts = json!({
        "metadata": {"name": "db", "creationTimestamp": ago(9 * 60 + 5)},
        "spec": {"replicas": 3, "serviceName": "db", "template": {"spec": {"containers": [
            {"name": "postgres", "image": "postgres:16"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    assert_eq!(
        row("StatefulSet", &sts),
        ["db", "1/3", "9m5s", "postgres", "postgres:16"]
    );
}
