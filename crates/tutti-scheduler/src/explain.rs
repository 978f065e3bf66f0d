//! Explaining a pod that fits nowhere: reasons tallied over the nodes and summarised the way
//! kube-scheduler does (`0/3 nodes are available: 1 node(s) didn't match Pod's node
//! affinity/selector, 2 Insufficient memory.`) — counts per message, sorted as strings.

use std::collections::BTreeMap;

use crate::framework::Reason;

/// What kube-scheduler says when the cluster has no node at all.
pub const NO_NODES_MESSAGE: &str = "no nodes available to schedule pods";

/// Reasons tallied over the nodes that were rejected.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    reasons: Vec<(Reason, usize)>,
}

impl Diagnosis {
    /// Counts one node rejected for `reason`.
    pub fn add(&mut self, reason: &Reason) {
        match self.reasons.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => self.reasons.push((reason.clone(), 1)),
        }
    }

    /// How many nodes each message applies to (a node short of cpu and memory counts for both).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (reason, n) in &self.reasons {
            for message in reason.messages() {
                *out.entry(message.into_owned()).or_insert(0) += n;
            }
        }
        out
    }

    /// Kubernetes' `FitError` message for a cluster of `nodes` nodes: `"<count> <message>"`
    /// entries sorted as strings, joined with `, `.
    pub fn summary(&self, nodes: usize) -> String {
        if nodes == 0 {
            return NO_NODES_MESSAGE.to_string();
        }
        let mut entries: Vec<String> = self
            .counts()
            .into_iter()
            .map(|(m, n)| format!("{n} {m}"))
            .collect();
        entries.sort();
        let mut out = format!("0/{nodes} nodes are available");
        if !entries.is_empty() {
            out.push_str(": ");
            out.push_str(&entries.join(", "));
            out.push('.');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Shortfall;

    #[test]
    fn reasons_are_counted_and_sorted_like_kube_scheduler() {
        let mut d = Diagnosis::default();
        let memory = Reason::Insufficient(Shortfall {
            pods: false,
            cpu: false,
            memory: true,
        });
        d.add(&memory);
        d.add(&Reason::NodeAffinity);
        d.add(&memory);
        assert_eq!(
            d.summary(3),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
        );
    }

    #[test]
    fn a_node_short_of_two_resources_counts_for_both() {
        let mut d = Diagnosis::default();
        d.add(&Reason::Insufficient(Shortfall {
            pods: false,
            cpu: true,
            memory: true,
        }));
        d.add(&Reason::Insufficient(Shortfall {
            pods: false,
            cpu: true,
            memory: false,
        }));
        assert_eq!(
            d.summary(2),
            "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."
        );
    }

    #[test]
    fn an_empty_cluster_says_so() {
        assert_eq!(
            Diagnosis::default().summary(0),
            "no nodes available to schedule pods"
        );
    }
}
