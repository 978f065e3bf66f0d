//! The budget arithmetic of the disruption controller, pure: from a PodDisruptionBudget, the
//! pods its selector matches, the expected number of pods and the clock, the status Kubernetes'
//! disruption controller would write (`currentHealthy`, `desiredHealthy`, `expectedPods`,
//! `disruptionsAllowed`, the `DisruptionAllowed` condition, pruned `disruptedPods`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

use crate::pods;

/// How long an eviction's entry in `disruptedPods` keeps its pod out of the healthy count;
/// a pod still there after this was not deleted after all (Kubernetes' `DeletionTimeout`).
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

pub const CONDITION: &str = "DisruptionAllowed";

/// Whether the expected pod count must come from the pods' controllers (their scale), as
/// for `maxUnavailable` and percentage `minAvailable`; otherwise it is the number of pods.
pub fn needs_scale(pdb: &PodDisruptionBudget) -> bool {
    let spec = pdb.spec.as_ref();
    spec.and_then(|s| s.max_unavailable.as_ref()).is_some()
        || matches!(
            spec.and_then(|s| s.min_available.as_ref()),
            Some(IntOrString::String(_))
        )
}

/// `GetScaledValueFromIntOrPercent(value, total, roundUp=true)`; `None` for a malformed
/// percentage (validation refuses those).
pub fn scaled(value: &IntOrString, total: i32) -> Option<i32> {
    match value {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            let scaled = (percent * i64::from(total) + 99).div_euclid(100);
            i32::try_from(scaled).ok()
        }
    }
}

/// `(expectedPods, desiredHealthy)` for `expected` pods (the scale, or the number of pods).
/// A budget with neither bound expects and desires nothing, as in Kubernetes.
pub fn expected_and_desired(pdb: &PodDisruptionBudget, expected: i32) -> (i32, i32) {
    let spec = pdb.spec.clone().unwrap_or_default();
    if let Some(max) = &spec.max_unavailable {
        let max = scaled(max, expected).unwrap_or(0);
        return (expected, (expected - max).max(0));
    }
    match &spec.min_available {
        Some(min) => (expected, scaled(min, expected).unwrap_or(0)),
        None => (0, 0),
    }
}

/// The `disruptedPods` entries still pending: pods that exist, are not yet terminating, and
/// were evicted less than [`DELETION_TIMEOUT`] ago. Also returns when the next entry expires.
pub fn live_disruptions(
    pdb: &PodDisruptionBudget,
    pods: &[Pod],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>) {
    let recorded = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    let mut live = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    for pod in pods.iter().filter(|p| !pods::is_terminating(&p.metadata)) {
        let Some(at) = recorded.get(&pod.name_any()) else {
            continue;
        };
        let Ok(expires) = at.0.checked_add(DELETION_TIMEOUT) else {
            continue;
        };
        if expires > now {
            recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
            live.insert(pod.name_any(), at.clone());
        }
    }
    (live, recheck)
}

/// Pods counted healthy: Running and Ready, not terminating, not just evicted.
pub fn current_healthy(pods: &[Pod], disrupted: &BTreeMap<String, Time>) -> i32 {
    let healthy = pods
        .iter()
        .filter(|p| !pods::is_terminating(&p.metadata))
        .filter(|p| !disrupted.contains_key(&p.name_any()))
        .filter(|p| pods::phase(p) == "Running" && pods::is_ready(p))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// The status to write, and when to look again for an expiring disruption.
pub fn calculate(
    pdb: &PodDisruptionBudget,
    pods: &[Pod],
    expected: i32,
    now: Timestamp,
) -> (PodDisruptionBudgetStatus, Option<Timestamp>) {
    let (expected_pods, desired_healthy) = expected_and_desired(pdb, expected);
    let (disrupted, recheck) = live_disruptions(pdb, pods, now);
    let healthy = current_healthy(pods, &disrupted);
    // A budget expecting no pods stays safe until it has counted the ones that appear.
    let allowed = if expected_pods <= 0 {
        0
    } else {
        (healthy - desired_healthy).max(0)
    };
    let generation = pdb.metadata.generation.unwrap_or(0);
    let (status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let old = pdb.status.clone().unwrap_or_default();
    let condition = condition(&old, status, reason, "", generation, now);
    let new = PodDisruptionBudgetStatus {
        current_healthy: healthy,
        desired_healthy,
        expected_pods,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: Some(generation),
        conditions: Some(with_condition(&old, condition)),
    };
    (new, recheck)
}

/// The status after a failed sync: no disruptions until the budget can be computed again.
pub fn fail_safe(
    pdb: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let generation = pdb.metadata.generation.unwrap_or(0);
    let condition = condition(&status, "False", "SyncFailed", message, generation, now);
    status.conditions = Some(with_condition(&status, condition));
    status
}

/// A `DisruptionAllowed` condition, keeping the old transition time if its status is unchanged
/// (`meta.SetStatusCondition`).
fn condition(
    old: &PodDisruptionBudgetStatus,
    status: &str,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) -> Condition {
    let since = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == CONDITION && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: CONDITION.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: Some(generation),
        last_transition_time: since,
    }
}

fn with_condition(old: &PodDisruptionBudgetStatus, condition: Condition) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ != CONDITION)
        .cloned()
        .collect();
    conditions.push(condition);
    conditions
}

#[cfg(test)]
mod tests;
