//! Pod rows, a port of kube-apiserver's `printPod`: READY counts, the kubectl-style STATUS
//! reason (`CrashLoopBackOff`, `Init:0/1`, `Terminating`, ...), RESTARTS with the time of the
//! last restart, and the wide IP / NODE / NOMINATED NODE / READINESS GATES cells.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::{age, since, timestamp};
use super::column::{AGE, Column, NAME};
use super::fields::{flag_opt, has_object, int, items, name, or_none, text};

pub(super) const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column::new("Status", "string", "The aggregate status of the containers in this pod."),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    Column::new("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.").wide(),
    Column::new("Node", "string", "NodeName indicates in which node this pod is scheduled.").wide(),
    Column::new("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.").wide(),
    Column::new("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.").wide(),
];

/// The kubelet's reason for a pod evicted from a lost node (`node.NodeUnreachablePodReason`).
const NODE_LOST: &str = "NodeLost";

pub(super) fn cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let summary = Summary::of(pod);
    let restarts = match summary.last_restart {
        Some(at) if summary.restarts != 0 => {
            format!("{} ({} ago)", summary.restarts, since(Some(at), now))
        }
        _ => summary.restarts.to_string(),
    };
    // `status.podIP` is what older writers set; kube's conversion copies it into `podIPs`.
    let ip = match items(pod, "/status/podIPs").first() {
        Some(first) => text(first, "/ip"),
        None => text(pod, "/status/podIP"),
    };
    vec![
        name(pod),
        json!(format!("{}/{}", summary.ready, summary.total)),
        json!(summary.reason),
        json!(restarts),
        age(pod, now),
        json!(or_none(ip)),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates(pod)),
    ]
}

/// The row condition kube attaches to finished pods (`podSuccessConditions` / `podFailedConditions`).
pub(super) fn row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// What the READY, STATUS and RESTARTS cells are computed from.
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

impl Summary {
    fn of(pod: &Value) -> Self {
        let phase = text(pod, "/status/phase");
        let mut reason = match text(pod, "/status/reason") {
            "" => phase.to_string(),
            r => r.to_string(),
        };
        if has_condition(pod, |c| {
            text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated"
        }) {
            reason = "SchedulingGated".to_string();
        }
        let init_specs = items(pod, "/spec/initContainers");
        // Sidecars (init containers with restartPolicy Always) count as containers of the pod.
        let sidecar = |name: &str| {
            init_specs
                .iter()
                .any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
        };
        let mut s = Summary {
            ready: 0,
            total: items(pod, "/spec/containers").len()
                + init_specs
                    .iter()
                    .filter(|c| text(c, "/restartPolicy") == "Always")
                    .count(),
            reason,
            restarts: 0,
            last_restart: None,
        };

        let mut sidecar_restarts = 0;
        let mut last_sidecar_restart = None;
        let mut initializing = false;
        for (i, status) in items(pod, "/status/initContainerStatuses")
            .iter()
            .enumerate()
        {
            let restarts = int(status, "/restartCount");
            let finished = last_finished(status);
            s.restarts += restarts;
            s.last_restart = later(s.last_restart, finished);
            let is_sidecar = sidecar(text(status, "/name"));
            if is_sidecar {
                sidecar_restarts += restarts;
                last_sidecar_restart = later(last_sidecar_restart, finished);
            }
            let terminated = has_object(status, "/state/terminated");
            let waiting_reason = text(status, "/state/waiting/reason");
            if terminated && int(status, "/state/terminated/exitCode") == 0 {
                continue;
            }
            if is_sidecar && flag_opt(status, "/started") == Some(true) {
                if flag_opt(status, "/ready") == Some(true) {
                    s.ready += 1;
                }
                continue;
            }
            s.reason = if terminated {
                format!("Init:{}", terminated_reason(status))
            } else if has_object(status, "/state/waiting")
                && !waiting_reason.is_empty()
                && waiting_reason != "PodInitializing"
            {
                format!("Init:{waiting_reason}")
            } else {
                format!("Init:{i}/{}", init_specs.len())
            };
            initializing = true;
            break;
        }

        let initialized =
            condition(pod, "Initialized").is_some_and(|c| text(c, "/status") == "True");
        if !initializing || initialized {
            s.restarts = sidecar_restarts;
            s.last_restart = last_sidecar_restart;
            let mut has_running = false;
            // kube walks the statuses backwards, so the first container's reason wins.
            for status in items(pod, "/status/containerStatuses").iter().rev() {
                s.restarts += int(status, "/restartCount");
                s.last_restart = later(s.last_restart, last_finished(status));
                let waiting_reason = text(status, "/state/waiting/reason");
                if has_object(status, "/state/waiting") && !waiting_reason.is_empty() {
                    s.reason = waiting_reason.to_string();
                } else if has_object(status, "/state/terminated") {
                    s.reason = terminated_reason(status);
                } else if flag_opt(status, "/ready") == Some(true)
                    && has_object(status, "/state/running")
                {
                    has_running = true;
                    s.ready += 1;
                }
            }
            if s.reason == "Completed" && has_running {
                let ready = has_condition(pod, |c| {
                    text(c, "/type") == "Ready" && text(c, "/status") == "True"
                });
                s.reason = if ready { "Running" } else { "NotReady" }.to_string();
            }
        }

        if pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
        {
            if text(pod, "/status/reason") == NODE_LOST {
                s.reason = "Unknown".to_string();
            } else if phase != "Failed" && phase != "Succeeded" {
                s.reason = "Terminating".to_string();
            }
        }
        s
    }
}

/// The first pod condition of that type (kube's helpers stop at the first match).
fn condition<'a>(pod: &'a Value, ty: &str) -> Option<&'a Value> {
    items(pod, "/status/conditions")
        .iter()
        .find(|c| text(c, "/type") == ty)
}

/// Whether any pod condition satisfies `test`.
fn has_condition(pod: &Value, test: impl Fn(&Value) -> bool) -> bool {
    items(pod, "/status/conditions").iter().any(test)
}

/// The reason of a terminated container: its own, else `Signal:9` or `ExitCode:1`.
fn terminated_reason(status: &Value) -> String {
    match text(status, "/state/terminated/reason") {
        "" => match int(status, "/state/terminated/signal") {
            0 => format!("ExitCode:{}", int(status, "/state/terminated/exitCode")),
            signal => format!("Signal:{signal}"),
        },
        reason => reason.to_string(),
    }
}

/// When the container's previous run ended (`lastState.terminated.finishedAt`).
fn last_finished(status: &Value) -> Option<Timestamp> {
    timestamp(status.pointer("/lastState/terminated/finishedAt"))
}

/// The later of two optional instants; an unset one is the zero time.
fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `true/total` readiness gates, or `<none>` when the pod declares none.
fn readiness_gates(pod: &Value) -> String {
    let gates = items(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let satisfied = gates
        .iter()
        .filter(|gate| {
            condition(pod, text(gate, "/conditionType"))
                .is_some_and(|c| text(c, "/status") == "True")
        })
        .count();
    format!("{satisfied}/{}", gates.len())
}

#[cfg(test)]
mod tests;
