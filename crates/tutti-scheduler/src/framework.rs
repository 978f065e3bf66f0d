//! The placement framework's seams, after Kubernetes' scheduling framework: filter plugins say
//! whether a node can take a pod and why not (`Status`, `Reason`), score plugins rank the nodes
//! that can, and a `Profile` says which plugins run with which weights.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// Which resources a node lacks for a pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shortfall {
    pub pods: bool,
    pub cpu: bool,
    pub memory: bool,
}

/// Why a node cannot take a pod. `messages()` are Kubernetes' words, so that the summary a
/// user sees reads as kube-scheduler's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `node(s) were unschedulable`
    NodeUnschedulable,
    /// `node(s) had untolerated taint {key: value}`
    UntoleratedTaint { key: Arc<str>, value: Arc<str> },
    /// `node(s) didn't match Pod's node affinity/selector`
    NodeAffinity,
    /// `node(s) didn't have free ports for the requested pod ports`
    NodePorts,
    /// `Too many pods`, `Insufficient cpu`, `Insufficient memory`
    Insufficient(Shortfall),
    /// `node(s) didn't match pod topology spread constraints`
    TopologySpread,
    /// `node(s) didn't match pod topology spread constraints (missing required label)`
    TopologySpreadMissingLabel,
    /// `node(s) didn't match pod affinity rules`
    PodAffinity,
    /// `node(s) didn't match pod anti-affinity rules`
    PodAntiAffinity,
    /// `node(s) didn't satisfy existing pods anti-affinity rules`
    ExistingPodsAntiAffinity,
    /// A plugin's own words.
    Other(Arc<str>),
}

impl Reason {
    /// The reasons as Kubernetes words them; a resource shortfall is one message per resource.
    pub fn messages(&self) -> Vec<Cow<'static, str>> {
        let one = |s: &'static str| vec![Cow::Borrowed(s)];
        match self {
            Reason::NodeUnschedulable => one("node(s) were unschedulable"),
            Reason::UntoleratedTaint { key, value } => {
                vec![Cow::Owned(format!(
                    "node(s) had untolerated taint {{{key}: {value}}}"
                ))]
            }
            Reason::NodeAffinity => one("node(s) didn't match Pod's node affinity/selector"),
            Reason::NodePorts => one("node(s) didn't have free ports for the requested pod ports"),
            Reason::Insufficient(s) => {
                let mut out = Vec::new();
                if s.pods {
                    out.push(Cow::Borrowed("Too many pods"));
                }
                if s.cpu {
                    out.push(Cow::Borrowed("Insufficient cpu"));
                }
                if s.memory {
                    out.push(Cow::Borrowed("Insufficient memory"));
                }
                out
            }
            Reason::TopologySpread => one("node(s) didn't match pod topology spread constraints"),
            Reason::TopologySpreadMissingLabel => {
                one("node(s) didn't match pod topology spread constraints (missing required label)")
            }
            Reason::PodAffinity => one("node(s) didn't match pod affinity rules"),
            Reason::PodAntiAffinity => one("node(s) didn't match pod anti-affinity rules"),
            Reason::ExistingPodsAntiAffinity => {
                one("node(s) didn't satisfy existing pods anti-affinity rules")
            }
            Reason::Other(s) => vec![Cow::Owned(s.to_string())],
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages().join(", "))
    }
}

/// A filter's verdict on one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Fit,
    Unschedulable(Reason),
}

/// A filter prepared for one pod: the per-node check.
pub type NodeFilter<'a> = Box<dyn Fn(&NodeInfo) -> Status + Send + Sync + 'a>;

/// A filter plugin (Kubernetes' PreFilter + Filter).
///
/// Contract: `prepare` is called once per pod per decision and may precompute anything that
/// does not depend on the node; it returns `None` when the plugin has nothing to check for the
/// pod (every node fits). The returned check must be pure: the same node gives the same status.
/// A node a filter rejects is never chosen.
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>>;

    /// Checks one node (prepare + check; for tests and explanations, not for hot loops).
    fn filter(&self, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        match self.prepare(pod, snapshot) {
            Some(check) => check(node),
            None => Status::Fit,
        }
    }
}

/// How a scorer's raw scores become 0..=100 across the feasible nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// Raw scores already are 0..=100.
    None,
    /// The highest raw score becomes 100, the others proportionally (Kubernetes'
    /// `DefaultNormalizeScore`).
    Max,
    /// As `Max`, reversed: the highest raw score becomes 0, a raw 0 becomes 100.
    ReverseMax,
    /// Kubernetes' topology spread scoring: with min and max over the nodes, a raw `s` becomes
    /// `100 * (max + min - s) / max` (fewer matching pods, higher score); a negative raw score
    /// (a node outside the topology) becomes 0.
    Spread,
}

impl Normalize {
    pub fn apply(self, scores: &mut [i64]) {
        match self {
            Normalize::None => {
                for s in scores {
                    *s = (*s).clamp(0, MAX_NODE_SCORE);
                }
            }
            Normalize::Max | Normalize::ReverseMax => {
                let reverse = self == Normalize::ReverseMax;
                let max = scores.iter().copied().max().unwrap_or(0);
                for s in scores {
                    let v = if max <= 0 {
                        0
                    } else {
                        (MAX_NODE_SCORE * *s / max).clamp(0, MAX_NODE_SCORE)
                    };
                    *s = if reverse { MAX_NODE_SCORE - v } else { v };
                }
            }
            Normalize::Spread => {
                // Negative raw scores mark nodes outside every domain: they score 0.
                let eligible = || scores.iter().copied().filter(|s| *s >= 0);
                let max = eligible().max().unwrap_or(0);
                let min = eligible().min().unwrap_or(0);
                for s in scores.iter_mut() {
                    *s = if *s < 0 {
                        0
                    } else if max == 0 {
                        MAX_NODE_SCORE
                    } else {
                        MAX_NODE_SCORE * (max + min - *s) / max
                    };
                }
            }
        }
    }
}

