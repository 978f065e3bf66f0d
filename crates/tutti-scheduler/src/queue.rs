//! The scheduling queue: pending pods waiting for a decision (highest priority first, then
//! first come), pods that fit nowhere waiting for the cluster to change, pods backing off
//! after a failed write, and pods whose binding is in flight or awaiting its watch event.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

/// Pods that fit nowhere are retried at least this often, even if nothing seems to change.
pub const UNSCHEDULABLE_RETRY: Duration = Duration::from_secs(30);

/// Active pods sort by priority (highest first), then arrival.
type Order = (Reverse<i32>, u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for a decision.
    Active,
    /// Fit nowhere; retried when the cluster changes or after [`UNSCHEDULABLE_RETRY`].
    Unschedulable { since: Instant },
    /// A write failed; retried after the instant.
    Backoff { until: Instant },
    /// A binding is being written.
    Binding,
    /// Bound (by us or someone else); waiting for the watch to show it.
    Bound,
}

#[derive(Clone, Debug)]
struct Entry {
    pod: Pod,
    order: Order,
    stage: Stage,
}

/// Pending pods by `namespace/name`.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    next: u64,
    active: BTreeSet<(Order, Arc<str>)>,
    entries: HashMap<Arc<str>, Entry>,
}

impl SchedulingQueue {
    /// A pending pod was seen: new ones join the active queue; known ones keep their place and
    /// stage with the newer object.
    pub fn upsert(&mut self, key: &str, pod: Pod) {
        if let Some(e) = self.entries.get_mut(key) {
            e.pod = pod;
            return;
        }
        let priority = pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        let order = (Reverse(priority), self.next);
        self.next += 1;
        let key: Arc<str> = key.into();
        self.active.insert((order, key.clone()));
        self.entries.insert(
            key,
            Entry {
                pod,
                order,
                stage: Stage::Active,
            },
        );
    }

    /// The pod is gone, bound as seen by the watch, or no longer ours.
    pub fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.active.remove(&(e.order, key.into()));
        }
    }

    /// The next pod to decide on; it moves to the binding stage until told otherwise.
    pub fn pop(&mut self) -> Option<(Arc<str>, Pod)> {
        let (_, key) = self.active.pop_first()?;
        let e = self.entries.get_mut(&key)?;
        e.stage = Stage::Binding;
        Some((key, e.pod.clone()))
    }

    pub fn unschedulable(&mut self, key: &str, now: Instant) {
        self.set_stage(key, Stage::Unschedulable { since: now });
    }

    pub fn backoff(&mut self, key: &str, until: Instant) {
        self.set_stage(key, Stage::Backoff { until });
    }

    pub fn bound(&mut self, key: &str) {
        self.set_stage(key, Stage::Bound);
    }

    /// Something changed that may let pods fit: every unschedulable pod is tried again.
    pub fn cluster_changed(&mut self) {
        self.activate_where(|s| matches!(s, Stage::Unschedulable { .. }));
    }

    /// Backoffs that are over, and pods unschedulable for [`UNSCHEDULABLE_RETRY`], are tried again.
    pub fn tick(&mut self, now: Instant) {
        self.activate_where(|s| match s {
            Stage::Backoff { until } => until <= now,
            Stage::Unschedulable { since } => now.duration_since(since) >= UNSCHEDULABLE_RETRY,
            _ => false,
        });
    }

    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    #[cfg(test)]
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Keys of every pod the queue holds.
    pub fn keys(&self) -> Vec<Arc<str>> {
        self.entries.keys().cloned().collect()
    }

    fn set_stage(&mut self, key: &str, stage: Stage) {
        if let Some(e) = self.entries.get_mut(key) {
            if e.stage == Stage::Active {
                self.active.remove(&(e.order, key.into()));
            }
            e.stage = stage;
        }
    }

    fn activate_where(&mut self, pick: impl Fn(Stage) -> bool) {
        for (key, e) in self.entries.iter_mut() {
            if pick(e.stage) {
                e.stage = Stage::Active;
                self.active.insert((e.order, key.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::PodBuilder;

    fn pod(name: &str, priority: i32) -> Pod {
        let mut p = PodBuilder::new(name).build();
        if let Some(s) = p.spec.as_mut() {
            s.priority = Some(priority);
        }
        p
    }

    fn drain(q: &mut SchedulingQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop().map(|(k, _)| k.to_string())).collect()
    }

    #[test]
    fn first_come_first_served_within_a_priority() {
        let mut q = SchedulingQueue::default();
        q.upsert("ns/a", pod("a", 0));
        q.upsert("ns/b", pod("b", 10));
        q.upsert("ns/c", pod("c", 0));
        q.upsert("ns/a", pod("a", 0));
        assert_eq!(drain(&mut q), ["ns/b", "ns/a", "ns/c"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_change_or_the_retry_interval() {
        let mut q = SchedulingQueue::default();
        let t0 = Instant::now();
        q.upsert("ns/a", pod("a", 0));
        q.pop();
        q.unschedulable("ns/a", t0);
        q.upsert("ns/a", pod("a", 0));
        q.tick(t0 + Duration::from_secs(1));
        assert!(
            !q.has_active(),
            "a status update of the pod itself does not retry it"
        );
        q.cluster_changed();
        assert_eq!(drain(&mut q), ["ns/a"]);
        q.unschedulable("ns/a", t0);
        q.tick(t0 + UNSCHEDULABLE_RETRY);
        assert_eq!(drain(&mut q), ["ns/a"]);
    }

    #[test]
    fn bound_and_binding_pods_are_not_retried() {
        let mut q = SchedulingQueue::default();
        q.upsert("ns/a", pod("a", 0));
        q.upsert("ns/b", pod("b", 0));
        q.pop();
        q.pop();
        q.bound("ns/a");
        q.cluster_changed();
        q.tick(Instant::now() + UNSCHEDULABLE_RETRY);
        assert!(!q.has_active());
        q.backoff("ns/b", Instant::now());
        q.tick(Instant::now());
        assert_eq!(drain(&mut q), ["ns/b"]);
        q.remove("ns/a");
        assert!(!q.contains("ns/a"));
    }
}
