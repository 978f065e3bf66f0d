//! Which nodes a DaemonSet's pods belong on (Kubernetes' `NodeShouldRunDaemonPod`): the
//! template's `nodeName`, `nodeSelector` and required node affinity must match, and the
//! node's taints must be tolerated — with the tolerations every daemon pod gets by default,
//! so daemons keep running on not-ready, unreachable, pressured and cordoned nodes.

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Toleration,
};

use crate::node_lifecycle::taints::{
    DISK_PRESSURE, MEMORY_PRESSURE, NETWORK_UNAVAILABLE, NO_EXECUTE, NO_SCHEDULE, NOT_READY,
    PID_PRESSURE, UNREACHABLE, UNSCHEDULABLE, tolerated,
};

/// Whether a daemon pod should be on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeFit {
    /// A pod should be created here if there is none.
    pub should_run: bool,
    /// A pod already here may stay (new NoSchedule taints do not evict daemons).
    pub should_continue_running: bool,
}

const NOWHERE: NodeFit = NodeFit {
    should_run: false,
    should_continue_running: false,
};

/// The field a node-name `matchFields` requirement refers to.
pub const NODE_NAME_FIELD: &str = "metadata.name";

fn exists(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    }
}

/// The template's tolerations plus the ones every daemon pod gets (Kubernetes'
/// `AddOrUpdateDaemonPodTolerations`), none of them time-limited.
pub fn daemon_tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let mut out = spec.tolerations.clone().unwrap_or_default();
    let mut defaults = vec![
        exists(NOT_READY, NO_EXECUTE),
        exists(UNREACHABLE, NO_EXECUTE),
        exists(DISK_PRESSURE, NO_SCHEDULE),
        exists(MEMORY_PRESSURE, NO_SCHEDULE),
        exists(PID_PRESSURE, NO_SCHEDULE),
        exists(UNSCHEDULABLE, NO_SCHEDULE),
    ];
    if spec.host_network == Some(true) {
        defaults.push(exists(NETWORK_UNAVAILABLE, NO_SCHEDULE));
    }
    for d in defaults {
        let present = out
            .iter()
            .any(|t| t.key == d.key && t.effect == d.effect && t.operator == d.operator);
        if !present {
            out.push(d);
        }
    }
    out
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(want)) = (
                value.and_then(number),
                values.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                have > want
            } else {
                have < want
            }
        }
        _ => false,
    }
}

/// A node selector term: every expression (on labels) and field (only `metadata.name`)
/// must match; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs.iter().all(|r| {
        let value = labels.and_then(|l| l.get(&r.key)).map(String::as_str);
        requirement_matches(r, value)
    }) && fields.iter().all(|r| {
        let value = (r.key == NODE_NAME_FIELD)
            .then_some(node.metadata.name.as_deref())
            .flatten();
        requirement_matches(r, value)
    })
}

/// Decide whether the template's pod belongs on the node.
pub fn node_fit(spec: &PodSpec, node: &Node) -> NodeFit {
    let name = node.metadata.name.as_deref().unwrap_or("");
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return NOWHERE;
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity_ok = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|sel| {
            sel.node_selector_terms
                .iter()
                .any(|t| term_matches(t, node))
        });
    if !selector_ok || !affinity_ok {
        return NOWHERE;
    }
    let tolerations = daemon_tolerations(spec);
    let mut fit = NodeFit {
        should_run: true,
        should_continue_running: true,
    };
    for taint in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
    {
        if taint.effect != NO_SCHEDULE && taint.effect != NO_EXECUTE {
            continue;
        }
        if !tolerated(&tolerations, taint) {
            fit.should_run = false;
            if taint.effect == NO_EXECUTE {
                fit.should_continue_running = false;
            }
        }
    }
    fit
}

