//! `NodeInfo`: one node as placement sees it — labels, taints, readiness, allocatable — plus
//! the sums of the pods placed on it, kept up to date as pods come and go.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::images;
use crate::pod_info::PodInfo;
use crate::ports::HostPort;
use crate::resources::Resources;
use crate::taints::{Effect, TAINT_NOT_READY, TAINT_UNREACHABLE, Taint};

/// The label Kubernetes puts the node's hostname in.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The node's Ready condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// `Ready=True`.
    Ready,
    /// `Ready=False`, or no Ready condition yet.
    NotReady,
    /// `Ready=Unknown`: the node stopped reporting.
    Unknown,
}

/// A node with what is placed on it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: Arc<str>,
    pub labels: BTreeMap<String, String>,
    /// The node's taints, plus `node.kubernetes.io/not-ready` or `unreachable` (NoSchedule) when
    /// the node is not Ready and does not already carry that taint — as Kubernetes' node
    /// lifecycle controller would add it.
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub readiness: Readiness,
    pub allocatable: Resources,
    /// Sum of the requests of the pods placed here (pods: how many).
    pub requested: Resources,
    /// Same with defaults for missing requests (for scoring).
    pub non_zero_requested: Resources,
    /// Host ports in use (one entry per pod using it).
    pub used_ports: Vec<HostPort>,
    /// Normalized image name → size in bytes.
    pub images: HashMap<String, i64>,
    pub pods: Vec<Arc<PodInfo>>,
    /// Placed pods per controller uid (for spreading replicas).
    pub owner_counts: HashMap<Arc<str>, u32>,
    /// Placed pods with required anti-affinity terms.
    pub anti_affinity_pods: u32,
}

/// What replacing a node's own fields changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeUpdate {
    /// Something that can make a pod fit changed (see [`NodeInfo::set_node`]).
    pub changed: bool,
    /// Labels or taints changed: the node may be in other topology domains, or count for other
    /// pods' spreading, than before.
    pub topology: bool,
}

impl NodeInfo {
    /// A node with nothing placed on it.
    pub fn from_node(node: &Node) -> NodeInfo {
        let mut info = NodeInfo {
            name: node.metadata.name.as_deref().unwrap_or_default().into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            unschedulable: false,
            readiness: Readiness::NotReady,
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: Vec::new(),
            images: HashMap::new(),
            pods: Vec::new(),
            owner_counts: HashMap::new(),
            anti_affinity_pods: 0,
        };
        info.set_node(node);
        info
    }

    /// Replaces the node's own fields (not its pods). Returns whether anything that can make a
    /// pod fit changed (labels, taints, readiness, allocatable, cordon), not e.g. image lists.
    pub fn set_node(&mut self, node: &Node) -> bool {
        self.set_node_with(node, |_| {}).changed
    }

