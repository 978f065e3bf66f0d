//! PodTopologySpread: `DoNotSchedule` constraints filter out nodes whose domain already holds
//! `maxSkew` more matching pods than the emptiest domain; `ScheduleAnyway` constraints — and,
//! in the spread profile, replicas of one controller across nodes — prefer emptier domains.

use std::sync::Arc;

use crate::framework::{
    FilterPlugin, NodeFilter, NodeScorer, Normalize, Reason, ScorePlugin, Status,
};
use crate::pod_info::PodInfo;
use crate::pod_terms::SpreadConstraint;
use crate::snapshot::Snapshot;
use crate::snapshot::domain_counts::{
    DomainCounts, DomainKey, NodeEligibility, NodeSelection, PodMatcher,
};

pub struct PodTopologySpread {
    /// Score pods with a controller and no constraints of their own as if they had a soft
    /// constraint on hostname over their siblings (Kubernetes' default constraints).
    pub default_spread: bool,
}

/// Matching pods per domain of one constraint, over the nodes that count for it: nodes with all
/// of `keys`, matching the pod's node affinity and tolerated taints when the policy says so.
/// The snapshot keeps these counts between decisions.
fn domain_counts(
    pod: &PodInfo,
    c: &SpreadConstraint,
    keys: &[String],
    snapshot: &Snapshot,
) -> Arc<DomainCounts> {
    snapshot.domain_counts(DomainKey {
        pods: PodMatcher::Spread {
            namespace: pod.namespace.clone(),
            selector: c.selector.clone(),
        },
        topology_key: c.topology_key.clone(),
        nodes: NodeEligibility {
            keys: keys.to_vec(),
            node_selection: c.honor_node_affinity.then(|| NodeSelection::of(pod)),
            tolerations: c.honor_node_taints.then(|| pod.tolerations.clone()),
        },
    })
}

