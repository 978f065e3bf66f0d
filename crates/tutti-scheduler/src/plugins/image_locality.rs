//! ImageLocality: prefer nodes that already hold the pod's images (big images count more,
//! images present on many nodes less), so containers start without a pull.

use crate::framework::{MAX_NODE_SCORE, NodeScorer, Normalize, ScorePlugin};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

const MB: i64 = 1024 * 1024;
/// Below this sum the score is 0 (Kubernetes: 23 MB).
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this sum the score is 100 (Kubernetes: 1000 MB).
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

impl ScorePlugin for ImageLocality {
    fn name(&self) -> &'static str {
        "ImageLocality"
    }

    /// Kubernetes' formula: the sum over the pod's images present on the node of
    /// `size × (nodes with the image / all nodes)`, scaled between 23 MB and 1000 MB per
    /// container.
    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeScorer<'a>> {
        if pod.images.is_empty() || snapshot.is_empty() {
            return None;
        }
        let total = snapshot.len() as f64;
        let spread: Vec<(&str, f64)> = pod
            .images
            .iter()
            .map(|i| (i.as_str(), f64::from(snapshot.image_node_count(i)) / total))
            .collect();
        let max_threshold = MAX_CONTAINER_THRESHOLD * i64::try_from(pod.images.len()).unwrap_or(1);
        Some(NodeScorer {
            score: Box::new(move |node| {
                let sum: i64 = spread
                    .iter()
                    .filter_map(|(image, share)| {
                        node.images
                            .get(*image)
                            .map(|size| (*size as f64 * share) as i64)
                    })
                    .sum();
                let sum = sum.clamp(MIN_THRESHOLD, max_threshold);
                MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
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
    fn a_node_with_the_image_scores_higher() {
        let nodes = [
            NodeBuilder::new("a")
                .image("docker.io/library/postgres:16", 800 * MB)
                .build(),
            NodeBuilder::new("b").build(),
        ];
        let s = snapshot(&nodes, &[]);
        let pod = PodBuilder::new("db").image("postgres:16").build();
        let scores = score(&ImageLocality, &pod, &s).unwrap();
        // 800 MB × ½ of the nodes = 400 MB → (400 - 23) / (1000 - 23) ≈ 38.
        assert_eq!(scores, vec![38, 0]);
    }
}
