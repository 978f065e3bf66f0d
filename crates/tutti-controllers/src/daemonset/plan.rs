//! The DaemonSet controller's decision, pure: from a DaemonSet, the nodes, its pods, the
//! template hash and the time, which nodes get a pod, which pods go, and the status
//! (Kubernetes' `manage`, `rollingUpdate` without surge, and `updateDaemonSetStatus`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::placement::{NodeFit, node_fit, target_node};
use super::pod::REVISION_HASH;
use crate::pods::{is_available, is_ready, phase, until_available};

/// What one reconcile of a DaemonSet does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaemonPlan {
    /// Nodes that get a new pod.
    pub create_on: Vec<String>,
    /// Pods to delete: misplaced, duplicate, failed, or old ones being rolled.
    pub delete: Vec<String>,
    /// Failed pods among `delete` and their nodes (a Warning each).
    pub failed: Vec<(String, String)>,
    /// The status as things are now (before the plan is carried out).
    pub status: DaemonSetStatus,
    /// Look again then (a pod becoming available after `minReadySeconds`).
    pub requeue_after: Option<Duration>,
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn hash_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH)
        .map(String::as_str)
}

/// `maxUnavailable` against the number of nodes that should run a pod (percentages round
/// up); at least 1, since there is no surge to make progress otherwise.
fn max_unavailable(ds: &DaemonSet, desired: usize) -> usize {
    let value = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::Int(1));
    let n = match value {
        IntOrString::Int(i) => usize::try_from(i).unwrap_or(0),
        IntOrString::String(s) => {
            let percent: usize = s.trim_end_matches('%').parse().unwrap_or(0);
            (percent * desired).div_ceil(100)
        }
    };
    n.max(1)
}

/// Decide what to do about a DaemonSet given every node and the pods it controls.
pub fn plan(
    ds: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    hash: &str,
    now: Timestamp,
) -> DaemonPlan {
    let mut out = DaemonPlan::default();
    let Some(spec) = ds.spec.as_ref() else {
        return out;
    };
    let template = spec.template.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let fits: BTreeMap<String, NodeFit> = nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.clone()?, node_fit(&template, n))))
        .collect();
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        if let Some(node) = target_node(pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    for list in by_node.values_mut() {
        list.sort_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone(),
                p.metadata.name.clone(),
            )
        });
    }
    let live = |node: &str| -> Vec<&Pod> {
        by_node
            .get(node)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    };

    // Place and clean up (Kubernetes' podsShouldBeOnNode).
    for (node, fit) in &fits {
        let here = by_node.get(node).map_or(0, Vec::len);
        if fit.should_run && here == 0 {
            out.create_on.push(node.clone());
        } else if fit.should_continue_running {
            let mut running = Vec::new();
            for pod in live(node) {
                if phase(pod) == "Failed" {
                    out.delete.push(name(pod));
                    out.failed.push((name(pod), node.clone()));
                } else {
                    running.push(pod);
                }
            }
            // Several pods on one node: keep the oldest.
            out.delete.extend(running.iter().skip(1).map(|p| name(p)));
        } else {
            out.delete.extend(live(node).iter().map(|p| name(p)));
        }
    }
    // Pods for nodes that no longer exist.
    for node in by_node.keys().filter(|n| !fits.contains_key(*n)) {
        out.delete.extend(live(node).iter().map(|p| name(p)));
    }

    // Status, from the pods as they are.
    let mut status = ds.status.clone().unwrap_or_default();
    let (mut desired, mut current, mut ready, mut available, mut updated, mut misscheduled) =
        (0, 0, 0, 0, 0, 0);
    let mut next_available: Option<Duration> = None;
    for (node, fit) in &fits {
        let here = live(node);
        if !fit.should_run {
            misscheduled += usize::from(!here.is_empty());
            continue;
        }
        desired += 1;
        let Some(oldest) = here.first() else { continue };
        current += 1;
        if is_ready(oldest) {
            ready += 1;
        }
        if is_available(oldest, min_ready, now) {
            available += 1;
        } else if let Some(left) = until_available(oldest, min_ready, now) {
            let left = left.unsigned_abs();
            next_available = Some(next_available.map_or(left, |n| n.min(left)));
        }
        updated += usize::from(hash_of(oldest) == Some(hash));
    }
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let optional = |n: usize| (n > 0).then(|| count(n));
    status.desired_number_scheduled = count(desired);
    status.current_number_scheduled = count(current);
    status.number_ready = count(ready);
    status.number_available = optional(available);
    status.number_unavailable = optional(desired.saturating_sub(available));
    status.updated_number_scheduled = optional(updated);
    status.number_misscheduled = count(misscheduled);
    status.observed_generation = ds.metadata.generation;
    out.status = status;
    out.requeue_after = next_available;

    // Roll old pods, at most maxUnavailable nodes down at a time.
    let strategy = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref());
    if strategy.is_none_or(|t| t == "RollingUpdate") {
        let budget = max_unavailable(ds, desired);
        let mut unavailable = 0;
        let mut replace_now = Vec::new();
        let mut candidates = Vec::new();
        for (node, _) in fits.iter().filter(|(_, f)| f.should_run) {
            let here: Vec<&Pod> = live(node)
                .into_iter()
                .filter(|p| !out.delete.contains(&name(p)))
                .collect();
            let (new, old): (Vec<&Pod>, Vec<&Pod>) =
                here.into_iter().partition(|p| hash_of(p) == Some(hash));
            match (new.as_slice(), old.as_slice()) {
                ([], [old]) if !is_available(old, min_ready, now) => replace_now.push(name(old)),
                ([], [old]) => candidates.push(name(old)),
                ([new], []) if is_available(new, min_ready, now) => {}
                _ => unavailable += 1,
            }
        }
        let room = budget.saturating_sub(unavailable).min(candidates.len());
        out.delete.extend(replace_now);
        out.delete.extend(candidates.into_iter().take(room));
    }
    out
}

#[cfg(test)]
mod tests;
