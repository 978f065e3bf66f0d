//! `schedule_one`: one placement decision, pure — filter the nodes, score the feasible ones,
//! take the best, break ties with the caller's seeded random source.

use std::sync::Arc;

use rand::Rng;

use crate::explain::Diagnosis;
use crate::framework::{NodeFilter, Profile, Status};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// Clusters smaller than this are always filtered whole.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive share of nodes to find feasible starts here...
const BASE_PERCENTAGE_OF_NODES_TO_SCORE: usize = 50;
/// ...and never goes below this.
const MIN_PERCENTAGE_OF_NODES_TO_SCORE: usize = 5;

/// Where a pod goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub node: Arc<str>,
    /// The weighted sum of the node's scores (0 when only one node was feasible).
    pub score: i64,
    /// How many feasible nodes were found (filtering may stop early on large clusters).
    pub feasible: usize,
    /// How many nodes were filtered.
    pub evaluated: usize,
}

/// Why a pod fits nowhere: Kubernetes' summary plus the count per reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{summary}")]
pub struct Unschedulable {
    /// `0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory.`
    pub summary: String,
    /// Nodes per reason message.
    pub reasons: Vec<(String, usize)>,
}

/// How many feasible nodes to look for before scoring (Kubernetes' `numFeasibleNodesToFind`).
pub fn feasible_nodes_to_find(nodes: usize, percentage: u32) -> usize {
    if nodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100 {
        return nodes;
    }
    let pct = match usize::try_from(percentage).unwrap_or(100) {
        0 => BASE_PERCENTAGE_OF_NODES_TO_SCORE
            .saturating_sub(nodes / 125)
            .max(MIN_PERCENTAGE_OF_NODES_TO_SCORE),
        p => p,
    };
    (nodes * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Chooses a node for `pod`.
///
/// Filters run in the profile's order and the first that rejects a node gives its reason.
/// On clusters of 100 nodes or more, filtering starts at a random node and stops once enough
/// feasible nodes are found (see [`feasible_nodes_to_find`]). Feasible nodes are scored by every
/// score plugin, normalized to 0..=100 and weighted; among the best, one is drawn from `rng`
/// (reservoir sampling, equivalent to shuffling the ties). The same snapshot, pod and random
/// source always give the same answer.
pub fn schedule_one<R: Rng + ?Sized>(
    pod: &PodInfo,
    snapshot: &Snapshot,
    profile: &Profile,
    rng: &mut R,
) -> Result<Placement, Unschedulable> {
    let nodes = snapshot.nodes();
    if nodes.is_empty() {
        return Err(Unschedulable {
            summary: Diagnosis::default().summary(0),
            reasons: Vec::new(),
        });
    }
    let filters: Vec<NodeFilter<'_>> = profile
        .filters
        .iter()
        .filter_map(|f| f.prepare(pod, snapshot))
        .collect();
    let want = feasible_nodes_to_find(nodes.len(), profile.percentage_of_nodes_to_score);
    let start = if want < nodes.len() {
        rng.random_range(0..nodes.len())
    } else {
        0
    };
    let mut feasible: Vec<usize> = Vec::with_capacity(want.min(1024));
    let mut diagnosis = Diagnosis::default();
    let mut evaluated = 0;
    for i in 0..nodes.len() {
        let index = (start + i) % nodes.len();
        let node = &nodes[index];
        evaluated += 1;
        let rejected = filters.iter().find_map(|f| match f(node) {
            Status::Fit => None,
            Status::Unschedulable(reason) => Some(reason),
        });
        match rejected {
            Some(reason) => diagnosis.add(&reason),
            None => {
                feasible.push(index);
                if feasible.len() >= want {
                    break;
                }
            }
        }
    }
    if feasible.is_empty() {
        let unschedulable = Unschedulable {
            summary: diagnosis.summary(nodes.len()),
            reasons: diagnosis.counts().into_iter().collect(),
        };
        tracing::debug!(pod = %pod.key, summary = %unschedulable.summary, "unschedulable");
        return Err(unschedulable);
    }
    if let [only] = feasible.as_slice() {
        return Ok(Placement {
            node: nodes[*only].name.clone(),
            score: 0,
            feasible: 1,
            evaluated,
        });
    }
    let totals = score(pod, snapshot, profile, &feasible);
    let mut best = 0;
    let mut ties = 0u32;
    for (j, &total) in totals.iter().enumerate() {
        if total > totals[best] {
            best = j;
            ties = 1;
        } else if total == totals[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = j;
            }
        }
    }
    Ok(Placement {
        node: nodes[feasible[best]].name.clone(),
        score: totals[best],
        feasible: feasible.len(),
        evaluated,
    })
}

/// Weighted, normalized totals for the feasible nodes (by index into the snapshot).
fn score(pod: &PodInfo, snapshot: &Snapshot, profile: &Profile, feasible: &[usize]) -> Vec<i64> {
    let nodes = snapshot.nodes();
    let mut totals = vec![0i64; feasible.len()];
    let mut raw = vec![0i64; feasible.len()];
    for (plugin, weight) in &profile.scores {
        let Some(scorer) = plugin.prepare(pod, snapshot) else {
            continue;
        };
        for (r, &i) in raw.iter_mut().zip(feasible) {
            *r = (scorer.score)(&nodes[i]);
        }
        scorer.normalize.apply(&mut raw);
        for (t, r) in totals.iter_mut().zip(&raw) {
            *t += r * weight;
        }
    }
    totals
}

#[cfg(test)]
mod tests;
