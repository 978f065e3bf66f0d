//! NodePorts: a pod's host ports must be free on the node.

use crate::framework::{FilterPlugin, NodeFilter, Reason, Status};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub struct NodePorts;

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, _: &'a Snapshot) -> Option<NodeFilter<'a>> {
        if pod.host_ports.is_empty() {
            return None;
        }
        Some(Box::new(move |node| {
            let taken = pod
                .host_ports
                .iter()
                .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
            if taken {
                Status::Unschedulable(Reason::NodePorts)
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
    fn a_host_port_in_use_keeps_the_next_pod_off() {
        let nodes = [NodeBuilder::new("a").build(), NodeBuilder::new("b").build()];
        let s = snapshot(
            &nodes,
            &[PodBuilder::new("web-1")
                .host_port(80)
                .node_name("a")
                .build()],
        );
        let web = PodBuilder::new("web-2").host_port(80).build();
        assert_eq!(
            filter(&NodePorts, &web, &s),
            [Status::Unschedulable(Reason::NodePorts), Status::Fit]
        );
        let other = PodBuilder::new("api").host_port(8080).build();
        assert_eq!(filter(&NodePorts, &other, &s), [Status::Fit, Status::Fit]);
    }
}
