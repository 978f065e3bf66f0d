//! NodeResourcesFit: the pod's cpu and memory requests must fit in the node's allocatable minus
//! what the placed pods request, and the node must have room for one more pod.

use crate::framework::{FilterPlugin, NodeFilter, Reason, Shortfall, Status};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let want = pod.requests;
        Some(Box::new(move |node| {
            let free = node.free();
            let short = Shortfall {
                pods: free.pods < 1,
                cpu: want.milli_cpu > 0 && want.milli_cpu > free.milli_cpu,
                memory: want.memory > 0 && want.memory > free.memory,
            };
            if short == Shortfall::default() {
                Status::Fit
            } else {
                Status::Unschedulable(Reason::Insufficient(short))
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
    fn requests_must_fit_in_what_is_left() {
        let nodes = [NodeBuilder::new("a").cpu("2").memory("2Gi").build()];
        let s = snapshot(
            &nodes,
            &[PodBuilder::new("old")
                .cpu("1500m")
                .memory("1Gi")
                .node_name("a")
                .build()],
        );
        let fits = PodBuilder::new("p").cpu("500m").memory("1Gi").build();
        assert_eq!(filter(&NodeResourcesFit, &fits, &s), [Status::Fit]);
        let big = PodBuilder::new("p").cpu("501m").memory("2Gi").build();
        let both = Shortfall {
            pods: false,
            cpu: true,
            memory: true,
        };
        assert_eq!(
            filter(&NodeResourcesFit, &big, &s),
            [Status::Unschedulable(Reason::Insufficient(both))]
        );
    }

    #[test]
    fn a_pod_without_requests_still_needs_a_pod_slot() {
        let nodes = [NodeBuilder::new("a").pods(1).build()];
        let s = snapshot(&nodes, &[PodBuilder::new("old").node_name("a").build()]);
        let pod = PodBuilder::new("p").build();
        let pods = Shortfall {
            pods: true,
            cpu: false,
            memory: false,
        };
        assert_eq!(
            filter(&NodeResourcesFit, &pod, &s),
            [Status::Unschedulable(Reason::Insufficient(pods))]
        );
    }

    #[test]
    fn finished_pods_do_not_hold_resources() {
        let nodes = [NodeBuilder::new("a").cpu("1").build()];
        let done = PodBuilder::new("job")
            .cpu("1")
            .node_name("a")
            .phase("Succeeded")
            .build();
        let s = snapshot(&nodes, &[done]);
        assert_eq!(
            filter(
                &NodeResourcesFit,
                &PodBuilder::new("p").cpu("1").build(),
                &s
            ),
            [Status::Fit]
        );
    }
}