struct Hard<'a> {
    constraint: &'a SpreadConstraint,
    counts: Arc<DomainCounts>,
    min: i64,
    self_match: i64,
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let hard: Vec<&SpreadConstraint> =
            pod.spread_constraints.iter().filter(|c| c.hard).collect();
        if hard.is_empty() {
            return None;
        }
        let keys: Vec<String> = hard.iter().map(|c| c.topology_key.clone()).collect();
        let states: Vec<Hard<'a>> = hard
            .into_iter()
            .map(|c| {
                let counts = domain_counts(pod, c, &keys, snapshot);
                let too_few = c
                    .min_domains
                    .is_some_and(|m| i64::try_from(counts.domains()).unwrap_or(i64::MAX) < m);
                let min = if too_few {
                    0
                } else {
                    counts.min().unwrap_or(0)
                };
                let self_match =
                    i64::from(c.selector.as_ref().is_some_and(|s| s.matches(&pod.labels)));
                Hard {
                    constraint: c,
                    counts,
                    min,
                    self_match,
                }
            })
            .collect();
        Some(Box::new(move |node| {
            for h in &states {
                let Some(value) = node.topology_value(&h.constraint.topology_key) else {
                    return Status::Unschedulable(Reason::TopologySpreadMissingLabel);
                };
                let matching = h.counts.pods_in(value);
                if matching + h.self_match - h.min > h.constraint.max_skew {
                    return Status::Unschedulable(Reason::TopologySpread);
                }
            }
            Status::Fit
        }))
    }
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    /// Raw score: matching pods in the node's domains (fewer is better); nodes outside a
    /// constraint's topology score 0.
    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeScorer<'a>> {
        let soft: Vec<&SpreadConstraint> =
            pod.spread_constraints.iter().filter(|c| !c.hard).collect();
        let owner = match (
            &pod.owner,
            self.default_spread && pod.spread_constraints.is_empty(),
        ) {
            (Some(owner), true) => Some(&**owner),
            _ => None,
        };
        if soft.is_empty() && owner.is_none() {
            return None;
        }
        let keys: Vec<String> = soft.iter().map(|c| c.topology_key.clone()).collect();
        let counted: Vec<(&str, Arc<DomainCounts>)> = soft
            .iter()
            .map(|c| {
                (
                    c.topology_key.as_str(),
                    domain_counts(pod, c, &keys, snapshot),
                )
            })
            .collect();
        Some(NodeScorer {
            score: Box::new(move |node| {
                let mut raw = 0;
                for (key, counts) in &counted {
                    match node.topology_value(key) {
                        Some(v) => raw += counts.pods_in(v),
                        None => return -1,
                    }
                }
                if let Some(owner) = owner {
                    raw += i64::from(node.owner_counts.get(owner).copied().unwrap_or(0));
                }
                raw
            }),
            normalize: Normalize::Spread,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::node_info::HOSTNAME_LABEL;
    use crate::plugins::testing::{filter, score, snapshot};

    fn web(name: &str, node: &str) -> k8s_openapi::api::core::v1::Pod {
        PodBuilder::new(name)
            .label("app", "web")
            .node_name(node)
            .build()
    }

    #[test]
    fn hard_constraint_keeps_the_skew_within_max_skew() {
        let nodes = [
            NodeBuilder::new("a").build(),
            NodeBuilder::new("b").build(),
            NodeBuilder::new("c").build(),
        ];
        let s = snapshot(&nodes, &[web("w1", "a"), web("w2", "a"), web("w3", "b")]);
        let pod = PodBuilder::new("w4")
            .label("app", "web")
            .spread(1, HOSTNAME_LABEL, "app", "web", true)
            .build();
        let skew = Status::Unschedulable(Reason::TopologySpread);
        // min is 0 (c): a would reach skew 3, b skew 2, c skew 1.
        assert_eq!(
            filter(
                &PodTopologySpread {
                    default_spread: false
                },
                &pod,
                &s
            ),
            [skew.clone(), skew, Status::Fit]
        );
    }

    #[test]
    fn nodes_without_the_topology_label_are_rejected_with_their_own_reason() {
        let nodes = [
            NodeBuilder::new("a").label("zone", "z1").build(),
            NodeBuilder::new("b").build(),
        ];
        let s = snapshot(&nodes, &[]);
        let pod = PodBuilder::new("w")
            .label("app", "web")
            .spread(1, "zone", "app", "web", true)
            .build();
        assert_eq!(
            filter(
                &PodTopologySpread {
                    default_spread: false
                },
                &pod,
                &s
            ),
            [
                Status::Fit,
                Status::Unschedulable(Reason::TopologySpreadMissingLabel)
            ]
        );
    }

    #[test]
    fn soft_constraint_prefers_emptier_domains() {
        let nodes = [
            NodeBuilder::new("a").build(),
            NodeBuilder::new("b").build(),
            NodeBuilder::new("c").build(),
        ];
        let s = snapshot(&nodes, &[web("w1", "a"), web("w2", "a"), web("w3", "b")]);
        let pod = PodBuilder::new("w4")
            .label("app", "web")
            .spread(1, HOSTNAME_LABEL, "app", "web", false)
            .build();
        let plugin = PodTopologySpread {
            default_spread: false,
        };
        assert_eq!(
            filter(&plugin, &pod, &s),
            [Status::Fit, Status::Fit, Status::Fit]
        );
        assert_eq!(score(&plugin, &pod, &s), Some(vec![0, 50, 100]));
    }

    #[test]
    fn replicas_of_one_controller_spread_by_default() {
        let nodes = [NodeBuilder::new("a").build(), NodeBuilder::new("b").build()];
        let sibling = PodBuilder::new("r1").owner("rs-1").node_name("a").build();
        let s = snapshot(&nodes, &[sibling]);
        let pod = PodBuilder::new("r2").owner("rs-1").build();
        assert_eq!(
            score(
                &PodTopologySpread {
                    default_spread: true
                },
                &pod,
                &s
            ),
            Some(vec![0, 100])
        );
        assert_eq!(
            score(
                &PodTopologySpread {
                    default_spread: false
                },
                &pod,
                &s
            ),
            None
        );
    }
}
