//! `Snapshot`: the cluster as placement sees it — every node in name order with the pods placed
//! on it — updated incrementally from watch events and from the scheduler's own decisions
//! (`assume`), so that no decision rebuilds anything.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::node_info::NodeInfo;
use crate::pod_info::{PodInfo, is_finished, pod_key};

/// What a node event changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    /// Something that can make a pod fit changed (labels, taints, readiness, allocatable, cordon).
    Updated,
    Unchanged,
}

/// What a pod event changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodChange {
    /// The pod now holds resources on a node.
    Placed,
    /// A node has room it did not have (the pod left it, finished or was deleted).
    Freed,
    Unchanged,
}

#[derive(Clone, Debug)]
struct Placement {
    node: Arc<str>,
    pod: Arc<PodInfo>,
    /// Decided by this scheduler, not yet seen bound in a watch event.
    assumed: bool,
}

/// Nodes (sorted by name) and the pods placed on them.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    index: HashMap<Arc<str>, usize>,
    pods: HashMap<Arc<str>, Placement>,
    /// Pods bound to nodes the snapshot does not know (yet), by node name.
    orphans: HashMap<Arc<str>, Vec<Arc<PodInfo>>>,
    /// How many nodes hold each image.
    image_nodes: HashMap<String, u32>,
    anti_affinity_pods: usize,
}