    /// As [`NodeInfo::set_node`], and hands the node as it still is to `before` when its labels or
    /// taints are about to change, so that indexes over topology domains can take the old node
    /// out before the new one goes in.
    pub(crate) fn set_node_with(
        &mut self,
        node: &Node,
        before: impl FnOnce(&NodeInfo),
    ) -> NodeUpdate {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        let status = node.status.as_ref();
        let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        let readiness = match status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.as_str())
        {
            Some("True") => Readiness::Ready,
            Some("Unknown") => Readiness::Unknown,
            _ => Readiness::NotReady,
        };
        let mut taints: Vec<Taint> = spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(Taint::from_api)
            .collect();
        let implied = match readiness {
            Readiness::Ready => None,
            Readiness::NotReady => Some(TAINT_NOT_READY),
            Readiness::Unknown => Some(TAINT_UNREACHABLE),
        };
        if let Some(key) = implied
            && !taints
                .iter()
                .any(|t| *t.key == *key && t.effect.blocks_scheduling())
        {
            taints.push(Taint::new(key, "", Effect::NoSchedule));
        }
        let allocatable = status
            .and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()))
            .map(Resources::from_list)
            .unwrap_or_default();
        let mut images = HashMap::new();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            for name in image.names.iter().flatten() {
                images.insert(images::normalize(name), image.size_bytes.unwrap_or(0));
            }
        }
        let topology = labels != self.labels || taints != self.taints;
        if topology {
            before(self);
        }
        let changed = topology
            || unschedulable != self.unschedulable
            || readiness != self.readiness
            || allocatable != self.allocatable;
        self.labels = labels;
        self.taints = taints;
        self.unschedulable = unschedulable;
        self.readiness = readiness;
        self.allocatable = allocatable;
        self.images = images;
        NodeUpdate { changed, topology }
    }

    /// The node's value for a topology key. Nodes without a `kubernetes.io/hostname` label are
    /// their own hostname domain.
    pub fn topology_value(&self, key: &str) -> Option<&str> {
        match self.labels.get(key) {
            Some(v) => Some(v),
            None if key == HOSTNAME_LABEL => Some(&self.name),
            None => None,
        }
    }

    /// What is left: allocatable minus requested.
    pub fn free(&self) -> Resources {
        let mut free = self.allocatable;
        free.sub(&self.requested);
        free
    }

    /// Counts a pod as placed here.
    pub(crate) fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if let Some(owner) = &pod.owner {
            *self.owner_counts.entry(owner.clone()).or_default() += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods += 1;
        }
        self.pods.push(pod);
    }

    /// Stops counting the pod with this key; returns it if it was here.
    pub(crate) fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let at = self.pods.iter().position(|p| &*p.key == key)?;
        let pod = self.pods.swap_remove(at);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero_requests);
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        if let Some(owner) = &pod.owner
            && let Some(n) = self.owner_counts.get_mut(owner)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.owner_counts.remove(owner);
            }
        }
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods = self.anti_affinity_pods.saturating_sub(1);
        }
        Some(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};

    #[test]
    fn a_node_that_is_not_ready_gets_the_matching_taint_once() {
        let ready = NodeInfo::from_node(&NodeBuilder::new("n").build());
        assert!(ready.taints.is_empty());
        let down = NodeInfo::from_node(&NodeBuilder::new("n").ready("False").build());
        assert_eq!(
            down.taints,
            vec![Taint::new(TAINT_NOT_READY, "", Effect::NoSchedule)]
        );
        let gone = NodeInfo::from_node(&NodeBuilder::new("n").ready("Unknown").build());
        assert_eq!(&*gone.taints[0].key, TAINT_UNREACHABLE);
        let tainted = NodeBuilder::new("n")
            .ready("False")
            .taint(TAINT_NOT_READY, "", "NoSchedule")
            .build();
        assert_eq!(NodeInfo::from_node(&tainted).taints.len(), 1);
    }

    #[test]
    fn placing_and_removing_pods_keeps_sums_exact() {
        let mut node = NodeInfo::from_node(&NodeBuilder::new("n").cpu("2").memory("4Gi").build());
        let a = Arc::new(
            PodInfo::from_pod(
                &PodBuilder::new("a")
                    .cpu("500m")
                    .host_port(80)
                    .owner("rs")
                    .build(),
            )
            .unwrap(),
        );
        let b = Arc::new(
            PodInfo::from_pod(&PodBuilder::new("b").memory("1Gi").owner("rs").build()).unwrap(),
        );
        node.add_pod(a);
        node.add_pod(b);
        assert_eq!(
            node.free(),
            Resources {
                milli_cpu: 1500,
                memory: 3 << 30,
                pods: 108
            }
        );
        assert_eq!(node.owner_counts.get("rs"), Some(&2));
        assert!(node.remove_pod("default/a").is_some());
        assert!(node.remove_pod("default/a").is_none());
        assert_eq!(
            node.requested,
            Resources {
                milli_cpu: 0,
                memory: 1 << 30,
                pods: 1
            }
        );
        assert!(node.used_ports.is_empty());
    }

    #[test]
    fn only_scheduling_relevant_changes_count() {
        let mut node = NodeInfo::from_node(&NodeBuilder::new("n").cpu("2").build());
        assert!(!node.set_node(&NodeBuilder::new("n").cpu("2").image("nginx", 10).build()));
        assert!(node.set_node(&NodeBuilder::new("n").cpu("4").build()));
        assert!(node.set_node(&NodeBuilder::new("n").cpu("4").label("disk", "ssd").build()));
    }

    #[test]
    fn hostname_topology_falls_back_to_the_node_name() {
        let node = NodeInfo::from_node(&NodeBuilder::new("n1").label("zone", "a").build());
        assert_eq!(node.topology_value(HOSTNAME_LABEL), Some("n1"));
        assert_eq!(node.topology_value("zone"), Some("a"));
        assert_eq!(node.topology_value("rack"), None);
    }
}
