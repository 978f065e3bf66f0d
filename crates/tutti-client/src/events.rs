//! Recording core/v1 Events, the ones `kubectl describe` and `kubectl get events` show.
//! Repeats of the same (object, type, reason, message) within a short window update one
//! Event's `count` and `lastTimestamp` instead of creating a new one, and each object gets at
//! most a burst of 25 events from one component, then one per 5 minutes (the rest are
//! dropped), as Kubernetes' event correlator does: a ReplicaSet creating 150,000 pods
//! records 25 `SuccessfulCreate` events, not 150,000.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// How long repeats are folded into one Event.
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
/// How many events [`Recorder::emit`] lets be in flight at once.
pub const MAX_DETACHED: usize = 1024;
/// How many recent events are remembered for aggregation.
const SEEN_CAP: usize = 4096;
/// Events one component may record about one object at once (Kubernetes' spam filter)...
const SPAM_BURST: f64 = 25.0;
/// ...and how often it earns another one after that.
const SPAM_REFILL: Duration = Duration::from_secs(300);
/// How many objects the spam filter remembers.
const SPAM_CAP: usize = 4096;

type Key = (String, EventType, String, String);
/// The Event a key was last recorded as: name, namespace, count, when.
type Seen = (String, String, i32, Instant);

/// Publishes Events on behalf of one component (`deployment-controller`, `default-scheduler`,
/// `kubelet`...). Clones share their aggregation; failures to record are logged, never fatal.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: String,
    host: Option<String>,
    seen: Arc<Mutex<HashMap<Key, Seen>>>,
    spam: Arc<Mutex<SpamFilter>>,
    /// Events [`Recorder::emit`] started that have not been written yet.
    detached: Arc<AtomicUsize>,
}

impl Recorder {
    pub fn new(client: kube::Client, component: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
            host: None,
            seen: Arc::default(),
            spam: Arc::default(),
            detached: Arc::default(),
        }
    }

    /// A recorder whose events carry `source.host` (the agent's node name).
    pub fn with_host(client: kube::Client, component: &str, host: &str) -> Recorder {
        Recorder {
            host: Some(host.to_string()),
            ..Recorder::new(client, component)
        }
    }

    /// Record an event about `regarding` (its namespace is the event's namespace; events
    /// about cluster-scoped objects go to `default`).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        if self.admit(regarding, reason) {
            self.record(regarding, kind, reason, message).await;
        }
    }

    /// Whether the spam filter lets one more event about `regarding` through.
    fn admit(&self, regarding: &ObjectReference, reason: &str) -> bool {
        let object = regarding
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                let (ns, name) = (regarding.namespace.as_deref(), regarding.name.as_deref());
                format!("{}/{}", ns.unwrap_or(""), name.unwrap_or(""))
            });
        let allowed = self
            .spam
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .allow(&object, Instant::now());
        if !allowed {
            tracing::debug!(component = %self.component, object = %object, reason, "too many events about one object; dropped one");
        }
        allowed
    }

    async fn record(
        &self,
        regarding: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        if let Err(e) = self.try_publish(regarding, kind, reason, message).await {
            tracing::debug!(component = %self.component, reason, error = %e, "could not record event");
        }
    }

    /// Record an event without waiting for it: the write happens in a task of its own, so a
    /// caller on a hot path (the scheduler's bindings) does not hold its slot for a second
    /// write. Like Kubernetes' event broadcaster, a recorder with [`MAX_DETACHED`] events
    /// already on their way drops the next ones (logged) rather than queue without bound.
    pub fn emit(&self, regarding: &ObjectReference, kind: EventType, reason: &str, message: &str) {
        if !self.admit(regarding, reason) {
            return;
        }
        if self.detached.fetch_add(1, Ordering::AcqRel) >= MAX_DETACHED {
            self.detached.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(component = %self.component, reason, "too many events in flight; dropped one");
            return;
        }
        let (this, regarding) = (self.clone(), regarding.clone());
        let (reason, message) = (reason.to_string(), message.to_string());
        tokio::spawn(async move {
            this.record(&regarding, kind, &reason, &message).await;
            this.detached.fetch_sub(1, Ordering::AcqRel);
        });
    }

    async fn try_publish(
        &self,
        regarding: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let ns = regarding
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let now = Timestamp::now();
        let key: Key = (
            regarding.uid.clone().unwrap_or_default(),
            kind,
            reason.to_string(),
            message.to_string(),
        );
        let previous = self.seen.lock().ok().and_then(|s| s.get(&key).cloned());
        if let Some((name, ev_ns, count, _)) = previous.filter(|p| p.3.elapsed() < AGGREGATE_WINDOW)
        {
            let patch = json!({"count": count + 1, "lastTimestamp": Time(now)});
            if Api::<Event>::namespaced(self.client.clone(), &ev_ns)
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                if let Ok(mut s) = self.seen.lock() {
                    s.insert(key, (name, ev_ns, count + 1, Instant::now()));
                }
                return Ok(());
            }
        }
        // Events recorded at once (a batch of pod creations) must not share a name: the
        // clock's nanoseconds plus a per-process sequence.
        let seq = NAME_SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff;
        let name = format!(
            "{}.{:x}{seq:04x}",
            regarding.name.as_deref().unwrap_or("unknown"),
            now.as_nanosecond() as u128 & 0xffff_ffff_ffff_ffff
        );
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: regarding.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(kind.as_str().to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            action: Some(reason.to_string()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev).await?;
        if let Ok(mut s) = self.seen.lock() {
            if s.len() >= SEEN_CAP {
                s.retain(|_, v| v.3.elapsed() < AGGREGATE_WINDOW);
                // Still full of recent events (a burst: one per pod of a large rollout):
                // forget them rather than rescan the whole map on every later publish,
                // which made each publish O(map) while the burst lasted.
                if s.len() >= SEEN_CAP / 2 {
                    s.clear();
                }
            }
            s.insert(key, (name, ns, 1, Instant::now()));
        }
        Ok(())
    }
}

