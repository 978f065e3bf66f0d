//! The event TTL controller ("event-ttl"): Events expire a TTL after they were last written,
//! as the Kubernetes API server's `--event-ttl` (default 1 h) makes etcd expire them.
//! Without it every `Scheduled`, `SuccessfulCreate`, `Pulled`... Event (about 1 KiB each)
//! would stay forever, and memory and LIST cost would grow with every pod ever created.
//!
//! Semantics:
//! - An Event expires `ttl` after its last write. Every write counts, as in Kubernetes,
//!   where each update re-attaches the etcd lease: an Event whose `count` is bumped (the
//!   recorder's aggregation) or that is patched in any way lives a full TTL from then.
//! - Which write was the last is learnt from the watch: a version the watch delivers was
//!   written then. An Event found by a list rather than seen being written (when the
//!   controller starts, on a new leader, after a restart, or when the watch had to relist)
//!   is judged by its own timestamps: the latest of creationTimestamp, lastTimestamp
//!   (events.k8s.io: deprecatedLastTimestamp), eventTime, series.lastObservedTime and the
//!   managedFields times; whole-second ones count as the end of their second, one in the
//!   future as now, and an Event with none as written now. So an old data directory's Events
//!   are deleted soon after start, and one whose writer did not move any timestamp may go up
//!   to one TTL early after a leader change (Kubernetes, which keeps the lease in etcd, never
//!   does that). A version newer than the one the controller knew is always taken as
//!   written when it is seen.
//! - Expiries are whole seconds on the controller's monotonic clock, rounded up: an Event is
//!   never deleted before its TTL has passed, and normally within a second after.
//! - Deletion is conditional on the uid and the resourceVersion the controller judged
//!   (DELETE preconditions), so an Event updated in the meantime is not lost: the refusal
//!   (409) changes nothing and the update sets a new expiry. An Event deleted by someone else
//!   (404) is simply forgotten; other failures are retried after five seconds.
//! - At most [`MAX_IN_FLIGHT`] deletions are in flight and [`DELETIONS_PER_SECOND`] start
//!   per second (a burst of [`MAX_IN_FLIGHT`] after a quiet spell): a backlog of 150,000
//!   expired Events drains in five minutes without taking the store from other writers
//!   (etcd, for comparison, revokes up to 1,000 leases per second).
//! - Only core/v1 `events` are stored (tutti does not serve events.k8s.io/v1); both
//!   shapes' timestamps are read, so objects written in either shape expire alike.
//! - An Event with a deletionTimestamp (it has finalizers) is left to whoever holds them.
//!
//! Like every controller it runs only on the Raft leader. It keeps no state of its own: on
//! start it lists every Event (paged) and watches from there, so a new leader or a restarted
//! manager carries on where the last one stopped. Its memory is [`schedule::Schedule`]:
//! 76 to 150 bytes per tracked Event (as its hash table and heap fill up) plus its
//! `namespace/name`; 150,000 Events take about 25 MiB.

pub mod pace;
pub mod schedule;
pub mod times;

use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;
use tracing::Instrument;

use crate::ControllerConfig;
use pace::Pace;
use schedule::{Expired, Millis, Observed, Outcome, Schedule, Seen};
use times::EventTimes;

/// Deletions in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Deletions started per second, at most.
pub const DELETIONS_PER_SECOND: u32 = 500;

/// Start the controller on the current runtime.
pub fn spawn(client: kube::Client, config: &ControllerConfig) {
    let ttl = config.event_ttl;
    crate::supervise::supervise("event-ttl", move || run(client.clone(), ttl));
}

/// Expire Events `ttl` after their last write, until the watch ends.
pub async fn run(client: kube::Client, ttl: Duration) {
    Expiry::new(client, ttl)
        .run()
        .instrument(tracing::info_span!("event_ttl"))
        .await
}

struct Expiry {
    client: kube::Client,
    ttl: Duration,
    schedule: Schedule,
    /// The controller's clock starts here ([`Millis`] count from it).
    origin: Instant,
    pace: Pace,
    /// Whether the first list has completed (said once in the log).
    listed: bool,
    /// Events the first list found past their TTL.
    expired_at_start: usize,
}