impl Snapshot {
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// A snapshot of these nodes with these pods (unbound and finished pods are skipped).
    pub fn from_objects<'a>(
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = &'a Pod>,
    ) -> Snapshot {
        let mut s = Snapshot::new();
        for node in nodes {
            s.upsert_node(node);
        }
        for pod in pods {
            s.upsert_pod(pod);
        }
        s
    }

    /// Nodes in name order.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// On how many nodes the (normalized) image is present.
    pub fn image_node_count(&self, image: &str) -> u32 {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    /// Placed pods with required anti-affinity terms, with their nodes.
    pub fn anti_affinity_pods(&self) -> impl Iterator<Item = (&NodeInfo, &PodInfo)> {
        let any = self.anti_affinity_pods > 0;
        self.nodes
            .iter()
            .filter(move |n| any && n.anti_affinity_pods > 0)
            .flat_map(|n| {
                n.pods
                    .iter()
                    .filter(|p| !p.required_anti_affinity.is_empty())
                    .map(move |p| (n, &**p))
            })
    }

    /// Keys of every placed pod (assumed or bound).
    pub fn pod_keys(&self) -> Vec<Arc<str>> {
        self.pods.keys().cloned().collect()
    }

    /// The node a pod is placed on (assumed or bound).
    pub fn placed_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| &*p.node)
    }

    /// Adds or updates a node, keeping its pods.
    pub fn upsert_node(&mut self, node: &Node) -> NodeChange {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if let Some(&i) = self.index.get(name) {
            let before: Vec<String> = self.nodes[i].images.keys().cloned().collect();
            let changed = self.nodes[i].set_node(node);
            self.count_images(before.iter(), -1);
            let after: Vec<String> = self.nodes[i].images.keys().cloned().collect();
            self.count_images(after.iter(), 1);
            return if changed {
                NodeChange::Updated
            } else {
                NodeChange::Unchanged
            };
        }
        let mut info = NodeInfo::from_node(node);
        for pod in self.orphans.remove(name).unwrap_or_default() {
            info.add_pod(pod);
        }
        let images: Vec<String> = info.images.keys().cloned().collect();
        self.count_images(images.iter(), 1);
        let at = self.nodes.partition_point(|n| *n.name < *name);
        self.nodes.insert(at, info);
        self.reindex(at);
        NodeChange::Added
    }

    /// Removes a node; its pods wait for it as orphans. Returns whether it was known.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(at) = self.index.remove(name) else {
            return false;
        };
        let info = self.nodes.remove(at);
        self.reindex(at);
        let images: Vec<String> = info.images.keys().cloned().collect();
        self.count_images(images.iter(), -1);
        if !info.pods.is_empty() {
            self.orphans.insert(info.name.clone(), info.pods);
        }
        true
    }

    /// Applies a pod from a watch: a bound, unfinished pod is placed on its node; anything else
    /// is not (an assumed placement stays until it is confirmed or forgotten).
    pub fn upsert_pod(&mut self, pod: &Pod) -> PodChange {
        let key = pod_key(pod);
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        if node.is_empty() || is_finished(pod) {
            let assumed = self.pods.get(key.as_str()).is_some_and(|p| p.assumed);
            if assumed && !is_finished(pod) {
                return PodChange::Unchanged;
            }
            return self.remove_pod(&key);
        }
        if let Some(p) = self.pods.get_mut(key.as_str())
            && *p.node == *node
            && same_placement(&p.pod, pod)
        {
            p.assumed = false;
            return PodChange::Unchanged;
        }
        let info = match PodInfo::from_pod(pod) {
            Ok(info) => Arc::new(info),
            Err(e) => {
                tracing::warn!(pod = %key, error = %e, "cannot account for a bound pod");
                return PodChange::Unchanged;
            }
        };
        let moved = self
            .pods
            .get(key.as_str())
            .is_some_and(|p| *p.node != *node);
        self.remove_pod(&key);
        self.place(info, node, false);
        if moved {
            PodChange::Freed
        } else {
            PodChange::Placed
        }
    }

    /// Stops counting a pod (deleted, finished or unbound).
    pub fn remove_pod(&mut self, key: &str) -> PodChange {
        let Some(placement) = self.pods.remove(key) else {
            return PodChange::Unchanged;
        };
        if !placement.pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods = self.anti_affinity_pods.saturating_sub(1);
        }
        match self.index.get(&placement.node) {
            Some(&i) => {
                self.nodes[i].remove_pod(key);
            }
            None => {
                if let Some(list) = self.orphans.get_mut(&placement.node) {
                    list.retain(|p| &*p.key != key);
                    if list.is_empty() {
                        self.orphans.remove(&placement.node);
                    }
                }
            }
        }
        PodChange::Freed
    }

    /// Counts a pod on the node the scheduler chose for it, before the binding is confirmed
    /// (Kubernetes' "assume"). Returns false if the node is unknown.
    pub fn assume(&mut self, pod: Arc<PodInfo>, node: &str) -> bool {
        if !self.index.contains_key(node) {
            return false;
        }
        let key = pod.key.clone();
        self.remove_pod(&key);
        self.place(pod, node, true);
        true
    }

    /// Undoes an `assume` whose binding failed; a confirmed placement stays.
    pub fn forget(&mut self, key: &str) -> bool {
        if self.pods.get(key).is_some_and(|p| p.assumed) {
            self.remove_pod(key);
            return true;
        }
        false
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str, assumed: bool) {
        let node: Arc<str> = match self.index.get_key_value(node) {
            Some((name, _)) => name.clone(),
            None => node.into(),
        };
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods += 1;
        }
        self.pods.insert(
            pod.key.clone(),
            Placement {
                node: node.clone(),
                pod: pod.clone(),
                assumed,
            },
        );
        match self.index.get(&node) {
            Some(&i) => self.nodes[i].add_pod(pod),
            None => self.orphans.entry(node).or_default().push(pod),
        }
    }

    fn reindex(&mut self, from: usize) {
        for (i, n) in self.nodes.iter().enumerate().skip(from) {
            self.index.insert(n.name.clone(), i);
        }
    }

    fn count_images<'a>(&mut self, images: impl Iterator<Item = &'a String>, delta: i64) {
        for image in images {
            let n = self.image_nodes.entry(image.clone()).or_default();
            *n = u32::try_from((i64::from(*n) + delta).max(0)).unwrap_or(0);
            if *n == 0 {
                self.image_nodes.remove(image);
            }
        }
    }
}

