//! BalancedAllocation: prefer nodes whose cpu and memory would be used in similar proportions
//! after placing the pod, so that neither runs out while the other sits idle.

use crate::framework::{MAX_NODE_SCORE, NodeScorer, Normalize, ScorePlugin};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "BalancedAllocation"
    }

    /// `100 * (1 - |cpu share - memory share| / 2)`, shares capped at 1; a resource the node
    /// does not have is left out.
    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeScorer<'a>> {
        let want = pod.requests;
        Some(NodeScorer {
            score: Box::new(move |node| {
                let share = |used: i64, alloc: i64| {
                    (alloc > 0).then(|| (used as f64 / alloc as f64).min(1.0))
                };
                let cpu = share(
                    node.requested.milli_cpu + want.milli_cpu,
                    node.allocatable.milli_cpu,
                );
                let memory = share(node.requested.memory + want.memory, node.allocatable.memory);
                let std = match (cpu, memory) {
                    (Some(c), Some(m)) => ((c - m) / 2.0).abs(),
                    _ => 0.0,
                };
                ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
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
    fn even_use_of_cpu_and_memory_scores_higher() {
        let nodes = [
            NodeBuilder::new("a").cpu("4").memory("4Gi").build(),
            NodeBuilder::new("b").cpu("4").memory("4Gi").build(),
        ];
        let s = snapshot(
            &nodes,
            &[PodBuilder::new("cpu-heavy").cpu("3").node_name("a").build()],
        );
        let pod = PodBuilder::new("p").cpu("1").memory("1Gi").build();
        // a: cpu 100%, memory 25% → 1 - 0.375; b: 25% and 25% → 100.
        assert_eq!(score(&BalancedAllocation, &pod, &s), Some(vec![62, 100]));
    }
}
