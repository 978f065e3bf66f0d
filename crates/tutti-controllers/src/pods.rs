//! Pure helpers for controllers that own pods: pod state (active, ready, available),
//! controller ownerReferences and claiming (adopt / release), pods from templates, and the
//! order in which surplus pods are deleted. No IO, no clocks: callers pass `now`.
//!
//! Stable API: the ReplicaSet and Deployment controllers own this module, and the other
//! workload controllers (DaemonSet, Job) use it read-only. Add functions freely; do not change
//! the signature or meaning of an existing one without telling its users.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use tutti_core::labels::Selector;

/// Annotation a user sets to say which pods of a ReplicaSet go first on scale-down
/// (lower cost first), as in Kubernetes.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Whether the object has a deletionTimestamp (it is going away).
pub fn is_terminating(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// What the controllers that own pods read of a pod: a whole [`Pod`] from the API, or the
/// compact copy the shared pod cache keeps ([`crate::pod_cache::CachedPod`]). The helpers
/// below take either.
pub trait PodFacts {
    /// `metadata.name`.
    fn pod_name(&self) -> &str;
    /// `metadata.uid`.
    fn pod_uid(&self) -> &str;
    /// `metadata.labels`.
    fn pod_labels(&self) -> &BTreeMap<String, String>;
    /// Whether the pod has a deletionTimestamp.
    fn deleting(&self) -> bool;
    /// `metadata.creationTimestamp`.
    fn created_at(&self) -> Option<Timestamp>;
    /// `status.phase`, or `""` when it has none yet.
    fn pod_phase(&self) -> &str;
    /// `spec.nodeName`, or `""` when unassigned.
    fn node(&self) -> &str;
    /// Whether the `Ready` condition is `True`, and since when (its lastTransitionTime).
    fn readiness(&self) -> (bool, Option<Timestamp>);
    /// The most restarts of any of its containers.
    fn restarts(&self) -> i32;
    /// Its [`POD_DELETION_COST`] (0 when unset or not a number).
    fn deletion_cost(&self) -> i32;
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl PodFacts for Pod {
    fn pod_name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }
    fn pod_uid(&self) -> &str {
        self.metadata.uid.as_deref().unwrap_or("")
    }
    fn pod_labels(&self) -> &BTreeMap<String, String> {
        self.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }
    fn deleting(&self) -> bool {
        is_terminating(&self.metadata)
    }
    fn created_at(&self) -> Option<Timestamp> {
        self.metadata.creation_timestamp.as_ref().map(|t| t.0)
    }
    fn pod_phase(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("")
    }
    fn node(&self) -> &str {
        self.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or("")
    }
    fn readiness(&self) -> (bool, Option<Timestamp>) {
        match ready_condition(self) {
            Some(c) if c.status == "True" => (true, c.last_transition_time.as_ref().map(|t| t.0)),
            _ => (false, None),
        }
    }
    fn restarts(&self) -> i32 {
        self.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.restart_count)
            .max()
            .unwrap_or(0)
    }
    fn deletion_cost(&self) -> i32 {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(POD_DELETION_COST))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

macro_rules! forward_pod_facts {
    ($($ty:ty),*) => {$(
        impl<T: PodFacts + ?Sized> PodFacts for $ty {
            fn pod_name(&self) -> &str { (**self).pod_name() }
            fn pod_uid(&self) -> &str { (**self).pod_uid() }
            fn pod_labels(&self) -> &BTreeMap<String, String> { (**self).pod_labels() }
            fn deleting(&self) -> bool { (**self).deleting() }
            fn created_at(&self) -> Option<Timestamp> { (**self).created_at() }
            fn pod_phase(&self) -> &str { (**self).pod_phase() }
            fn node(&self) -> &str { (**self).node() }
            fn readiness(&self) -> (bool, Option<Timestamp>) { (**self).readiness() }
            fn restarts(&self) -> i32 { (**self).restarts() }
            fn deletion_cost(&self) -> i32 { (**self).deletion_cost() }
        }
    )*};
}
forward_pod_facts!(&T, std::sync::Arc<T>);

/// The pod's phase, or `""` when it has none yet.
pub fn phase<P: PodFacts + ?Sized>(pod: &P) -> &str {
    pod.pod_phase()
}

/// An active pod counts towards a controller's replicas: not terminating, not finished.
pub fn is_active<P: PodFacts + ?Sized>(pod: &P) -> bool {
    !pod.deleting() && !matches!(pod.pod_phase(), "Succeeded" | "Failed")
}

/// The pod's `Ready` condition, if it reported one.
pub fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready<P: PodFacts + ?Sized>(pod: &P) -> bool {
    pod.readiness().0
}

/// When a ready pod became ready (its `Ready` condition's lastTransitionTime).
pub fn ready_since<P: PodFacts + ?Sized>(pod: &P) -> Option<Timestamp> {
    pod.readiness().1
}

/// Whether the pod has been ready for more than `min_ready_seconds` at `now` (Kubernetes'
/// `IsPodAvailable`: with `min_ready_seconds == 0`, ready is available).
pub fn is_available<P: PodFacts + ?Sized>(pod: &P, min_ready_seconds: i32, now: Timestamp) -> bool {
    let (ready, since) = pod.readiness();
    if !ready {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    since.is_some_and(|since| {
        now.duration_since(since) > SignedDuration::from_secs(i64::from(min_ready_seconds))
    })
}

/// For a pod that is ready but not yet available, how long until it will be.
pub fn until_available<P: PodFacts + ?Sized>(
    pod: &P,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<SignedDuration> {
    if min_ready_seconds <= 0 || !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let since = ready_since(pod)?;
    let left = SignedDuration::from_secs(i64::from(min_ready_seconds)) - now.duration_since(since);
    Some(left.max(SignedDuration::ZERO))
}

/// The ownerReference marked `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// A controller ownerReference to `owner` (`controller` and `blockOwnerDeletion` set), or
/// `None` when the owner has no name or uid yet (it was not read from the API).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    let meta = owner.meta();
    Some(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// What a controller does with an object it lists (Kubernetes' `ClaimObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours and matching: manage it.
    Owned,
    /// An orphan matching our selector: take it (set our controller reference).
    Adopt,
    /// Ours but no longer matching: give it up (remove our reference).
    Release,
    /// Someone else's, or not ours and not matching, or going away: leave it alone.
    Ignore,
}

/// Decide what the controller with `owner_uid` (being deleted: `owner_deleting`) does with
/// an object (`child`) of the kind it manages, given its selector.
pub fn claim(
    owner_uid: &str,
    owner_deleting: bool,
    selector: &Selector,
    child: &ObjectMeta,
) -> Claim {
    let matches = selector.matches(child.labels.as_ref().unwrap_or(&NO_LABELS));
    match controller_of(child) {
        Some(r) if r.uid != owner_uid => Claim::Ignore,
        Some(_) if matches => Claim::Owned,
        // Ours but no longer matching: release, unless we are going away ourselves.
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if !matches || owner_deleting || is_terminating(child) => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The generateName prefix of a controller's pods: `<owner>-`.
pub fn generate_name_prefix(owner_name: &str) -> String {
    format!("{owner_name}-")
}

/// A pod to create from a controller's template: the template's labels, annotations,
/// finalizers and spec, `generateName: <owner>-`, and the controller reference.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    owner: OwnerReference,
    namespace: &str,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name_prefix(&owner.name)),
            namespace: Some(namespace.to_string()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Surplus pods in the order they should be deleted, best candidate first, as Kubernetes'
/// `ActivePodsWithRanks` orders them:
/// 1. unassigned before assigned;
/// 2. Pending before Unknown before Running;
/// 3. not ready before ready;
/// 4. lower `controller.kubernetes.io/pod-deletion-cost` first;
/// 5. pods doubled up on a node (more `related` active pods there) first;
/// 6. for ready pods, the more recently ready first (in logarithmic buckets of age);
/// 7. more container restarts first;
/// 8. newer before older (in logarithmic buckets of age; then by uid).
///
/// `related` are the pods counted for rule 5 (usually all active pods of the controller).
pub fn deletion_order<'a, P: PodFacts>(
    pods: &[&'a P],
    related: &[&P],
    now: Timestamp,
) -> Vec<&'a P> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_active(*p)) {
        *on_node.entry(p.node()).or_default() += 1;
    }
    let mut ranked: Vec<(&P, usize)> = pods
        .iter()
        .map(|p| (*p, on_node.get(p.node()).copied().unwrap_or(0)))
        .collect();
    ranked.sort_by(|(a, ra), (b, rb)| compare_for_deletion(a, *ra, b, *rb, now));
    ranked.into_iter().map(|(p, _)| p).collect()
}

/// `Less` when `a` should be deleted before `b` (see [`deletion_order`]); `rank_*` is the
/// number of related active pods on the pod's node.
pub fn compare_for_deletion<P: PodFacts + ?Sized>(
    a: &P,
    rank_a: usize,
    b: &P,
    rank_b: usize,
    now: Timestamp,
) -> Ordering {
    let (na, nb) = (a.node(), b.node());
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(a).cmp(&phase_ordinal(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ready_a, ready_b) = (is_ready(a), is_ready(b));
    if ready_a != ready_b {
        return if ready_a {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = a.deletion_cost().cmp(&b.deletion_cost());
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    // Every step compares a key of each pod alone, so the order is total (sorting panics
    // otherwise): times in the same age bucket are equal here, and only the last step
    // tells pods apart by uid.
    if ready_a && ready_b {
        let by_ready = newer_first(ready_since(a), ready_since(b), now);
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let by_restarts = b.restarts().cmp(&a.restarts());
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    let by_age = newer_first(a.created_at(), b.created_at(), now);
    if by_age != Ordering::Equal {
        return by_age;
    }
    a.pod_uid().cmp(b.pod_uid())
}

fn phase_ordinal<P: PodFacts + ?Sized>(pod: &P) -> u8 {
    match pod.pod_phase() {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// Kubernetes' `LogarithmicScaleDown`: a missing time goes first; otherwise times are
/// compared by the power-of-two bucket of their age, the younger bucket first, and pods in
/// the same bucket by uid (so the choice is spread rather than always the very newest).
fn newer_first(ta: Option<Timestamp>, tb: Option<Timestamp>, now: Timestamp) -> Ordering {
    match (ta, tb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(ta), Some(tb)) => age_bucket(ta, now).cmp(&age_bucket(tb, now)),
    }
}

/// floor(log2(age in nanoseconds)), or -1 for a time not in the past.
fn age_bucket(t: Timestamp, now: Timestamp) -> i32 {
    let nanos = now.duration_since(t).as_nanos();
    if nanos <= 0 {
        return -1;
    }
    // ilog2 of a positive i128 fits in an i32 (it is below 128).
    nanos.ilog2() as i32
}

#[cfg(test)]
mod tests;