/// The node a daemon pod is for: its `nodeName` once bound, else the node its required
/// affinity pins it to (Kubernetes' `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| {
            r.key == NODE_NAME_FIELD
                && r.operator == "In"
                && r.values.as_ref().is_some_and(|v| v.len() == 1)
        })
        .and_then(|r| r.values.as_ref()?.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity, NodeSelector, NodeSpec, Taint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(k, e)| Taint {
                            key: k.to_string(),
                            effect: e.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn requirement(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn with_affinity(terms: Vec<NodeSelectorTerm>) -> PodSpec {
        PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const RUN: NodeFit = NodeFit {
        should_run: true,
        should_continue_running: true,
    };

    #[test]
    fn node_selector_must_match() {
        let spec = PodSpec {
            node_selector: Some(BTreeMap::from([("disk".to_string(), "ssd".to_string())])),
            ..Default::default()
        };
        assert_eq!(node_fit(&spec, &node("a", &[("disk", "ssd")], &[])), RUN);
        assert_eq!(
            node_fit(&spec, &node("b", &[("disk", "hdd")], &[])),
            NOWHERE
        );
        assert_eq!(node_fit(&spec, &node("c", &[], &[])), NOWHERE);
    }

    #[test]
    fn required_affinity_terms_are_ored_and_requirements_anded() {
        let spec = with_affinity(vec![
            NodeSelectorTerm {
                match_expressions: Some(vec![
                    requirement("zone", "In", &["a", "b"]),
                    requirement("gpu", "DoesNotExist", &[]),
                ]),
                match_fields: None,
            },
            NodeSelectorTerm {
                match_expressions: Some(vec![requirement("cores", "Gt", &["16"])]),
                match_fields: None,
            },
        ]);
        assert_eq!(node_fit(&spec, &node("a", &[("zone", "a")], &[])), RUN);
        assert_eq!(
            node_fit(&spec, &node("b", &[("zone", "a"), ("gpu", "1")], &[])),
            NOWHERE
        );
        assert_eq!(
            node_fit(&spec, &node("c", &[("zone", "c"), ("cores", "32")], &[])),
            RUN
        );
        assert_eq!(node_fit(&spec, &node("d", &[("cores", "8")], &[])), NOWHERE);
        let by_name = with_affinity(vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement(NODE_NAME_FIELD, "NotIn", &["x"])]),
        }]);
        assert_eq!(node_fit(&by_name, &node("y", &[], &[])), RUN);
        assert_eq!(node_fit(&by_name, &node("x", &[], &[])), NOWHERE);
        let empty = with_affinity(vec![NodeSelectorTerm::default()]);
        assert_eq!(
            node_fit(&empty, &node("y", &[], &[])),
            NOWHERE,
            "an empty term matches nothing"
        );
    }

    #[test]
    fn taints_need_tolerations_but_daemons_tolerate_node_problems() {
        let spec = PodSpec::default();
        for (key, effect) in [
            (UNREACHABLE, NO_EXECUTE),
            (NOT_READY, NO_EXECUTE),
            (UNSCHEDULABLE, NO_SCHEDULE),
            (DISK_PRESSURE, NO_SCHEDULE),
        ] {
            assert_eq!(
                node_fit(&spec, &node("a", &[], &[(key, effect)])),
                RUN,
                "{key}"
            );
        }
        assert_eq!(
            node_fit(&spec, &node("a", &[], &[("dedicated", NO_SCHEDULE)])),
            NodeFit {
                should_run: false,
                should_continue_running: true
            },
            "a new NoSchedule taint does not evict a running daemon"
        );
        assert_eq!(
            node_fit(&spec, &node("a", &[], &[("dedicated", NO_EXECUTE)])),
            NOWHERE
        );
        assert_eq!(
            node_fit(&spec, &node("a", &[], &[("soft", "PreferNoSchedule")])),
            RUN
        );
        let tolerant = PodSpec {
            tolerations: Some(vec![Toleration {
                key: Some("dedicated".into()),
                operator: Some("Exists".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            node_fit(&tolerant, &node("a", &[], &[("dedicated", NO_EXECUTE)])),
            RUN
        );
    }

    #[test]
    fn default_tolerations_are_added_once() {
        let spec = PodSpec {
            tolerations: Some(vec![exists(UNREACHABLE, NO_EXECUTE)]),
            host_network: Some(true),
            ..Default::default()
        };
        let t = daemon_tolerations(&spec);
        assert_eq!(t.len(), 7);
        assert_eq!(
            t.iter()
                .filter(|t| t.key.as_deref() == Some(UNREACHABLE))
                .count(),
            1
        );
        assert!(t.iter().all(|t| t.toleration_seconds.is_none()));
    }

    #[test]
    fn target_node_from_binding_or_affinity() {
        let mut pod = Pod {
            spec: Some(with_affinity(vec![NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![requirement(NODE_NAME_FIELD, "In", &["n1"])]),
            }])),
            ..Default::default()
        };
        assert_eq!(target_node(&pod), Some("n1".into()));
        if let Some(s) = pod.spec.as_mut() {
            s.node_name = Some("n2".into());
        }
        assert_eq!(target_node(&pod), Some("n2".into()));
        assert_eq!(target_node(&Pod::default()), None);
    }
}
