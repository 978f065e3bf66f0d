//! Where placed pods with required anti-affinity keep other pods out: per distinct term, the
//! topology domains holding a pod with that term. Pods of one controller share their terms, so
//! a thousand such pods are usually a handful of terms: an incoming pod is matched against each
//! term once, and a node is checked with one look-up per matching term.

use std::collections::HashMap;

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::pod_terms::AffinityTerm;

use super::domain_counts::Direction;

/// One anti-affinity term and the domains (values of its topology key) of the placed pods that
/// carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AntiAffinityTerm {
    pub term: AffinityTerm,
    /// Domain value → pods carrying the term there.
    domains: HashMap<Box<str>, u32>,
    /// How often the term is carried by pods on known nodes, with or without the topology key.
    pods: u32,
}

impl AntiAffinityTerm {
    /// Whether a pod carrying the term sits in the node's domain (so a pod the term matches must
    /// not go there).
    pub fn covers(&self, node: &NodeInfo) -> bool {
        node.topology_value(&self.term.topology_key)
            .is_some_and(|v| self.domains.contains_key(v))
    }

    /// Whether any such pod sits on a node with the topology key.
    pub fn has_domains(&self) -> bool {
        !self.domains.is_empty()
    }
}

/// The required anti-affinity terms of the pods on the snapshot's nodes (pods waiting for an
/// unknown node are not counted, as they are not on any node yet).
#[derive(Clone, Debug, Default)]
pub(crate) struct AntiAffinityIndex {
    terms: Vec<AntiAffinityTerm>,
}

impl AntiAffinityIndex {
    /// Indexes from scratch.
    #[cfg(test)]
    pub(crate) fn build(nodes: &[NodeInfo]) -> AntiAffinityIndex {
        let mut index = AntiAffinityIndex::default();
        for node in nodes {
            index.node_changed(node, Direction::In);
        }
        index
    }

    pub(crate) fn terms(&self) -> &[AntiAffinityTerm] {
        &self.terms
    }

    /// A node joins (with its pods) or leaves.
    pub(crate) fn node_changed(&mut self, node: &NodeInfo, direction: Direction) {
        if node.anti_affinity_pods == 0 {
            return;
        }
        for pod in &node.pods {
            self.pod_changed(node, pod, direction);
        }
    }

    /// A pod is placed on (or leaves) a known node.
    pub(crate) fn pod_changed(&mut self, node: &NodeInfo, pod: &PodInfo, direction: Direction) {
        for term in &pod.required_anti_affinity {
            let at = match self.terms.iter().position(|t| t.term == *term) {
                Some(at) => at,
                None if direction == Direction::In => {
                    self.terms.push(AntiAffinityTerm {
                        term: term.clone(),
                        domains: HashMap::new(),
                        pods: 0,
                    });
                    self.terms.len() - 1
                }
                None => continue,
            };
            let entry = &mut self.terms[at];
            let value = node.topology_value(&term.topology_key);
            match direction {
                Direction::In => {
                    entry.pods += 1;
                    if let Some(v) = value {
                        *entry.domains.entry(v.into()).or_default() += 1;
                    }
                }
                Direction::Out => {
                    entry.pods = entry.pods.saturating_sub(1);
                    if let Some(v) = value
                        && let Some(n) = entry.domains.get_mut(v)
                    {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            entry.domains.remove(v);
                        }
                    }
                    if entry.pods == 0 {
                        self.terms.swap_remove(at);
                    }
                }
            }
        }
    }

    /// The index in an order-independent form, for tests that compare it with a rebuild.
    #[cfg(test)]
    pub(crate) fn normalized(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let domains: std::collections::BTreeMap<&str, u32> =
                    t.domains.iter().map(|(v, n)| (&**v, *n)).collect();
                format!("{:?}: {} pods, {domains:?}", t.term, t.pods)
            })
            .collect();
        out.sort();
        out
    }
}
