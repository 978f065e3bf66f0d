//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
//! `node.kubernetes.io/unschedulable:NoSchedule`.

use crate::framework::{FilterPlugin, NodeFilter, Reason, Status};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;
use crate::taints::{Effect, TAINT_UNSCHEDULABLE, Taint, tolerated};

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeFilter<'a>> {
        if tolerated(
            &pod.tolerations,
            &Taint::new(TAINT_UNSCHEDULABLE, "", Effect::NoSchedule),
        ) {
            return None;
        }
        Some(Box::new(|node| {
            if node.unschedulable {
                Status::Unschedulable(Reason::NodeUnschedulable)
            } else {
                Status::Fit
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::plugins::testing::{filter, snapshot};

    #[test]
    fn cordoned_nodes_take_only_pods_that_tolerate_it() {
        let s = snapshot(
            &[
                NodeBuilder::new("a").unschedulable().build(),
                NodeBuilder::new("b").build(),
            ],
            &[],
        );
        let plain = PodBuilder::new("p").build();
        assert_eq!(
            filter(&NodeUnschedulable, &plain, &s),
            [
                Status::Unschedulable(Reason::NodeUnschedulable),
                Status::Fit
            ]
        );
        let tolerant = PodBuilder::new("p")
            .toleration(TAINT_UNSCHEDULABLE, "Exists", "", "NoSchedule")
            .build();
        assert_eq!(
            filter(&NodeUnschedulable, &tolerant, &s),
            [Status::Fit, Status::Fit]
        );
    }
}
