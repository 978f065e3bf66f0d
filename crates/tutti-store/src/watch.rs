//! Watch fan-out shared by both stores: one broadcast notice per applied txn, turned into
//! per-watcher streams that replay history, then follow live txns, with progress notifications.
//!
//! Gap-freedom rests on one rule kept by [`crate::replica::Replica`]: notices are published
//! while the state's write lock is held, and watchers subscribe while holding the read lock,
//! then read history. Every txn is therefore either in the history a watcher replays or in its
//! broadcast receiver, never both and never neither.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};

use crate::{Event, Revision, StoreError, WatchResponse, WatchStream};

/// What the fan-out tells watchers.
#[derive(Debug)]
pub(crate) enum Notice {
    /// One writing txn, with all its events in op order.
    Applied {
        revision: Revision,
        events: Vec<Event>,
    },
    /// The state was replaced wholesale (a snapshot from the leader was installed): watchers
    /// cannot be continued gap-free and must start over.
    Reset,
}

/// The sending side of the fan-out.
#[derive(Debug)]
pub(crate) struct WatchHub {
    tx: broadcast::Sender<Arc<Notice>>,
}

impl WatchHub {
    /// A hub whose watchers may fall `capacity` txns behind before they get `Lagged`.
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        WatchHub { tx }
    }

    /// Publish one writing txn. Call with the state's write lock held (see module docs).
    pub(crate) fn publish(&self, revision: Revision, events: Vec<Event>) {
        // An error only means nobody is watching right now.
        let _ = self.tx.send(Arc::new(Notice::Applied { revision, events }));
    }

    /// Tell every watcher its stream cannot continue. Call with the write lock held.
    pub(crate) fn reset(&self) {
        let _ = self.tx.send(Arc::new(Notice::Reset));
    }

    /// Subscribe. Call with the state's read lock held, before reading history.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Notice>> {
        self.tx.subscribe()
    }
}

/// Where a new watch starts, captured under the read lock together with its receiver.
pub(crate) struct WatchStart {
    pub(crate) prefix: String,
    /// The first revision the watcher asked for (already normalised: > 0).
    pub(crate) from: Revision,
    /// The store revision when the watcher subscribed: history covers everything up to it.
    pub(crate) current: Revision,
    /// Matching history with `revision >= from`, one response per txn.
    pub(crate) replay: Vec<WatchResponse>,
    pub(crate) rx: broadcast::Receiver<Arc<Notice>>,
    pub(crate) progress_interval: Duration,
}

enum Step {
    Notice(Result<Arc<Notice>, RecvError>),
    Tick,
}

/// Turn a subscription into the stream a [`crate::Store::watch`] caller reads.
pub(crate) fn stream(start: WatchStart) -> WatchStream {
    let WatchStart {
        prefix,
        from,
        current,
        replay,
        mut rx,
        progress_interval,
    } = start;
    let s = async_stream::stream! {
        // Every matching event at or below `delivered` is on the stream.
        let mut delivered = from - 1;
        for resp in replay {
            delivered = resp.revision;
            yield Ok(resp);
        }
        // The newest revision this watcher knows the store has reached.
        let mut latest = current;
        let period = progress_interval.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // `yield` stays outside `select!`: the stream macro does not see into other macros.
            let step = tokio::select! {
                notice = rx.recv() => Step::Notice(notice),
                _ = ticker.tick() => Step::Tick,
            };
            match step {
                Step::Notice(Ok(notice)) => match notice.as_ref() {
                    Notice::Applied { revision, events } => {
                        if *revision <= latest {
                            continue; // Already covered by the replayed history.
                        }
                        latest = *revision;
                        if *revision < from {
                            continue;
                        }
                        let matching: Vec<Event> = events
                            .iter()
                            .filter(|e| e.kv.key.starts_with(&prefix))
                            .cloned()
                            .collect();
                        if !matching.is_empty() {
                            delivered = *revision;
                            yield Ok(WatchResponse { revision: *revision, events: matching });
                        }
                    }
                    Notice::Reset => {
                        tracing::debug!(prefix = %prefix, "watch reset by snapshot install");
                        yield Err(StoreError::Lagged);
                        break;
                    }
                },
                Step::Notice(Err(RecvError::Lagged(skipped))) => {
                    tracing::debug!(prefix = %prefix, skipped, delivered, "watcher lagged");
                    yield Err(StoreError::Lagged);
                    break;
                }
                Step::Notice(Err(RecvError::Closed)) => {
                    yield Err(StoreError::Shutdown);
                    break;
                }
                Step::Tick => {
                    if latest > delivered {
                        delivered = latest;
                        yield Ok(WatchResponse { revision: latest, events: Vec::new() });
                    }
                }
            }
        }
    };
    s.boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, KeyValue};

    fn event(key: &str, revision: Revision) -> Event {
        let kv = KeyValue {
            key: key.to_string(),
            value: bytes::Bytes::from_static(b"v"),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        };
        Event {
            kind: EventKind::Put,
            kv,
            prev: None,
        }
    }

    fn start(hub: &WatchHub, prefix: &str, from: Revision, current: Revision) -> WatchStream {
        stream(WatchStart {
            prefix: prefix.to_string(),
            from,
            current,
            replay: Vec::new(),
            rx: hub.subscribe(),
            progress_interval: Duration::from_secs(1),
        })
    }

    #[tokio::test]
    async fn lagging_watcher_gets_lagged_then_ends() {
        let hub = WatchHub::new(2);
        let mut watch = start(&hub, "/a", 2, 1);
        for rev in 2..10 {
            hub.publish(rev, vec![event("/a/x", rev)]);
        }
        assert_eq!(watch.next().await, Some(Err(StoreError::Lagged)));
        assert_eq!(watch.next().await, None);
    }

    #[tokio::test]
    async fn reset_ends_the_stream_with_lagged() {
        let hub = WatchHub::new(8);
        let mut watch = start(&hub, "", 2, 1);
        hub.publish(2, vec![event("/a", 2)]);
        hub.reset();
        assert_eq!(
            watch.next().await.map(|r| r.map(|w| w.revision)),
            Some(Ok(2))
        );
        assert_eq!(watch.next().await, Some(Err(StoreError::Lagged)));
        assert_eq!(watch.next().await, None);
    }

    #[tokio::test]
    async fn progress_only_when_the_store_moved_past_what_was_delivered() {
        let hub = WatchHub::new(64);
        let mut watch = stream(WatchStart {
            prefix: "/a".to_string(),
            from: 2,
            current: 1,
            replay: Vec::new(),
            rx: hub.subscribe(),
            progress_interval: Duration::from_millis(20),
        });
        for rev in 2..6 {
            hub.publish(rev, vec![event("/b/x", rev)]);
        }
        let progress = watch.next().await;
        assert_eq!(
            progress,
            Some(Ok(WatchResponse {
                revision: 5,
                events: Vec::new()
            }))
        );
        // Nothing moved since: no further notification, however long we wait.
        let idle = tokio::time::timeout(Duration::from_millis(100), watch.next()).await;
        assert!(idle.is_err(), "unexpected response while idle: {idle:?}");
        hub.publish(6, vec![event("/a/x", 6)]);
        let next = watch
            .next()
            .await
            .map(|r| r.map(|w| (w.revision, w.events.len())));
        assert_eq!(next, Some(Ok((6, 1))));
    }
}