/// A scorer prepared for one pod: the per-node raw score and how to normalize it.
pub struct NodeScorer<'a> {
    pub score: Box<dyn Fn(&NodeInfo) -> i64 + Send + Sync + 'a>,
    pub normalize: Normalize,
}

/// A score plugin (Kubernetes' PreScore + Score + NormalizeScore).
///
/// Contract: `prepare` is called once per pod per decision with at least two feasible nodes;
/// `None` means the plugin has no opinion (every node scores the same). Scores must be pure and
/// after normalization lie in 0..=100.
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeScorer<'a>>;
}

/// The named profiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfileName {
    /// Spread pods out: least-allocated, balanced allocation, image locality, preferences,
    /// replicas of one controller on different nodes.
    #[default]
    Spread,
    /// Pack pods onto the fullest nodes that fit (most-allocated), honouring preferences.
    BinPack,
}

/// Which plugins run, in which order, with which score weights.
pub struct Profile {
    pub name: &'static str,
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scores: Vec<(Box<dyn ScorePlugin>, i64)>,
    /// Stop filtering once this share of the nodes is found feasible (Kubernetes'
    /// `percentageOfNodesToScore`); 0 adapts to the cluster size (50% minus 1% per 125 nodes,
    /// at least 5%), 100 always looks at every node. Clusters under 100 nodes are always
    /// looked at whole.
    pub percentage_of_nodes_to_score: u32,
}

impl Profile {
    pub fn named(name: ProfileName) -> Profile {
        match name {
            ProfileName::Spread => Profile::spread(),
            ProfileName::BinPack => Profile::binpack(),
        }
    }

    /// The default: every filter, then least-allocated (1), balanced allocation (1), image
    /// locality (1), preferred node affinity (2), PreferNoSchedule taints (3) and topology
    /// spread including replicas of one controller (2) — kube-scheduler's default weights.
    pub fn spread() -> Profile {
        use crate::plugins::*;
        Profile {
            name: "spread",
            filters: default_filters(),
            scores: vec![
                (Box::new(LeastAllocated), 1),
                (Box::new(BalancedAllocation), 1),
                (Box::new(ImageLocality), 1),
                (Box::new(NodeAffinity), 2),
                (Box::new(TaintToleration), 3),
                (
                    Box::new(PodTopologySpread {
                        default_spread: true,
                    }),
                    2,
                ),
            ],
            percentage_of_nodes_to_score: 0,
        }
    }

    /// Bin-packing: every filter, then most-allocated (1) with the user's own preferences
    /// (preferred node affinity 2, PreferNoSchedule taints 3, explicit soft spread 2).
    pub fn binpack() -> Profile {
        use crate::plugins::*;
        Profile {
            name: "binpack",
            filters: default_filters(),
            scores: vec![
                (Box::new(MostAllocated), 1),
                (Box::new(NodeAffinity), 2),
                (Box::new(TaintToleration), 3),
                (
                    Box::new(PodTopologySpread {
                        default_spread: false,
                    }),
                    2,
                ),
            ],
            percentage_of_nodes_to_score: 0,
        }
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filters: Vec<&str> = self.filters.iter().map(|p| p.name()).collect();
        let scores: Vec<(&str, i64)> = self.scores.iter().map(|(p, w)| (p.name(), *w)).collect();
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("filters", &filters)
            .field("scores", &scores)
            .field(
                "percentage_of_nodes_to_score",
                &self.percentage_of_nodes_to_score,
            )
            .finish()
    }
}

/// Kubernetes' filter order: cheap and decisive first; the first failing filter names the
/// node's reason.
fn default_filters() -> Vec<Box<dyn FilterPlugin>> {
    use crate::plugins::*;
    vec![
        Box::new(NodeUnschedulable),
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodePorts),
        Box::new(NodeResourcesFit),
        Box::new(PodTopologySpread {
            default_spread: false,
        }),
        Box::new(InterPodAffinity),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_use_kubernetes_words() {
        let taint = Reason::UntoleratedTaint {
            key: "node.kubernetes.io/unreachable".into(),
            value: "".into(),
        };
        assert_eq!(
            taint.to_string(),
            "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"
        );
        let short = Reason::Insufficient(Shortfall {
            pods: true,
            cpu: false,
            memory: true,
        });
        assert_eq!(
            short.messages(),
            vec!["Too many pods", "Insufficient memory"]
        );
    }

    #[test]
    fn normalization_matches_kubernetes() {
        let mut s = vec![0, 5, 10];
        Normalize::Max.apply(&mut s);
        assert_eq!(s, [0, 50, 100]);
        let mut s = vec![0, 5, 10];
        Normalize::ReverseMax.apply(&mut s);
        assert_eq!(s, [100, 50, 0]);
        let mut s = vec![0, 0];
        Normalize::ReverseMax.apply(&mut s);
        assert_eq!(s, [100, 100]);
        let mut s = vec![1, 2, 3];
        Normalize::Spread.apply(&mut s);
        assert_eq!(s, [100, 66, 33]);
    }
}
