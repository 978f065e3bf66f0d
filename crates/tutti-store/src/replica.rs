//! The local replica: the MVCC state and its watch fan-out behind one lock, so that every
//! applied txn reaches each watcher exactly once, in order. Both stores serve reads and watches
//! from here; the memory store also writes here directly, the Raft store through its state
//! machine.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::StoreConfig;
use crate::mvcc::Mvcc;
use crate::watch::{self, WatchHub, WatchStart};
use crate::{RangeRequest, RangeResponse, Revision, StoreError, Txn, TxnResponse, WatchStream};

pub(crate) struct Replica {
    state: RwLock<Mvcc>,
    hub: WatchHub,
    config: StoreConfig,
}

impl Replica {
    /// A replica starting from `state` (an empty [`Mvcc`] or a restored snapshot).
    pub(crate) fn new(mut state: Mvcc, config: StoreConfig) -> Self {
        state.set_history_limit(config.history_limit);
        Replica {
            state: RwLock::new(state),
            hub: WatchHub::new(config.watch_capacity),
            config,
        }
    }

    pub(crate) fn config(&self) -> &StoreConfig {
        &self.config
    }

    // Lock poisoning is recovered from: `Mvcc` never panics while mutating (no unwrap/index
    // panics in its code), so a poisoned lock can only come from a panic elsewhere while the
    // guard was held, which leaves the state itself consistent.
    fn read(&self) -> RwLockReadGuard<'_, Mvcc> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Mvcc> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply txns in order, publishing each writing txn to watchers.
    pub(crate) fn apply(&self, txns: impl IntoIterator<Item = Txn>) -> Vec<TxnResponse> {
        let mut state = self.write();
        txns.into_iter()
            .map(|txn| {
                let (resp, events) = state.apply_txn(txn);
                if !events.is_empty() {
                    self.hub.publish(resp.revision, events);
                }
                resp
            })
            .collect()
    }

    pub(crate) fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.write().compact(revision)
    }

    pub(crate) fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.read().range(req)
    }

    pub(crate) fn revision(&self) -> Revision {
        self.read().revision()
    }

    pub(crate) fn compacted_revision(&self) -> Revision {
        self.read().compacted_revision()
    }

    /// A copy of the whole state (cheap per value: [`bytes::Bytes`] are shared).
    pub(crate) fn snapshot(&self) -> Mvcc {
        self.read().clone()
    }

    /// Replace the whole state (installing a snapshot); open watches end with `Lagged`.
    pub(crate) fn replace(&self, mut state: Mvcc) {
        state.set_history_limit(self.config.history_limit);
        let mut guard = self.write();
        *guard = state;
        self.hub.reset();
    }

    /// Open a watch; see [`crate::Store::watch`].
    pub(crate) fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        let start = {
            let state = self.read();
            // Subscribe before reading history, under the same lock: no gap, no duplicate.
            let rx = self.hub.subscribe();
            let current = state.revision();
            let from = if from <= 0 { current + 1 } else { from };
            let replay = state.replay(prefix, from)?;
            WatchStart {
                prefix: prefix.to_string(),
                from,
                current,
                replay,
                rx,
                progress_interval: self.config.progress_interval,
            }
        };
        tracing::debug!(
            prefix,
            from = start.from,
            current = start.current,
            "watch opened"
        );
        Ok(watch::stream(start))
    }
}
