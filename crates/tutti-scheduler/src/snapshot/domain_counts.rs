//! Matching pods per topology domain, for the pod groups placement keeps asking about: topology
//! spread constraints and the pod's own (anti-)affinity terms. Counting them means walking every
//! node and pod; a decision changes them by one pod. So each count is built on first use and
//! from then on follows the snapshot — every pod placed or removed and every node added, removed
//! or relabelled is applied to it — until it has gone unused for a while.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tutti_core::labels::Selector;

use crate::node_info::NodeInfo;
use crate::node_selector::NodeSelector;
use crate::pod_info::{PodInfo, node_selection_matches};
use crate::pod_terms::AffinityTerm;
use crate::taints::{Toleration, tolerated};

/// How many counts are kept at most; the least recently used goes first.
const MAX_ENTRIES: usize = 32;
/// A count not asked for in this many look-ups is dropped the next time one is built, so that
/// groups nobody schedules any more stop costing time on every placement.
const MAX_IDLE_LOOKUPS: u64 = 4096;

/// Which placed pods are counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodMatcher {
    /// A topology spread constraint's pods: not terminating, in `namespace`, matching `selector`
    /// (no selector matches no pod).
    Spread {
        namespace: Arc<str>,
        selector: Option<Selector>,
    },
    /// Pods that every one of these terms matches (their topology keys play no part here).
    Terms(Vec<AffinityTerm>),
}

impl PodMatcher {
    pub fn matches(&self, pod: &PodInfo) -> bool {
        match self {
            PodMatcher::Spread {
                namespace,
                selector,
            } => {
                !pod.terminating
                    && *pod.namespace == **namespace
                    && selector.as_ref().is_some_and(|s| s.matches(&pod.labels))
            }
            PodMatcher::Terms(terms) => terms.iter().all(|t| t.matches(pod)),
        }
    }
}

/// A pod's nodeSelector and required node affinity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSelection {
    pub node_selector: Vec<(String, String)>,
    pub required_node_affinity: Option<NodeSelector>,
}

impl NodeSelection {
    pub fn of(pod: &PodInfo) -> NodeSelection {
        NodeSelection {
            node_selector: pod.node_selector.clone(),
            required_node_affinity: pod.required_node_affinity.clone(),
        }
    }
}

/// Which nodes count: their pods are counted and their domains exist (possibly with 0 pods).
/// Nodes without the count's own topology key never count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeEligibility {
    /// The node must carry every one of these topology keys (a pod's spread constraints only
    /// count nodes that have the keys of all of them).
    pub keys: Vec<String>,
    /// Only nodes this selection accepts (`nodeAffinityPolicy: Honor`).
    pub node_selection: Option<NodeSelection>,
    /// Only nodes whose scheduling taints these tolerate (`nodeTaintsPolicy: Honor`).
    pub tolerations: Option<Vec<Toleration>>,
}

impl NodeEligibility {
    fn admits(&self, node: &NodeInfo) -> bool {
        self.keys.iter().all(|k| node.topology_value(k).is_some())
            && self.node_selection.as_ref().is_none_or(|s| {
                node_selection_matches(
                    &s.node_selector,
                    s.required_node_affinity.as_ref(),
                    &node.name,
                    &node.labels,
                )
            })
            && self.tolerations.as_ref().is_none_or(|tolerations| {
                node.taints
                    .iter()
                    .all(|t| !t.effect.blocks_scheduling() || tolerated(tolerations, t))
            })
    }
}

/// What is counted: which pods, on which nodes, per value of which node label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainKey {
    pub pods: PodMatcher,
    pub topology_key: String,
    pub nodes: NodeEligibility,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Domain {
    /// Matching pods on the domain's eligible nodes.
    pods: i64,
    /// Eligible nodes in the domain; the domain exists while this is above 0.
    nodes: u32,
}

/// Matching pods per domain over the eligible nodes, as if counted afresh from the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainCounts {
    key: DomainKey,
    domains: HashMap<Box<str>, Domain>,
    /// How many domains hold each number of matching pods (the first is the minimum).
    by_pods: BTreeMap<i64, u32>,
}

impl DomainCounts {
    /// Counts from scratch over `nodes`.
    pub fn build(key: DomainKey, nodes: &[NodeInfo]) -> DomainCounts {
        let mut counts = DomainCounts {
            key,
            domains: HashMap::new(),
            by_pods: BTreeMap::new(),
        };
        for node in nodes {
            counts.node_changed(node, Direction::In);
        }
        counts
    }

    pub fn key(&self) -> &DomainKey {
        &self.key
    }

    /// Matching pods in the domain with this value (0 when no eligible node is in it).
    pub fn pods_in(&self, value: &str) -> i64 {
        self.domains.get(value).map_or(0, |d| d.pods)
    }

    /// How many domains the eligible nodes make up.
    pub fn domains(&self) -> usize {
        self.domains.len()
    }

    /// The fewest matching pods in a domain; `None` without domains.
    pub fn min(&self) -> Option<i64> {
        self.by_pods.keys().next().copied()
    }