impl Expiry {
    fn new(client: kube::Client, ttl: Duration) -> Expiry {
        Expiry {
            client,
            ttl,
            schedule: Schedule::new(ttl),
            origin: Instant::now(),
            pace: Pace::new(DELETIONS_PER_SECOND, MAX_IN_FLIGHT as u32),
            listed: false,
            expired_at_start: 0,
        }
    }

    async fn run(mut self) {
        let api: Api<EventTimes> = Api::all(self.client.clone());
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut deletions = FuturesUnordered::new();
        loop {
            let wake = self.start_due(&mut deletions);
            let sleep = async move {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => self.apply(event),
                    Some(Err(e)) => tracing::debug!(error = %e, "event watch failed; retrying"),
                    None => return,
                },
                Some((expired, outcome)) = deletions.next(), if !deletions.is_empty() => {
                    self.schedule.finished(&expired, &outcome, self.now());
                }
                () = sleep => {}
            }
        }
    }

    fn now(&self) -> Millis {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Start the deletions that are due, as far as the bounds allow; returns when to look
    /// again (None: when something happens).
    fn start_due(
        &mut self,
        deletions: &mut FuturesUnordered<futures::future::BoxFuture<'static, (Expired, Outcome)>>,
    ) -> Option<Instant> {
        while deletions.len() < MAX_IN_FLIGHT {
            let due = self.schedule.next_due()?;
            if due > Duration::from_millis(self.now()) {
                return Some(self.origin + due);
            }
            if let Err(at) = self.pace.take(Instant::now()) {
                return Some(at);
            }
            let expired = self.schedule.pop_expired(self.now())?;
            deletions.push(delete(self.client.clone(), expired).boxed());
        }
        // Full: a finishing deletion wakes the loop.
        None
    }

    fn apply(&mut self, event: watcher::Event<EventTimes>) {
        let now = self.now();
        match event {
            watcher::Event::Init => self.schedule.begin_relist(),
            watcher::Event::InitApply(ev) => {
                let age = ev.age(Timestamp::now());
                if !self.listed && age.is_some_and(|a| a >= self.ttl) {
                    self.expired_at_start += 1;
                }
                self.observe(&ev, Seen::Listed { age }, now);
            }
            watcher::Event::Apply(ev) => self.observe(&ev, Seen::Written, now),
            watcher::Event::Delete(ev) => {
                if let Some(uid) = &ev.metadata.uid {
                    self.schedule.forget(uid);
                }
            }
            watcher::Event::InitDone => {
                let forgotten = self.schedule.end_relist();
                if !self.listed {
                    self.listed = true;
                    tracing::info!(
                        ttl = ?self.ttl,
                        events = self.schedule.len(),
                        expired = self.expired_at_start,
                        per_second = DELETIONS_PER_SECOND,
                        "event TTL controller started"
                    );
                } else {
                    tracing::debug!(events = self.schedule.len(), forgotten, "events relisted");
                }
            }
        }
    }

    fn observe(&mut self, ev: &EventTimes, seen: Seen, now: Millis) {
        let meta = &ev.metadata;
        let (Some(uid), Some(namespace), Some(name)) = (&meta.uid, &meta.namespace, &meta.name)
        else {
            return;
        };
        if meta.deletion_timestamp.is_some() {
            self.schedule.forget(uid);
            return;
        }
        let Some(resource_version) = meta
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
        else {
            return;
        };
        self.schedule.observe(
            Observed {
                uid,
                namespace,
                name,
                resource_version,
                seen,
            },
            now,
        );
    }
}

/// Delete one expired Event, on the condition that it is still the version judged.
async fn delete(client: kube::Client, expired: Expired) -> (Expired, Outcome) {
    let api: Api<EventTimes> = Api::namespaced(client, &expired.namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: expired.uid.clone(),
            resource_version: Some(expired.resource_version.to_string()),
        }),
        ..DeleteParams::default()
    };
    let (namespace, name) = (&expired.namespace, &expired.name);
    let outcome = match api.delete(name, &params).await {
        Ok(_) => {
            tracing::debug!(%namespace, %name, "expired event deleted");
            Outcome::Done
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Outcome::Done,
        Err(kube::Error::Api(e)) if e.code == 409 => {
            tracing::debug!(%namespace, %name, "event changed since it expired; kept");
            Outcome::Changed
        }
        Err(e) => {
            tracing::debug!(%namespace, %name, error = %e, "deleting an expired event failed; will retry");
            Outcome::Failed
        }
    };
    (expired, outcome)
}
