//! The filters and scorers as they were before the snapshot kept counts: every decision counts
//! from every node. Tests run them beside the plugins to show that the kept counts give the same
//! verdicts and scores, whatever happened to the snapshot since the counts were built.

use std::collections::{HashMap, HashSet};

use crate::framework::{
    FilterPlugin, NodeFilter, NodeScorer, Normalize, Reason, ScorePlugin, Status,
};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::pod_terms::{AffinityTerm, SpreadConstraint};
use crate::snapshot::Snapshot;
use crate::taints::tolerated;

pub struct RecountSpread {
    /// Score pods with a controller and no constraints of their own as if they had a soft
    /// constraint on hostname over their siblings (Kubernetes' default constraints).
    pub default_spread: bool,
}

/// Matching pods per domain of one constraint, over the nodes that count for it: nodes with all
/// of `keys`, matching the pod's node affinity and tolerated taints when the policy says so.
fn domain_counts<'a>(
    pod: &PodInfo,
    c: &SpreadConstraint,
    keys: &[&str],
    snapshot: &'a Snapshot,
) -> HashMap<&'a str, i64> {
    let mut counts = HashMap::new();
    for node in snapshot.nodes() {
        if keys.iter().any(|k| node.topology_value(k).is_none()) {
            continue;
        }
        if c.honor_node_affinity && !pod.matches_node_selection(&node.name, &node.labels) {
            continue;
        }
        if c.honor_node_taints && !tolerates_node(pod, node) {
            continue;
        }
        let Some(value) = node.topology_value(&c.topology_key) else {
            continue;
        };
        let n = node
            .pods
            .iter()
            .filter(|p| c.counts(&pod.namespace, p))
            .count();
        *counts.entry(value).or_insert(0) += i64::try_from(n).unwrap_or(i64::MAX);
    }
    counts
}

fn tolerates_node(pod: &PodInfo, node: &NodeInfo) -> bool {
    node.taints
        .iter()
        .all(|t| !t.effect.blocks_scheduling() || tolerated(&pod.tolerations, t))
}

struct Hard<'a> {
    constraint: &'a SpreadConstraint,
    counts: HashMap<&'a str, i64>,
    min: i64,
    self_match: i64,
}

impl FilterPlugin for RecountSpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let hard: Vec<&SpreadConstraint> =
            pod.spread_constraints.iter().filter(|c| c.hard).collect();
        if hard.is_empty() {
            return None;
        }
        let keys: Vec<&str> = hard.iter().map(|c| c.topology_key.as_str()).collect();
        let states: Vec<Hard<'a>> = hard
            .into_iter()
            .map(|c| {
                let counts = domain_counts(pod, c, &keys, snapshot);
                let too_few = c.min_domains.is_some_and(|m| (counts.len() as i64) < m);
                let min = if too_few {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
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
                let matching = h.counts.get(value).copied().unwrap_or(0);
                if matching + h.self_match - h.min > h.constraint.max_skew {
                    return Status::Unschedulable(Reason::TopologySpread);
                }
            }
            Status::Fit
        }))
    }
}

impl ScorePlugin for RecountSpread {
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
        let keys: Vec<&str> = soft.iter().map(|c| c.topology_key.as_str()).collect();
        let counted: Vec<(&str, HashMap<&'a str, i64>)> = soft
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
                        Some(v) => raw += counts.get(v).copied().unwrap_or(0),
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

pub struct RecountInterPodAffinity;

/// (topology key, value) pairs.
type Domains<'a> = HashSet<(&'a str, &'a str)>;

struct State<'a> {
    /// Domains holding a pod that matches all of the incoming pod's affinity terms.
    affinity: Domains<'a>,
    /// The incoming pod matches its own affinity terms (it may be the first of its group).
    self_affinity: bool,
    /// Domains holding a pod the incoming pod's anti-affinity terms match.
    anti_affinity: Domains<'a>,
    /// Domains whose placed pods' anti-affinity terms match the incoming pod.
    existing_anti_affinity: Domains<'a>,
}

fn in_domains(
    node: &crate::node_info::NodeInfo,
    terms: &[AffinityTerm],
    domains: &Domains<'_>,
) -> bool {
    terms.iter().any(|t| {
        node.topology_value(&t.topology_key)
            .is_some_and(|v| domains.contains(&(t.topology_key.as_str(), v)))
    })
}

impl FilterPlugin for RecountInterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let mut state = State {
            affinity: Domains::new(),
            self_affinity: pod.required_affinity.iter().all(|t| t.matches(pod)),
            anti_affinity: Domains::new(),
            existing_anti_affinity: Domains::new(),
        };
        for (node, existing) in snapshot.anti_affinity_pods() {
            for term in existing
                .required_anti_affinity
                .iter()
                .filter(|t| t.matches(pod))
            {
                if let Some(v) = node.topology_value(&term.topology_key) {
                    state.existing_anti_affinity.insert((&term.topology_key, v));
                }
            }
        }
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if own_terms {
            for node in snapshot.nodes() {
                for existing in &node.pods {
                    if !pod.required_affinity.is_empty()
                        && pod.required_affinity.iter().all(|t| t.matches(existing))
                    {
                        for t in &pod.required_affinity {
                            if let Some(v) = node.topology_value(&t.topology_key) {
                                state.affinity.insert((&t.topology_key, v));
                            }
                        }
                    }
                    for t in pod
                        .required_anti_affinity
                        .iter()
                        .filter(|t| t.matches(existing))
                    {
                        if let Some(v) = node.topology_value(&t.topology_key) {
                            state.anti_affinity.insert((&t.topology_key, v));
                        }
                    }
                }
            }
        }
        if !own_terms && state.existing_anti_affinity.is_empty() {
            return None;
        }
        Some(Box::new(move |node| {
            if !pod.required_affinity.is_empty() {
                let has_labels = pod
                    .required_affinity
                    .iter()
                    .all(|t| node.topology_value(&t.topology_key).is_some());
                let all_present = pod.required_affinity.iter().all(|t| {
                    node.topology_value(&t.topology_key)
                        .is_some_and(|v| state.affinity.contains(&(t.topology_key.as_str(), v)))
                });
                let first_of_group = state.affinity.is_empty() && state.self_affinity;
                if !has_labels || !(all_present || first_of_group) {
                    return Status::Unschedulable(Reason::PodAffinity);
                }
            }
            if in_domains(node, &pod.required_anti_affinity, &state.anti_affinity) {
                return Status::Unschedulable(Reason::PodAntiAffinity);
            }
            let repelled = state
                .existing_anti_affinity
                .iter()
                .any(|(k, v)| node.topology_value(k) == Some(*v));
            if repelled {
                return Status::Unschedulable(Reason::ExistingPodsAntiAffinity);
            }
            Status::Fit
        }))
    }
}

#[cfg(test)]
mod tests;