    /// Whether any domain holds a matching pod.
    pub fn any_pods(&self) -> bool {
        self.by_pods.keys().next_back().is_some_and(|&n| n > 0)
    }

    /// The domain `node` belongs to, if it counts.
    fn domain_of<'n>(&self, node: &'n NodeInfo) -> Option<&'n str> {
        let value = node.topology_value(&self.key.topology_key)?;
        self.key.nodes.admits(node).then_some(value)
    }

    /// A node joins (with all its pods) or leaves.
    pub(crate) fn node_changed(&mut self, node: &NodeInfo, direction: Direction) {
        let Some(value) = self.domain_of(node) else {
            return;
        };
        let matching = node
            .pods
            .iter()
            .filter(|p| self.key.pods.matches(p))
            .count();
        let pods = i64::try_from(matching).unwrap_or(i64::MAX) * direction.sign();
        let before = self.domains.get(value).copied();
        if let Some(d) = before {
            self.forget_count(d.pods);
        }
        let d = before.unwrap_or_default();
        let after = Domain {
            pods: d.pods + pods,
            nodes: match direction {
                Direction::In => d.nodes + 1,
                Direction::Out => d.nodes.saturating_sub(1),
            },
        };
        if after.nodes == 0 {
            self.domains.remove(value);
        } else {
            self.domains.insert(value.into(), after);
            *self.by_pods.entry(after.pods).or_default() += 1;
        }
    }

    /// A pod is placed on (or leaves) a node the snapshot knows.
    pub(crate) fn pod_changed(&mut self, node: &NodeInfo, pod: &PodInfo, direction: Direction) {
        if !self.key.pods.matches(pod) {
            return;
        }
        let Some(value) = self.domain_of(node) else {
            return;
        };
        // The node counts, so its domain exists: it was added when the node was.
        let Some(d) = self.domains.get_mut(value) else {
            return;
        };
        let before = d.pods;
        d.pods += direction.sign();
        let after = d.pods;
        self.forget_count(before);
        *self.by_pods.entry(after).or_default() += 1;
    }

    fn forget_count(&mut self, pods: i64) {
        if let Some(n) = self.by_pods.get_mut(&pods) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_pods.remove(&pods);
            }
        }
    }
}

/// Whether a node or pod comes in or goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    In,
    Out,
}

impl Direction {
    fn sign(self) -> i64 {
        match self {
            Direction::In => 1,
            Direction::Out => -1,
        }
    }
}

#[derive(Debug, Default)]
struct Entries {
    /// Each count with the look-up that last used it.
    counts: Vec<(u64, Arc<DomainCounts>)>,
    lookups: u64,
}

/// The counts in use. Look-ups come through `&Snapshot` (plugins only read the snapshot), so the
/// list sits behind a lock; changes come through `&mut Snapshot` and take no lock.
#[derive(Debug, Default)]
pub(crate) struct DomainCache {
    entries: Mutex<Entries>,
}

impl Clone for DomainCache {
    /// A copy of a snapshot starts without counts: they are rebuilt from its own nodes on use.
    fn clone(&self) -> DomainCache {
        DomainCache::default()
    }
}

impl DomainCache {
    /// The counts for `key`, built from `nodes` if nobody asked for them lately.
    pub(crate) fn get(&self, key: DomainKey, nodes: &[NodeInfo]) -> Arc<DomainCounts> {
        let mut entries = self.lock();
        entries.lookups += 1;
        let now = entries.lookups;
        if let Some(entry) = entries.counts.iter_mut().find(|(_, c)| c.key == key) {
            entry.0 = now;
            return entry.1.clone();
        }
        let counts = Arc::new(DomainCounts::build(key, nodes));
        entries
            .counts
            .retain(|(used, _)| now.saturating_sub(*used) <= MAX_IDLE_LOOKUPS);
        if entries.counts.len() >= MAX_ENTRIES
            && let Some(oldest) = (0..entries.counts.len()).min_by_key(|&i| entries.counts[i].0)
        {
            entries.counts.swap_remove(oldest);
        }
        entries.counts.push((now, counts.clone()));
        counts
    }

    /// Applies a change to every count kept.
    pub(crate) fn update(&mut self, mut change: impl FnMut(&mut DomainCounts)) {
        let entries = match self.entries.get_mut() {
            Ok(entries) => entries,
            Err(poisoned) => {
                // A panic while the list was locked may have left a count half-updated: start over.
                let entries = poisoned.into_inner();
                entries.counts.clear();
                self.entries.clear_poison();
                return;
            }
        };
        for (_, counts) in &mut entries.counts {
            // Filters prepared from the snapshot hold counts only while it is borrowed, so no one
            // else holds this one now and `make_mut` does not copy.
            change(Arc::make_mut(counts));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        match self.entries.lock() {
            Ok(entries) => entries,
            Err(poisoned) => {
                // As in `update`: the counts may be half-updated; drop them.
                let mut entries = poisoned.into_inner();
                entries.counts.clear();
                self.entries.clear_poison();
                entries
            }
        }
    }

    /// Every count kept, for tests that compare them with a recount.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> Vec<Arc<DomainCounts>> {
        self.lock().counts.iter().map(|(_, c)| c.clone()).collect()
    }
}
