//! NodeAffinity: `nodeSelector` and required node affinity (matchExpressions and matchFields)
//! filter nodes; preferred node affinity scores them by the weights of the terms they match.

use crate::framework::{
    FilterPlugin, NodeFilter, NodeScorer, Normalize, Reason, ScorePlugin, Status,
};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct NodeAffinity;

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeFilter<'a>> {
        if pod.node_selector.is_empty() && pod.required_node_affinity.is_none() {
            return None;
        }
        Some(Box::new(move |node| {
            if pod.matches_node_selection(&node.name, &node.labels) {
                Status::Fit
            } else {
                Status::Unschedulable(Reason::NodeAffinity)
            }
        }))
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    /// Raw score: the sum of the weights of the preferred terms the node matches.
    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeScorer<'a>> {
        if pod.preferred_node_affinity.is_empty() {
            return None;
        }
        Some(NodeScorer {
            score: Box::new(move |node| {
                pod.preferred_node_affinity
                    .iter()
                    .filter(|(_, term)| term.matches(&node.name, &node.labels))
                    .map(|(weight, _)| *weight)
                    .sum()
            }),
            normalize: Normalize::Max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::plugins::testing::{filter, score, snapshot};

    fn nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            NodeBuilder::new("a")
                .label("disk", "ssd")
                .label("cores", "32")
                .build(),
            NodeBuilder::new("b")
                .label("disk", "hdd")
                .label("cores", "4")
                .build(),
        ]
    }

    const MISMATCH: Status = Status::Unschedulable(Reason::NodeAffinity);

    #[test]
    fn node_selector_must_match_every_label() {
        let s = snapshot(&nodes(), &[]);
        let pod = PodBuilder::new("p").node_selector("disk", "ssd").build();
        assert_eq!(filter(&NodeAffinity, &pod, &s), [Status::Fit, MISMATCH]);
    }

    #[test]
    fn required_affinity_supports_set_and_numeric_operators() {
        let s = snapshot(&nodes(), &[]);
        let gt = PodBuilder::new("p")
            .node_affinity("cores", "Gt", &["8"])
            .build();
        assert_eq!(filter(&NodeAffinity, &gt, &s), [Status::Fit, MISMATCH]);
        let not_in = PodBuilder::new("p")
            .node_affinity("disk", "NotIn", &["ssd"])
            .build();
        assert_eq!(filter(&NodeAffinity, &not_in, &s), [MISMATCH, Status::Fit]);
        let absent = PodBuilder::new("p")
            .node_affinity("gpu", "DoesNotExist", &[])
            .build();
        assert_eq!(
            filter(&NodeAffinity, &absent, &s),
            [Status::Fit, Status::Fit]
        );
    }

    #[test]
    fn daemonset_style_pinning_by_node_name() {
        let s = snapshot(&nodes(), &[]);
        let pod = PodBuilder::new("p").pin_to_node("b").build();
        assert_eq!(filter(&NodeAffinity, &pod, &s), [MISMATCH, Status::Fit]);
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let s = snapshot(&nodes(), &[]);
        let pod = PodBuilder::new("p")
            .preferred_node_affinity(10, "disk", "hdd")
            .preferred_node_affinity(30, "disk", "ssd")
            .build();
        assert_eq!(score(&NodeAffinity, &pod, &s), Some(vec![100, 33]));
        assert_eq!(
            score(&NodeAffinity, &PodBuilder::new("q").build(), &s),
            None
        );
    }
}
