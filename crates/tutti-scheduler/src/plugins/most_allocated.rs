//! MostAllocated (the bin-packing strategy): prefer the node that is fullest after placing the
//! pod, so that whole nodes stay free for large pods or can be drained.

use crate::framework::{MAX_NODE_SCORE, NodeScorer, Normalize, ScorePlugin};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct MostAllocated;

/// The share of `allocatable` used after `requested`, 0..=100.
fn most_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable <= 0 {
        return 0;
    }
    requested.min(allocatable) * MAX_NODE_SCORE / allocatable
}

impl ScorePlugin for MostAllocated {
    fn name(&self) -> &'static str {
        "MostAllocated"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeScorer<'a>> {
        let want = pod.non_zero_requests;
        Some(NodeScorer {
            score: Box::new(move |node| {
                let used = node.non_zero_requested;
                let cpu =
                    most_allocated(used.milli_cpu + want.milli_cpu, node.allocatable.milli_cpu);
                let memory = most_allocated(used.memory + want.memory, node.allocatable.memory);
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
    fn fuller_nodes_score_higher() {
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
        assert_eq!(score(&MostAllocated, &pod, &s), Some(vec![75, 25]));
    }
}
