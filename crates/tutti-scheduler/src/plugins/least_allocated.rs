//! LeastAllocated (NodeResourcesFit's default scoring strategy): prefer the node with the most
//! cpu and memory left after placing the pod, so pods spread out.

use crate::framework::{MAX_NODE_SCORE, NodeScorer, Normalize, ScorePlugin};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct LeastAllocated;

/// The share of `allocatable` still free after `requested`, 0..=100.
pub(super) fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable <= 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "LeastAllocated"
    }

    /// Mean over cpu and memory of the free share, counting pods without requests at the
    /// default request (100m, 200Mi) so that they spread too.
    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeScorer<'a>> {
        let want = pod.non_zero_requests;
        Some(NodeScorer {
            score: Box::new(move |node| {
                let used = node.non_zero_requested;
                let cpu =
                    least_allocated(used.milli_cpu + want.milli_cpu, node.allocatable.milli_cpu);
                let memory = least_allocated(used.memory + want.memory, node.allocatable.memory);
                (cpu + memory) / 2
            }),
            normalize: Normalize::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::plugins::testing::{score, snapshot};

    #[test]
    fn emptier_nodes_score_higher() {
        let nodes = [
            NodeBuilder::new("a").cpu("4").memory("4Gi").build(),
            NodeBuilder::new("b").cpu("4").memory("4Gi").build(),
        ];
        let s = snapshot(
            &nodes,
            &[PodBuilder::new("old")
                .cpu("2")
                .memory("2Gi")
                .node_name("a")
                .build()],
        );
        let pod = PodBuilder::new("p").cpu("1").memory("1Gi").build();
        // a: (1/4 free cpu, 1/4 free memory) → 25; b: 3/4 → 75.
        assert_eq!(score(&LeastAllocated, &pod, &s), Some(vec![25, 75]));
    }
}
