//! The pods that have a controller, as the shared pod watch ([`crate::pod_feed`]) last saw
//! them, grouped by their controller's uid, with Kubernetes' *expectations*: what a
//! controller created or deleted and has not seen yet in the cache.
//!
//! A controller that owns pods reads them here instead of listing them from the API on every
//! sync. Listing made a large ReplicaSet quadratic: it creates at most 500 pods per sync, so
//! 150,000 pods took ~300 LISTs of 75,000 pods on average. The cache keeps a compact copy of
//! each pod ([`CachedPod`]: what the owning controllers read, a few hundred bytes) rather
//! than the object, and nothing of pods without a controller (bare pods are the bulk of a
//! large cluster and no controller reads them).
//!
//! A cache lags the API, so a controller that acts on it must not act twice on one gap
//! (create 500 pods, sync again before seeing them, create 500 more). As in Kubernetes'
//! `ControllerExpectations`, it records how many pods it is about to create and which it is
//! about to delete; the cache counts them off as their changes arrive, and the controller
//! changes the number of pods again only when nothing is outstanding (or after
//! [`EXPECTATIONS_TTL`], so a change lost to a watch restart does not stall it forever).
//! Counting off happens when the cache is updated, before the change is handed to the
//! controllers, so a sync that finds its expectations met also finds those pods cached.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::pods::{self, PodFacts};

/// How long unmet expectations hold a controller back (Kubernetes' `ExpectationsTimeout`).
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(300);

/// What the owning controllers read of a pod (see [`PodFacts`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CachedPod {
    name: String,
    uid: String,
    /// Shared with the other pods of the same controller that carry the same labels.
    labels: Arc<BTreeMap<String, String>>,
    deleting: bool,
    created: Option<Timestamp>,
    phase: &'static str,
    node: String,
    ready: bool,
    ready_since: Option<Timestamp>,
    restarts: i32,
    deletion_cost: i32,
}

impl CachedPod {
    /// The compact copy of `pod`, with `labels` (equal to the pod's) shared.
    fn new(pod: &Pod, labels: Arc<BTreeMap<String, String>>) -> CachedPod {
        let (ready, ready_since) = pod.readiness();
        CachedPod {
            name: pod.pod_name().to_string(),
            uid: pod.pod_uid().to_string(),
            labels,
            deleting: pod.deleting(),
            created: pod.created_at(),
            phase: known_phase(pod.pod_phase()),
            node: pod.node().to_string(),
            ready,
            ready_since,
            restarts: pod.restarts(),
            deletion_cost: pod.deletion_cost(),
        }
    }

    /// Its labels, the same allocation for the pods of one controller that carry equal ones.
    pub fn shared_labels(&self) -> &Arc<BTreeMap<String, String>> {
        &self.labels
    }

    /// The compact copy of `pod`, labels not shared (for a pod read from the API).
    pub fn from_pod(pod: &Pod) -> CachedPod {
        CachedPod::new(pod, Arc::new(pod.pod_labels().clone()))
    }
}

/// Pod phases are a closed set; anything else reads as `Unknown`.
fn known_phase(phase: &str) -> &'static str {
    match phase {
        "" => "",
        "Pending" => "Pending",
        "Running" => "Running",
        "Succeeded" => "Succeeded",
        "Failed" => "Failed",
        _ => "Unknown",
    }
}

impl PodFacts for CachedPod {
    fn pod_name(&self) -> &str {
        &self.name
    }
    fn pod_uid(&self) -> &str {
        &self.uid
    }
    fn pod_labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    fn deleting(&self) -> bool {
        self.deleting
    }
    fn created_at(&self) -> Option<Timestamp> {
        self.created
    }
    fn pod_phase(&self) -> &str {
        self.phase
    }
    fn node(&self) -> &str {
        &self.node
    }
    fn readiness(&self) -> (bool, Option<Timestamp>) {
        (self.ready, self.ready_since)
    }
    fn restarts(&self) -> i32 {
        self.restarts
    }
    fn deletion_cost(&self) -> i32 {
        self.deletion_cost
    }
}

/// The cache; shared by the pod feed (which writes it) and the controllers (which read it).
#[derive(Debug, Default)]
pub struct PodCache {
    state: Mutex<State>,
    /// Whether the watch's first listing is complete.
    synced: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    /// Pods by their controller's uid, then by their own uid.
    owners: HashMap<String, Owned>,
    /// The controller uid of every cached pod, by pod uid.
    owner_of: HashMap<String, String>,
    expectations: HashMap<String, Expectation>,
    /// While the watch lists every pod again: the pods seen so far (the others are gone).
    relist: Option<HashSet<String>>,
}

#[derive(Debug, Default)]
struct Owned {
    pods: HashMap<String, Arc<CachedPod>>,
    /// The labels of the last pod stored, shared by the next ones that carry the same.
    labels: Arc<BTreeMap<String, String>>,
}

#[derive(Debug)]
struct Expectation {
    /// Creations not seen yet (may go below zero: pods made by someone else).
    adds: i64,
    /// Pods being deleted whose deletion was not seen yet.
    deletes: HashSet<String>,
    since: Instant,
}

impl Expectation {
    fn new() -> Expectation {
        Expectation {
            adds: 0,
            deletes: HashSet::new(),
            since: Instant::now(),
        }
    }

