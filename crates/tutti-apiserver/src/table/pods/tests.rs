use serde_json::json;

use super::row_conditions;
use crate::table::fixtures::{ago, row};

#[test]
fn running_pod_with_restarts_shows_when_it_last_restarted() {
    let pod = json!({
        "metadata": {"name": "web-7d9c5b6f4-x2x9k", "creationTimestamp": ago(3 * 3600 + 600)},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 2, "started": true,
                "state": {"running": {"startedAt": ago(300)}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": ago(900), "finishedAt": ago(301)}}
            }]
        }
    });
    assert_eq!(
        row("Pod", &pod),
        [
            "web-7d9c5b6f4-x2x9k",
            "1/1",
            "Running",
            "2 (5m1s ago)",
            "3h10m",
            "10.244.1.7",
            "worker-1",
            "<none>",
            "<none>"
        ]
    );
}

#[test]
fn crash_looping_pod() {
    let pod = json!({
        "metadata": {"name": "api-0", "creationTimestamp": ago(20 * 60)},
        "spec": {"nodeName": "worker-2", "containers": [{"name": "api"}]},
        "status": {
            "phase": "Running",
            "podIPs": [{"ip": "10.244.2.4"}],
            "containerStatuses": [{
                "name": "api", "ready": false, "restartCount": 7, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(40)}}
            }]
        }
    });
    assert_eq!(
        row("Pod", &pod)[..5],
        ["api-0", "0/1", "CrashLoopBackOff", "7 (40s ago)", "20m"]
    );
}

#[test]
fn terminating_pod_keeps_readiness_but_says_terminating() {
    let pod = json!({
        "metadata": {"name": "web-1", "creationTimestamp": ago(2 * 86400),
            "deletionTimestamp": ago(-30), "deletionGracePeriodSeconds": 30},
        "spec": {"containers": [{"name": "web"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "web", "ready": true, "restartCount": 0, "state": {"running": {}}
        }]}
    });
    assert_eq!(
        row("Pod", &pod)[..5],
        ["web-1", "1/1", "Terminating", "0", "2d"]
    );
}

#[test]
fn pending_pod_without_ip_or_node_prints_none_placeholders() {
    let pod = json!({
        "metadata": {"name": "web-2", "creationTimestamp": ago(4)},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "web"}, {"name": "log"}]},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "web", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
            {"name": "log", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}
    });
    assert_eq!(
        row("Pod", &pod),
        [
            "web-2",
            "0/2",
            "ContainerCreating",
            "0",
            "4s",
            "<none>",
            "worker-1",
            "<none>",
            "<none>"
        ]
    );
    let unscheduled = json!({"metadata": {"name": "big"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Pending", "nominatedNodeName": "worker-3"}});
    assert_eq!(
        row("Pod", &unscheduled),
        [
            "big",
            "0/1",
            "Pending",
            "0",
            "<unknown>",
            "<none>",
            "<none>",
            "worker-3",
            "<none>"
        ]
    );
}

#[test]
fn init_containers_show_progress_and_failures() {
    let running_init = json!({
        "metadata": {"name": "db-0"},
        "spec": {"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "db"}]},
        "status": {"phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "False"}],
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "seed", "ready": false, "restartCount": 0, "state": {"running": {}}}
            ],
            "containerStatuses": [{"name": "db", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}}]}
    });
    assert_eq!(
        row("Pod", &running_init)[..4],
        ["db-0", "0/1", "Init:1/2", "0"]
    );

    let crashing_init = json!({
        "metadata": {"name": "db-1"},
        "spec": {"initContainers": [{"name": "migrate"}], "containers": [{"name": "db"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{
            "name": "migrate", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 2, "finishedAt": ago(90)}}
        }]}
    });
    assert_eq!(
        row("Pod", &crashing_init)[..4],
        ["db-1", "0/1", "Init:CrashLoopBackOff", "3 (90s ago)"]
    );

    let killed_init = json!({
        "metadata": {"name": "db-2"},
        "spec": {"initContainers": [{"name": "migrate"}], "containers": [{"name": "db"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{
            "name": "migrate", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}
        }]}
    });
    assert_eq!(row("Pod", &killed_init)[2], "Init:Signal:9");
}

#[test]
fn running_sidecar_counts_towards_ready_containers() {
    let pod = json!({
        "metadata": {"name": "mesh-0"},
        "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3600)}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
    });
    assert_eq!(
        row("Pod", &pod)[..4],
        ["mesh-0", "2/2", "Running", "1 (60m ago)"]
    );
}

#[test]
fn finished_pods_show_their_container_reason_and_a_completed_condition() {
    let done = json!({
        "metadata": {"name": "pi-x7k2p"},
        "spec": {"containers": [{"name": "pi"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [{"name": "pi", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
    });
    assert_eq!(row("Pod", &done)[..3], ["pi-x7k2p", "0/1", "Completed"]);
    assert_eq!(
        row_conditions(&done),
        Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."}])
        )
    );

    let failed = json!({
        "metadata": {"name": "pi-b2"},
        "spec": {"containers": [{"name": "pi"}]},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "pi", "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
    });
    assert_eq!(row("Pod", &failed)[2], "Error");
    assert_eq!(
        row_conditions(&failed)
            .and_then(|c| c[0]["reason"].as_str().map(String::from))
            .as_deref(),
        Some("Failed")
    );

    let evicted = json!({"metadata": {"name": "e"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Failed", "reason": "Evicted"}});
    assert_eq!(row("Pod", &evicted)[2], "Evicted");
}

#[test]
fn node_lost_and_gated_pods() {
    let lost = json!({
        "metadata": {"name": "w", "deletionTimestamp": ago(10)},
        "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Running", "reason": "NodeLost"}
    });
    assert_eq!(row("Pod", &lost)[2], "Unknown");
    let gated = json!({
        "metadata": {"name": "g"}, "spec": {"containers": [{"name": "a"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
    });
    assert_eq!(row("Pod", &gated)[2], "SchedulingGated");
}

#[test]
fn completed_container_next_to_a_running_one_reads_as_running_or_not_ready() {
    let statuses = json!([
        {"name": "main", "ready": true, "restartCount": 0, "state": {"running": {}}},
        {"name": "job", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    ]);
    let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main"}, {"name": "job"}]},
        "status": {"phase": "Running", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "False"}]}});
    assert_eq!(row("Pod", &pod)[..3], ["p", "1/2", "NotReady"]);
    pod["status"]["conditions"][0]["status"] = json!("True");
    assert_eq!(row("Pod", &pod)[2], "Running");
}

#[test]
fn readiness_gates_count_true_conditions() {
    let pod = json!({
        "metadata": {"name": "lb"},
        "spec": {"containers": [{"name": "a"}], "readinessGates": [
            {"conditionType": "target-health.example.com/ok"}, {"conditionType": "www.example.com/feature-1"}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "target-health.example.com/ok", "status": "True"},
            {"type": "www.example.com/feature-1", "status": "False"}]}
    });
    assert_eq!(row("Pod", &pod)[8], "1/2");
}
