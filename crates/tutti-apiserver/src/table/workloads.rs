//! Rows of the apps/v1 workload controllers: Deployment, ReplicaSet, DaemonSet, StatefulSet
//! (kube's `printDeployment`, `printReplicaSet`, `printDaemonSet`, `printStatefulSet`).

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::age;
use super::column::{AGE, CONTAINERS, Column, IMAGES, NAME};
use super::fields::{int, int_opt, name};
use super::labels::{format_label_selector, format_labels, selector_string};
use super::template::container_cells;

/// The containers of a workload's pod template.
const TEMPLATE_CONTAINERS: &str = "/spec/template/spec/containers";

/// `spec.replicas`, which the API defaults to 1 when it is not given.
fn desired_replicas(obj: &Value) -> i64 {
    int_opt(obj, "/spec/replicas").unwrap_or(1)
}

pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new("Up-to-date", "string", "Total number of non-terminating pods targeted by this deployment that have the desired template spec."),
    Column::new("Available", "string", "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.").wide(),
];

pub(super) fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    // printDeployment uses the raw selector string: "" when unset, "<invalid>" when malformed.
    let selector =
        selector_string(obj.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".to_string());
    let [containers, images] = container_cells(obj, TEMPLATE_CONTAINERS);
    vec![
        name(obj),
        json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )),
        json!(int(obj, "/status/updatedReplicas")),
        json!(int(obj, "/status/availableReplicas")),
        age(obj, now),
        containers,
        images,
        json!(selector),
    ]
}

pub(super) const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    Column::new(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods.",
    ),
    Column::new(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    )
    .wide(),
];

pub(super) fn replica_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [containers, images] = container_cells(obj, TEMPLATE_CONTAINERS);
    vec![
        name(obj),
        json!(desired_replicas(obj)),
        json!(int(obj, "/status/replicas")),
        json!(int(obj, "/status/readyReplicas")),
        age(obj, now),
        containers,
        images,
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

pub(super) const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
    ),
    Column::new(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    Column::new(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    Column::new(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    Column::new(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    Column::new(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set.",
    )
    .wide(),
];

pub(super) fn daemon_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [containers, images] = container_cells(obj, TEMPLATE_CONTAINERS);
    vec![
        name(obj),
        json!(int(obj, "/status/desiredNumberScheduled")),
        json!(int(obj, "/status/currentNumberScheduled")),
        json!(int(obj, "/status/numberReady")),
        json!(int(obj, "/status/updatedNumberScheduled")),
        json!(int(obj, "/status/numberAvailable")),
        json!(format_labels(
            obj.pointer("/spec/template/spec/nodeSelector")
        )),
        age(obj, now),
        containers,
        images,
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

pub(super) const STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

pub(super) fn stateful_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let [containers, images] = container_cells(obj, TEMPLATE_CONTAINERS);
    vec![
        name(obj),
        json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )),
        age(obj, now),
        containers,
        images,
    ]
}

#[cfg(test)]
mod tests;