    fn met(&self) -> bool {
        (self.adds <= 0 && self.deletes.is_empty()) || self.since.elapsed() > EXPECTATIONS_TTL
    }
}

impl PodCache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until the watch's first listing is complete: before that the cache would tell a
    /// controller that its pods do not exist.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives in `self`, so waiting cannot fail for a closed channel.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// The pods whose controller has `owner_uid`, terminating ones included.
    pub fn owned_by(&self, owner_uid: &str) -> Vec<Arc<CachedPod>> {
        self.lock()
            .owners
            .get(owner_uid)
            .map(|o| o.pods.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A pod was added or changed (or listed).
    pub fn apply(&self, pod: &Pod) {
        let uid = pod.pod_uid();
        if uid.is_empty() {
            return;
        }
        let owner = pods::controller_of(&pod.metadata).map(|r| r.uid.as_str());
        let mut state = self.lock();
        if let Some(seen) = state.relist.as_mut()
            && owner.is_some()
        {
            // Only pods it keeps: the others have nothing to drop.
            seen.insert(uid.to_string());
        }
        let before = state.owner_of.get(uid).cloned();
        if before.is_some() && before.as_deref() != owner {
            // Released, or adopted by another controller: no longer the old owner's.
            state.remove(uid);
        }
        let Some(owner) = owner else {
            return;
        };
        let state = &mut *state;
        let owned = state.owners.entry(owner.to_string()).or_default();
        if *owned.labels != *pod.pod_labels() {
            owned.labels = Arc::new(pod.pod_labels().clone());
        }
        let cached = Arc::new(CachedPod::new(pod, owned.labels.clone()));
        let deleting = cached.deleting;
        let new = owned.pods.insert(uid.to_string(), cached).is_none();
        if new {
            state.owner_of.insert(uid.to_string(), owner.to_string());
        }
        if let Some(e) = state.expectations.get_mut(owner) {
            if new {
                e.adds -= 1;
            }
            if deleting {
                e.deletes.remove(uid);
            }
        }
    }

    /// A pod was deleted.
    pub fn delete(&self, pod: &Pod) {
        self.lock().remove(pod.pod_uid());
    }

    /// The watch starts listing every pod again (after it lost its place).
    pub fn relisting(&self) {
        self.lock().relist = Some(HashSet::new());
    }

    /// The listing is complete: pods it did not include were deleted meanwhile.
    pub fn listed(&self) {
        let mut state = self.lock();
        if let Some(seen) = state.relist.take() {
            let gone: Vec<String> = state
                .owner_of
                .keys()
                .filter(|uid| !seen.contains(*uid))
                .cloned()
                .collect();
            for uid in gone {
                state.remove(&uid);
            }
        }
        drop(state);
        self.synced.send_replace(true);
    }

    /// Whether the controller with `owner_uid` has seen everything it created and deleted
    /// (or waited [`EXPECTATIONS_TTL`]), so the cache shows the effect of its last changes.
    pub fn expectations_met(&self, owner_uid: &str) -> bool {
        self.lock()
            .expectations
            .get(owner_uid)
            .is_none_or(Expectation::met)
    }

    /// The controller is about to create `count` pods.
    pub fn expect_creations(&self, owner_uid: &str, count: usize) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let mut state = self.lock();
        let e = state.expectation(owner_uid);
        e.adds = e.adds.max(0).saturating_add(count);
    }

    /// `count` of the creations it expected did not happen (the requests failed).
    pub fn creations_failed(&self, owner_uid: &str, count: usize) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        if let Some(e) = self.lock().expectations.get_mut(owner_uid) {
            e.adds = e.adds.saturating_sub(count);
        }
    }

    /// The controller is about to delete the pods with these uids.
    pub fn expect_deletions<'a>(
        &self,
        owner_uid: &str,
        pod_uids: impl IntoIterator<Item = &'a str>,
    ) {
        let mut state = self.lock();
        let e = state.expectation(owner_uid);
        e.deletes.extend(pod_uids.into_iter().map(str::to_string));
    }

    /// A deletion it expected will not be seen (the request failed, or the pod was gone).
    pub fn deletion_failed(&self, owner_uid: &str, pod_uid: &str) {
        if let Some(e) = self.lock().expectations.get_mut(owner_uid) {
            e.deletes.remove(pod_uid);
        }
    }
}

impl State {
    /// The controller's expectation, a fresh one if it had none or its last was met.
    fn expectation(&mut self, owner_uid: &str) -> &mut Expectation {
        let e = self
            .expectations
            .entry(owner_uid.to_string())
            .or_insert_with(Expectation::new);
        if e.met() {
            *e = Expectation::new();
        }
        e
    }

    /// Drop a pod from the cache; for its owner that is a deletion seen.
    fn remove(&mut self, pod_uid: &str) {
        let Some(owner) = self.owner_of.remove(pod_uid) else {
            return;
        };
        if let Some(e) = self.expectations.get_mut(&owner) {
            e.deletes.remove(pod_uid);
        }
        if let Some(owned) = self.owners.get_mut(&owner) {
            owned.pods.remove(pod_uid);
            if owned.pods.is_empty() {
                self.owners.remove(&owner);
                // The controller's pods are all gone (maybe the controller too): met
                // expectations are no longer worth keeping.
                if self.expectations.get(&owner).is_some_and(Expectation::met) {
                    self.expectations.remove(&owner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
