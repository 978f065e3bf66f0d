//! Node health from heartbeats: when the controller last saw a node's lease (or, without a
//! lease, its Ready condition) move, whether that is within the grace period, and the
//! conditions a node gets once its agent has gone quiet.
//!
//! As in Kubernetes, staleness is measured on the manager's clock — the time the controller
//! *observed* a new heartbeat — never against the node's own clock, so a node whose clock is
//! off does not flap.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::taints::condition_status;

/// What the controller concludes about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeHealth {
    /// Heartbeats arrive and the agent reports Ready (or has not reported yet).
    Ready,
    /// Heartbeats arrive and the agent reports Ready=False.
    NotReady,
    /// No heartbeat within the grace period, or Ready is still Unknown after one.
    Unreachable {
        /// The node's conditions are not Unknown yet: write them.
        mark_unknown: bool,
    },
}

/// What a node last reported, from its lease and its Ready condition; any change of it is a
/// heartbeat.
pub type Reported = (Option<Timestamp>, Option<Timestamp>);

/// The heartbeat a node reports: its lease's `renewTime` and its Ready condition's
/// `lastHeartbeatTime`.
pub fn reported(node: &Node, lease: Option<&Lease>) -> Reported {
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let posted = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    (renew, posted)
}

/// When each node's heartbeat was last seen to change (Kubernetes' `probeTimestamp`).
#[derive(Debug, Default)]
pub struct Heartbeats {
    seen: HashMap<String, (Reported, Timestamp)>,
}

impl Heartbeats {
    /// Record what the node reports now; returns when it last changed. A node seen for the
    /// first time counts as just heard from, so a restarted controller gives every node a
    /// full grace period.
    pub fn observe(&mut self, node: &str, reported: Reported, now: Timestamp) -> Timestamp {
        match self.seen.get_mut(node) {
            Some((last, at)) if *last == reported => *at,
            Some(entry) => {
                *entry = (reported, now);
                now
            }
            None => {
                self.seen.insert(node.to_string(), (reported, now));
                now
            }
        }
    }

    /// Forget nodes that no longer exist.
    pub fn retain(&mut self, nodes: &BTreeSet<String>) {
        self.seen.retain(|name, _| nodes.contains(name));
    }
}

/// The condition types the agent reports and the controller sets to Unknown when it stops.
pub const AGENT_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Judge a node from when its heartbeat last changed.
pub fn assess(node: &Node, heartbeat: Timestamp, now: Timestamp, grace: Duration) -> NodeHealth {
    let age = now.duration_since(heartbeat);
    let stale = age.is_positive() && age.unsigned_abs() > grace;
    if stale {
        let all_unknown = AGENT_CONDITIONS
            .iter()
            .all(|c| condition_status(node, c) == Some("Unknown"));
        return NodeHealth::Unreachable {
            mark_unknown: !all_unknown,
        };
    }
    match condition_status(node, "Ready") {
        Some("False") => NodeHealth::NotReady,
        Some("Unknown") => NodeHealth::Unreachable {
            mark_unknown: false,
        },
        _ => NodeHealth::Ready,
    }
}

/// The node's conditions with the agent's ones set to Unknown (Kubernetes' words:
/// `NodeStatusUnknown`, "Kubelet stopped posting node status."; conditions never posted get
/// `NodeStatusNeverUpdated`). Heartbeat times are kept; transition times become `now`.
pub fn unknown_conditions(node: &Node, now: Timestamp) -> Vec<NodeCondition> {
    let mut conditions: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for type_ in AGENT_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
            }
            None => conditions.push(NodeCondition {
                type_: type_.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(Time(now)),
            }),
        }
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeStatus;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn node(conditions: &[(&str, &str)]) -> Node {
        Node {
            status: Some(NodeStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| NodeCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const GRACE: Duration = Duration::from_secs(10);

    #[test]
    fn fresh_heartbeat_follows_ready_condition() {
        assert_eq!(
            assess(&node(&[("Ready", "True")]), at(95), at(100), GRACE),
            NodeHealth::Ready
        );
        assert_eq!(
            assess(&node(&[("Ready", "False")]), at(95), at(100), GRACE),
            NodeHealth::NotReady
        );
        assert_eq!(
            assess(&node(&[]), at(95), at(100), GRACE),
            NodeHealth::Ready,
            "a node that has not reported yet is not punished"
        );
        assert_eq!(
            assess(&node(&[("Ready", "Unknown")]), at(95), at(100), GRACE),
            NodeHealth::Unreachable {
                mark_unknown: false
            },
            "a renewed lease alone does not clear Unknown: the agent must post Ready"
        );
    }

    #[test]
    fn stale_heartbeat_is_unreachable_until_marked() {
        assert_eq!(
            assess(&node(&[("Ready", "True")]), at(89), at(100), GRACE),
            NodeHealth::Unreachable { mark_unknown: true }
        );
        assert_eq!(
            assess(&node(&[("Ready", "True")]), at(90), at(100), GRACE),
            NodeHealth::Ready,
            "exactly the grace period is still fine"
        );
        let all_unknown = node(&[
            ("Ready", "Unknown"),
            ("MemoryPressure", "Unknown"),
            ("DiskPressure", "Unknown"),
            ("PIDPressure", "Unknown"),
        ]);
        assert_eq!(
            assess(&all_unknown, at(0), at(100), GRACE),
            NodeHealth::Unreachable {
                mark_unknown: false
            }
        );
    }

    #[test]
    fn heartbeats_measure_on_the_managers_clock() {
        let mut h = Heartbeats::default();
        let old = (Some(at(1)), None);
        assert_eq!(h.observe("n1", old, at(100)), at(100), "first sight counts");
        assert_eq!(h.observe("n1", old, at(150)), at(100), "no change, no beat");
        let renewed = (Some(at(2)), None);
        assert_eq!(h.observe("n1", renewed, at(160)), at(160));
        h.retain(&BTreeSet::new());
        assert_eq!(h.observe("n1", renewed, at(170)), at(170));
    }

    #[test]
    fn unknown_conditions_keep_heartbeats_and_fill_missing_ones() {
        let mut n = node(&[("Ready", "True"), ("DiskPressure", "False")]);
        if let Some(c) = n.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            c[0].last_heartbeat_time = Some(Time(at(5)));
        }
        let out = unknown_conditions(&n, at(100));
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|c| c.status == "Unknown"));
        assert_eq!(out[0].reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            out[0].message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(out[0].last_heartbeat_time, Some(Time(at(5))));
        assert_eq!(out[0].last_transition_time, Some(Time(at(100))));
        let mem = out.iter().find(|c| c.type_ == "MemoryPressure").unwrap();
        assert_eq!(mem.reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }
}
