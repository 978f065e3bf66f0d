//! TaintToleration: a node's NoSchedule and NoExecute taints (including the one a not-ready
//! node is given) keep off pods that do not tolerate them; PreferNoSchedule taints only lower
//! the node's score.

use crate::framework::{
    FilterPlugin, NodeFilter, NodeScorer, Normalize, Reason, ScorePlugin, Status,
};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;
use crate::taints::{Effect, tolerated};

pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeFilter<'a>> {
        Some(Box::new(move |node| {
            let untolerated = node
                .taints
                .iter()
                .find(|t| t.effect.blocks_scheduling() && !tolerated(&pod.tolerations, t));
            match untolerated {
                Some(t) => {
                    tracing::trace!(node = %node.name, pod = %pod.key, taint = %t.key, "untolerated taint");
                    Status::Unschedulable(Reason::UntoleratedTaint {
                        key: t.key.clone(),
                        value: t.value.clone(),
                    })
                }
                None => Status::Fit,
            }
        }))
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    /// Raw score: how many PreferNoSchedule taints the pod does not tolerate (fewer is better).
    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeScorer<'a>> {
        let tolerations: Vec<_> = pod
            .tolerations
            .iter()
            .filter(|t| t.effect.is_none_or(|e| e == Effect::PreferNoSchedule))
            .cloned()
            .collect();
        Some(NodeScorer {
            score: Box::new(move |node| {
                let n = node
                    .taints
                    .iter()
                    .filter(|t| {
                        t.effect == Effect::PreferNoSchedule
                            && !tolerations.iter().any(|tol| tol.tolerates(t))
                    })
                    .count();
                i64::try_from(n).unwrap_or(i64::MAX)
            }),
            normalize: Normalize::ReverseMax,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::plugins::testing::{filter, score, snapshot};

    #[test]
    fn untolerated_taints_name_the_taint() {
        let s = snapshot(
            &[NodeBuilder::new("a")
                .taint("dedicated", "gpu", "NoSchedule")
                .build()],
            &[],
        );
        let plain = PodBuilder::new("p").build();
        assert_eq!(
            filter(&TaintToleration, &plain, &s)[0].clone(),
            Status::Unschedulable(Reason::UntoleratedTaint {
                key: "dedicated".into(),
                value: "gpu".into()
            })
        );
        let tolerant = PodBuilder::new("p")
            .toleration("dedicated", "Equal", "gpu", "NoSchedule")
            .build();
        assert_eq!(filter(&TaintToleration, &tolerant, &s), [Status::Fit]);
    }

    #[test]
    fn not_ready_nodes_are_kept_off_unless_the_pod_stays_there_for_good() {
        let s = snapshot(&[NodeBuilder::new("a").ready("Unknown").build()], &[]);
        let plain = PodBuilder::new("p").build();
        assert_eq!(
            filter(&TaintToleration, &plain, &s)[0].to_string_reason(),
            "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"
        );
        let daemon = PodBuilder::new("p")
            .toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute")
            .build();
        assert_eq!(filter(&TaintToleration, &daemon, &s), [Status::Fit]);
        let everything = PodBuilder::new("p")
            .toleration("", "Exists", "", "")
            .build();
        assert_eq!(filter(&TaintToleration, &everything, &s), [Status::Fit]);
    }

    #[test]
    fn prefer_no_schedule_lowers_the_score_but_does_not_filter() {
        let s = snapshot(
            &[
                NodeBuilder::new("a")
                    .taint("spot", "", "PreferNoSchedule")
                    .build(),
                NodeBuilder::new("b").build(),
            ],
            &[],
        );
        let pod = PodBuilder::new("p").build();
        assert_eq!(
            filter(&TaintToleration, &pod, &s),
            [Status::Fit, Status::Fit]
        );
        assert_eq!(score(&TaintToleration, &pod, &s), Some(vec![0, 100]));
    }

    trait ReasonText {
        fn to_string_reason(&self) -> String;
    }

    impl ReasonText for Status {
        fn to_string_reason(&self) -> String {
            match self {
                Status::Fit => "fit".into(),
                Status::Unschedulable(r) => r.to_string(),
            }
        }
    }
}
