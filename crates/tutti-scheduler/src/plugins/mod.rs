//! The built-in plugins, one per file, named as in kube-scheduler. Filters: NodeUnschedulable,
//! TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread,
//! InterPodAffinity. Scores: LeastAllocated, MostAllocated, BalancedAllocation, ImageLocality,
//! NodeAffinity (preferred), TaintToleration (PreferNoSchedule), PodTopologySpread (soft).

mod balanced_allocation;
mod image_locality;
mod inter_pod_affinity;
mod least_allocated;
mod most_allocated;
mod node_affinity;
mod node_ports;
mod node_resources_fit;
mod node_unschedulable;
mod pod_topology_spread;
#[cfg(test)]
mod recount;
mod taint_toleration;

pub use balanced_allocation::BalancedAllocation;
pub use image_locality::ImageLocality;
pub use inter_pod_affinity::InterPodAffinity;
pub use least_allocated::LeastAllocated;
pub use most_allocated::MostAllocated;
pub use node_affinity::NodeAffinity;
pub use node_ports::NodePorts;
pub use node_resources_fit::NodeResourcesFit;
pub use node_unschedulable::NodeUnschedulable;
pub use pod_topology_spread::PodTopologySpread;
pub use taint_toleration::TaintToleration;

#[cfg(test)]
pub(crate) mod testing {
    //! Running one plugin against a small cluster.
    use k8s_openapi::api::core::v1::{Node, Pod};

    use crate::framework::{FilterPlugin, ScorePlugin, Status};
    use crate::pod_info::PodInfo;
    use crate::snapshot::Snapshot;

    pub fn snapshot(nodes: &[Node], pods: &[Pod]) -> Snapshot {
        Snapshot::from_objects(nodes, pods)
    }

    /// The plugin's verdict for `pod` on each node of the snapshot, in name order.
    pub fn filter(plugin: &dyn FilterPlugin, pod: &Pod, snapshot: &Snapshot) -> Vec<Status> {
        let pod = PodInfo::from_pod(pod).unwrap();
        snapshot
            .nodes()
            .iter()
            .map(|n| plugin.filter(&pod, n, snapshot))
            .collect()
    }

    /// The plugin's normalized scores for `pod` on each node (None: no opinion).
    pub fn score(plugin: &dyn ScorePlugin, pod: &Pod, snapshot: &Snapshot) -> Option<Vec<i64>> {
        let pod = PodInfo::from_pod(pod).unwrap();
        let scorer = plugin.prepare(&pod, snapshot)?;
        let mut raw: Vec<i64> = snapshot.nodes().iter().map(|n| (scorer.score)(n)).collect();
        scorer.normalize.apply(&mut raw);
        Some(raw)
    }
}
