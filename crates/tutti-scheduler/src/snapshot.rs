//! `Snapshot`: the cluster as placement sees it — every node in name order with the pods placed
//! on it — updated incrementally from watch events and from the scheduler's own decisions
//! (`assume`), so that no decision rebuilds anything. Beside the nodes it keeps what filters
//! would otherwise recount from every node on each decision: matching pods per topology domain
//! ([`domain_counts`]) and where placed pods' anti-affinity applies ([`anti_affinity`]).

pub mod anti_affinity;
pub mod domain_counts;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::node_info::NodeInfo;
use crate::pod_info::{PodInfo, is_finished, pod_key};
use anti_affinity::{AntiAffinityIndex, AntiAffinityTerm};
use domain_counts::{Direction, DomainCache, DomainCounts, DomainKey};

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
    /// Required anti-affinity terms of the pods on known nodes, by term.
    anti_affinity: AntiAffinityIndex,
    /// Matching pods per domain for the groups filters and scorers asked about lately.
    domain_counts: DomainCache,
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

    /// The distinct required anti-affinity terms of the pods on the nodes, each with the domains
    /// it keeps matching pods out of.
    pub fn anti_affinity_terms(&self) -> &[AntiAffinityTerm] {
        self.anti_affinity.terms()
    }

    /// Matching pods per domain as `key` describes them: the same as counting over every node
    /// now, but built once and then kept up to date as pods and nodes change.
    pub fn domain_counts(&self, key: DomainKey) -> Arc<DomainCounts> {
        self.domain_counts.get(key, &self.nodes)
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
            let (anti_affinity, domain_counts) = (&mut self.anti_affinity, &mut self.domain_counts);
            let update = self.nodes[i].set_node_with(node, |old| {
                anti_affinity.node_changed(old, Direction::Out);
                domain_counts.update(|c| c.node_changed(old, Direction::Out));
            });
            if update.topology {
                let new = &self.nodes[i];
                self.anti_affinity.node_changed(new, Direction::In);
                self.domain_counts
                    .update(|c| c.node_changed(new, Direction::In));
            }
            let changed = update.changed;
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
        self.anti_affinity.node_changed(&info, Direction::In);
        self.domain_counts
            .update(|c| c.node_changed(&info, Direction::In));
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
        self.anti_affinity.node_changed(&info, Direction::Out);
        self.domain_counts
            .update(|c| c.node_changed(&info, Direction::Out));
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
                let node = &mut self.nodes[i];
                if let Some(pod) = node.remove_pod(key) {
                    let node = &*node;
                    self.anti_affinity.pod_changed(node, &pod, Direction::Out);
                    self.domain_counts
                        .update(|c| c.pod_changed(node, &pod, Direction::Out));
                }
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
            Some(&i) => {
                let node = &mut self.nodes[i];
                node.add_pod(pod.clone());
                let node = &*node;
                self.anti_affinity.pod_changed(node, &pod, Direction::In);
                self.domain_counts
                    .update(|c| c.pod_changed(node, &pod, Direction::In));
            }
            None => self.orphans.entry(node).or_default().push(pod),
        }
    }

    /// Panics if an index kept beside the nodes differs from a recount over the nodes now.
    #[cfg(test)]
    pub(crate) fn assert_indexes_match_recount(&self) {
        assert_eq!(
            self.anti_affinity.normalized(),
            AntiAffinityIndex::build(&self.nodes).normalized(),
            "anti-affinity terms drifted from a recount"
        );
        for kept in self.domain_counts.kept() {
            let recount = DomainCounts::build(kept.key().clone(), &self.nodes);
            assert_eq!(*kept, recount, "domain counts drifted from a recount");
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
mod tests;