/// Whether a bound pod's watch event changes nothing placement cares about.
fn same_placement(known: &PodInfo, pod: &Pod) -> bool {
    let meta = &pod.metadata;
    *known.uid == *meta.uid.as_deref().unwrap_or_default()
        && known.generation == meta.generation
        && known.terminating == meta.deletion_timestamp.is_some()
        && meta
            .labels
            .as_ref()
            .map_or(known.labels.is_empty(), |l| *l == known.labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};

    fn info(pod: &Pod) -> Arc<PodInfo> {
        Arc::new(PodInfo::from_pod(pod).unwrap())
    }

    #[test]
    fn nodes_stay_in_name_order_whatever_the_arrival_order() {
        let mut s = Snapshot::new();
        for name in ["c", "a", "b"] {
            s.upsert_node(&NodeBuilder::new(name).build());
        }
        let names: Vec<&str> = s.nodes().iter().map(|n| &*n.name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(s.remove_node("a"));
        assert_eq!(s.node("c").map(|n| &*n.name), Some("c"));
    }

    #[test]
    fn pods_bound_before_their_node_appears_are_counted_when_it_does() {
        let mut s = Snapshot::new();
        s.upsert_pod(&PodBuilder::new("p").cpu("1").node_name("late").build());
        s.upsert_node(&NodeBuilder::new("late").cpu("4").build());
        assert_eq!(s.node("late").map(|n| n.requested.milli_cpu), Some(1000));
        s.remove_node("late");
        s.upsert_node(&NodeBuilder::new("late").cpu("4").build());
        assert_eq!(s.node("late").map(|n| n.requested.milli_cpu), Some(1000));
    }

    #[test]
    fn anti_affinity_pods_follow_placements_and_nodes() {
        let mut s = Snapshot::new();
        for name in ["c", "a", "b"] {
            s.upsert_node(&NodeBuilder::new(name).build());
        }
        let anti = |name: &str, node: &str| {
            PodBuilder::new(name)
                .anti_affinity("app", "db", "kubernetes.io/hostname")
                .node_name(node)
                .build()
        };
        let listed = |s: &Snapshot| -> Vec<String> {
            s.anti_affinity_pods()
                .map(|(n, p)| format!("{}:{}", n.name, p.key))
                .collect()
        };
        assert!(listed(&s).is_empty());
        s.upsert_pod(&anti("x", "c"));
        s.upsert_pod(&anti("y", "a"));
        s.upsert_pod(&PodBuilder::new("plain").node_name("b").build());
        assert_eq!(listed(&s), ["a:default/y", "c:default/x"]);
        // A node that goes away hides its pods until it is back.
        s.remove_node("c");
        assert_eq!(listed(&s), ["a:default/y"]);
        s.upsert_node(&NodeBuilder::new("c").build());
        assert_eq!(listed(&s), ["a:default/y", "c:default/x"]);
        s.remove_pod("default/y");
        assert_eq!(listed(&s), ["c:default/x"]);
        // Assumed, then forgotten.
        assert!(s.assume(info(&anti("z", "b")), "b"));
        assert_eq!(listed(&s), ["b:default/z", "c:default/x"]);
        s.forget("default/z");
        assert_eq!(listed(&s), ["c:default/x"]);
    }

    #[test]
    fn finished_and_deleted_pods_free_their_node() {
        let mut s = Snapshot::new();
        s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
        let pod = PodBuilder::new("p").cpu("1").node_name("n");
        assert_eq!(s.upsert_pod(&pod.clone().build()), PodChange::Placed);
        assert_eq!(s.upsert_pod(&pod.clone().build()), PodChange::Unchanged);
        assert_eq!(
            s.upsert_pod(&pod.phase("Succeeded").build()),
            PodChange::Freed
        );
        assert_eq!(s.node("n").map(|n| n.requested.pods), Some(0));
    }

    #[test]
    fn an_assumed_pod_survives_a_stale_pending_event_until_forgotten() {
        let mut s = Snapshot::new();
        s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
        let pending = PodBuilder::new("p").cpu("1").build();
        assert!(s.assume(info(&pending), "n"));
        assert_eq!(s.upsert_pod(&pending), PodChange::Unchanged);
        assert_eq!(s.placed_node("default/p"), Some("n"));
        assert!(s.forget("default/p"));
        assert_eq!(s.node("n").map(|n| n.requested.milli_cpu), Some(0));
    }

    #[test]
    fn a_confirmed_binding_is_not_forgotten() {
        let mut s = Snapshot::new();
        s.upsert_node(&NodeBuilder::new("n").cpu("4").build());
        let pod = PodBuilder::new("p").cpu("1");
        s.assume(info(&pod.clone().build()), "n");
        s.upsert_pod(&pod.node_name("n").build());
        assert!(!s.forget("default/p"));
        assert_eq!(s.node("n").map(|n| n.requested.milli_cpu), Some(1000));
    }

    #[test]
    fn image_counts_follow_node_updates() {
        let mut s = Snapshot::new();
        s.upsert_node(&NodeBuilder::new("a").image("nginx:1", 1).build());
        s.upsert_node(
            &NodeBuilder::new("b")
                .image("docker.io/library/nginx:1", 1)
                .build(),
        );
        assert_eq!(s.image_node_count("nginx:1"), 2);
        s.upsert_node(&NodeBuilder::new("b").build());
        assert_eq!(s.image_node_count("nginx:1"), 1);
        s.remove_node("a");
        assert_eq!(s.image_node_count("nginx:1"), 0);
    }
}
