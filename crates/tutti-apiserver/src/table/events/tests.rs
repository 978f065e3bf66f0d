use serde_json::json;

use crate::table::fixtures::{ago, row};

#[test]
fn repeated_warning_about_a_pod_container() {
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "api-0.17d2c3f1a2b3c4d5", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "api-0", "namespace": "default",
            "fieldPath": "spec.containers{api}"},
        "reason": "BackOff", "type": "Warning",
        "message": "Back-off restarting failed container api in pod api-0_default(5b1c)\n",
        "source": {"component": "kubelet", "host": "worker-2"},
        "firstTimestamp": ago(20 * 60), "lastTimestamp": ago(35), "count": 86
    });
    assert_eq!(
        row("Event", &event),
        [
            "35s",
            "Warning",
            "BackOff",
            "pod/api-0",
            "spec.containers{api}",
            "kubelet, worker-2",
            "Back-off restarting failed container api in pod api-0_default(5b1c)",
            "20m",
            "#86",
            "api-0.17d2c3f1a2b3c4d5"
        ]
    );
}

#[test]
fn new_style_singleton_uses_event_time_and_reporting_controller() {
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet", "type": "Normal",
        "message": "Scaled up replica set web-7d9c5b6f4 from 0 to 3",
        "eventTime": ago(150), "reportingComponent": "deployment-controller",
        "reportingController": "deployment-controller", "source": {}
    });
    assert_eq!(
        row("Event", &event),
        [
            "2m30s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up replica set web-7d9c5b6f4 from 0 to 3",
            "2m30s",
            "#1",
            "web.1"
        ]
    );
}

#[test]
fn series_sets_last_seen_and_count() {
    let event = json!({
        "metadata": {"name": "n.1"},
        "involvedObject": {"kind": "Node"},
        "type": "Normal", "reason": "NodeHasSufficientMemory",
        "eventTime": ago(3600), "series": {"count": 4, "lastObservedTime": ago(61)}
    });
    let cells = row("Event", &event);
    assert_eq!(cells[0], "61s");
    assert_eq!(cells[3], "node");
    assert_eq!(cells[7], "60m");
    assert_eq!(cells[8], "#4");
}

#[test]
fn events_k8s_io_v1_fields() {
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "db-0.2"},
        "regarding": {"kind": "Pod", "name": "db-0", "fieldPath": "spec.containers{postgres}"},
        "reason": "Pulled", "type": "Normal", "note": "Successfully pulled image \"postgres:16\"",
        "reportingController": "kubelet", "reportingInstance": "worker-1",
        "deprecatedFirstTimestamp": ago(400), "deprecatedLastTimestamp": ago(100), "deprecatedCount": 2
    });
    assert_eq!(
        row("Event", &event),
        [
            "100s",
            "Normal",
            "Pulled",
            "pod/db-0",
            "spec.containers{postgres}",
            "kubelet, worker-1",
            "Successfully pulled image \"postgres:16\"",
            "6m40s",
            "#2",
            "db-0.2"
        ]
    );
}

#[test]
fn event_without_any_timestamp() {
    let event = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod", "name": "p"}});
    assert_eq!(row("Event", &event)[..1], ["<unknown>"]);
    assert_eq!(row("Event", &event)[7], "<unknown>");
}