/// Kubernetes' `EventSourceObjectSpamFilter`: a token bucket per object, [`SPAM_BURST`]
/// tokens, one more every [`SPAM_REFILL`].
#[derive(Default)]
struct SpamFilter {
    /// Tokens left and when they were counted, by object.
    buckets: HashMap<String, (f64, Instant)>,
}

impl SpamFilter {
    fn allow(&mut self, object: &str, now: Instant) -> bool {
        if !self.buckets.contains_key(object) && self.buckets.len() >= SPAM_CAP {
            // Full buckets say nothing a new one would not; if most are not full (a burst
            // about many objects, one pod each), forget them all rather than rescan the map
            // at every later event.
            self.buckets
                .retain(|_, (tokens, at)| refill(*tokens, *at, now) < SPAM_BURST);
            if self.buckets.len() >= SPAM_CAP / 2 {
                self.buckets.clear();
            }
        }
        let (tokens, at) = self
            .buckets
            .entry(object.to_string())
            .or_insert((SPAM_BURST, now));
        let available = refill(*tokens, *at, now);
        *at = now;
        if available >= 1.0 {
            *tokens = available - 1.0;
            true
        } else {
            *tokens = available;
            false
        }
    }
}

fn refill(tokens: f64, at: Instant, now: Instant) -> f64 {
    let earned = now.saturating_duration_since(at).as_secs_f64() / SPAM_REFILL.as_secs_f64();
    (tokens + earned).min(SPAM_BURST)
}

/// Makes Event names unique within the process (see `try_publish`).
static NAME_SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An ObjectReference to any object kube-rs knows the type of.
pub fn reference<K: kube::Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_gets_a_burst_of_events_then_one_per_refill() {
        let mut filter = SpamFilter::default();
        let t0 = Instant::now();
        let allowed = (0..40).filter(|_| filter.allow("rs", t0)).count();
        assert_eq!(allowed, 25);
        assert!(filter.allow("other", t0), "each object has its own bucket");
        assert!(!filter.allow("rs", t0 + SPAM_REFILL / 2));
        assert!(filter.allow("rs", t0 + SPAM_REFILL + SPAM_REFILL / 2));
        assert!(!filter.allow("rs", t0 + SPAM_REFILL + SPAM_REFILL / 2));
    }

    #[test]
    fn the_filter_remembers_a_bounded_number_of_objects() {
        let mut filter = SpamFilter::default();
        let t0 = Instant::now();
        for i in 0..3 * SPAM_CAP {
            assert!(filter.allow(&format!("pod-{i}"), t0));
        }
        assert!(filter.buckets.len() <= SPAM_CAP);
    }
}
