//! Taints: how a toleration matches a taint, and the taints a node should carry because of
//! its conditions and `spec.unschedulable` (Kubernetes' `TaintNodesByCondition` and the
//! NoExecute taints of `node.kubernetes.io/not-ready` / `unreachable`).

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

pub const NO_EXECUTE: &str = "NoExecute";
pub const NO_SCHEDULE: &str = "NoSchedule";

/// Every taint key this controller owns; taints with other keys are the user's and are kept.
const MANAGED: &[&str] = &[
    NOT_READY,
    UNREACHABLE,
    UNSCHEDULABLE,
    MEMORY_PRESSURE,
    DISK_PRESSURE,
    PID_PRESSURE,
    NETWORK_UNAVAILABLE,
];

/// Kubernetes' `ToleratesTaint`: an empty effect matches every effect, an empty key with
/// `Exists` matches every key, `Equal` (the default operator) compares values.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether some toleration in the list matches the taint.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The status of a node condition (`True`, `False`, `Unknown`), if the node has it.
pub fn condition_status<'a>(node: &'a Node, type_: &str) -> Option<&'a str> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

/// The managed (key, effect) pairs a node should carry given its current conditions.
fn wanted(node: &Node) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    match condition_status(node, "Ready") {
        Some("False") => {
            out.push((NOT_READY, NO_EXECUTE));
            out.push((NOT_READY, NO_SCHEDULE));
        }
        Some("Unknown") => {
            out.push((UNREACHABLE, NO_EXECUTE));
            out.push((UNREACHABLE, NO_SCHEDULE));
        }
        _ => {}
    }
    for (condition, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE),
    ] {
        if condition_status(node, condition) == Some("True") {
            out.push((key, NO_SCHEDULE));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        out.push((UNSCHEDULABLE, NO_SCHEDULE));
    }
    out
}

/// The node's taint list with the managed taints brought in line with its conditions, or
/// `None` when nothing changes. Taints already present keep their `timeAdded`; new NoExecute
/// taints get `now` (the eviction clock starts there); the user's own taints stay as they are.
pub fn reconcile_taints(node: &Node, now: Timestamp) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = wanted(node);
    let is_wanted = |t: &Taint| {
        wanted
            .iter()
            .any(|(k, e)| t.key == *k && t.effect == *e && t.value.is_none())
    };
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !MANAGED.contains(&t.key.as_str()) || is_wanted(t))
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !next.iter().any(|t| t.key == *key && t.effect == *effect) {
            next.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: (*effect == NO_EXECUTE).then_some(Time(now)),
            });
        }
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};

    fn toleration(key: &str, op: &str, value: Option<&str>, effect: &str) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: Some(op.to_string()),
            value: value.map(str::to_string),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(str::to_string),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn node(ready: Option<&str>, taints: Vec<Taint>) -> Node {
        Node {
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: ready.map(|s| {
                    vec![NodeCondition {
                        type_: "Ready".into(),
                        status: s.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let t = taint("dedicated", Some("gpu"), NO_SCHEDULE);
        assert!(tolerates(
            &toleration("dedicated", "Equal", Some("gpu"), "NoSchedule"),
            &t
        ));
        assert!(!tolerates(
            &toleration("dedicated", "Equal", Some("cpu"), "NoSchedule"),
            &t
        ));
        assert!(tolerates(&toleration("dedicated", "Exists", None, ""), &t));
        assert!(!tolerates(
            &toleration("dedicated", "Exists", None, "NoExecute"),
            &t
        ));
        assert!(
            tolerates(&toleration("", "Exists", None, ""), &t),
            "empty key + Exists tolerates everything"
        );
        assert!(!tolerates(&toleration("other", "Exists", None, ""), &t));
    }

    #[test]
    fn unknown_ready_gets_unreachable_taints_with_time_added() {
        let now = Timestamp::from_second(1_000).unwrap();
        let n = node(Some("Unknown"), vec![taint("user", None, NO_SCHEDULE)]);
        let taints = reconcile_taints(&n, now).unwrap();
        let keys: Vec<(&str, &str)> = taints
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("user", NO_SCHEDULE),
                (UNREACHABLE, NO_EXECUTE),
                (UNREACHABLE, NO_SCHEDULE)
            ]
        );
        assert_eq!(taints[1].time_added, Some(Time(now)));
        assert_eq!(taints[2].time_added, None);
    }

    #[test]
    fn not_ready_swaps_unreachable_for_not_ready_and_ready_clears() {
        let now = Timestamp::from_second(1_000).unwrap();
        let n = node(
            Some("False"),
            vec![
                taint(UNREACHABLE, None, NO_EXECUTE),
                taint(UNREACHABLE, None, NO_SCHEDULE),
            ],
        );
        let taints = reconcile_taints(&n, now).unwrap();
        assert!(taints.iter().all(|t| t.key == NOT_READY));
        assert_eq!(taints.len(), 2);
        let n = node(Some("True"), taints);
        assert_eq!(reconcile_taints(&n, now), Some(vec![]));
        let n = node(Some("True"), vec![]);
        assert_eq!(reconcile_taints(&n, now), None, "no change, no write");
    }

    #[test]
    fn existing_taints_keep_their_time() {
        let then = Timestamp::from_second(10).unwrap();
        let mut t = taint(UNREACHABLE, None, NO_EXECUTE);
        t.time_added = Some(Time(then));
        let n = node(
            Some("Unknown"),
            vec![t.clone(), taint(UNREACHABLE, None, NO_SCHEDULE)],
        );
        assert_eq!(
            reconcile_taints(&n, Timestamp::from_second(99).unwrap()),
            None
        );
    }

    #[test]
    fn unschedulable_and_pressure_become_no_schedule_taints() {
        let mut n = node(Some("True"), vec![]);
        if let Some(spec) = n.spec.as_mut() {
            spec.unschedulable = Some(true);
        }
        if let Some(conds) = n.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            conds.push(NodeCondition {
                type_: "DiskPressure".into(),
                status: "True".into(),
                ..Default::default()
            });
        }
        let taints = reconcile_taints(&n, Timestamp::from_second(1).unwrap()).unwrap();
        let keys: Vec<&str> = taints.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, vec![DISK_PRESSURE, UNSCHEDULABLE]);
    }
}
