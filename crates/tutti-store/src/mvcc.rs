//! The deterministic MVCC state both stores share: current keys, revision, compaction and
//! the bounded event history that serves past-revision reads and watch replay.
//!
//! Everything here is a pure function of (state, input): no clocks, no randomness, no IO, so
//! every Raft replica that applies the same log reaches the same state. Values are
//! [`bytes::Bytes`], so the current map, the history and the events handed to watchers share
//! one allocation per value.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::config::DEFAULT_HISTORY_LIMIT;
use crate::{
    Compare, Event, EventKind, KeyValue, OpResponse, RangeRequest, RangeResponse, Revision,
    StoreError, Txn, TxnOp, TxnResponse, WatchResponse,
};

/// The events of one writing txn, all at the same revision, in op order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    pub revision: Revision,
    pub events: Vec<Event>,
}

/// Revisioned key-value state with etcd's semantics (see [`crate::Store`]).
///
/// Invariant: `history` holds exactly the txns with `compacted < revision <= self.revision`,
/// oldest first, so any read at a revision above `compacted` can be rebuilt by undoing newer
/// events, and any watch from above `compacted` can be replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mvcc {
    kvs: BTreeMap<String, KeyValue>,
    revision: Revision,
    compacted: Revision,
    history: VecDeque<TxnRecord>,
    history_events: usize,
    /// Bytes of values the history holds (recounted when a snapshot is decoded).
    #[serde(skip)]
    history_bytes: usize,
    /// Configuration, not state: restored snapshots get it from [`Mvcc::set_history_limit`].
    #[serde(skip, default = "default_history_limit")]
    history_limit: usize,
}

/// At most this many bytes of values are kept in history, whatever the event count: the
/// history lives in memory, and 100,000 events of large objects (pods are several KiB, and
/// an update keeps both the new and the old value) would hold gigabytes. A watcher further
/// behind than this gets 410 Gone and lists again, as with a compacted etcd.
pub const HISTORY_BYTES_LIMIT: usize = 128 << 20;

fn record_bytes(events: &[Event]) -> usize {
    events
        .iter()
        .map(|e| e.kv.value.len() + e.prev.as_ref().map_or(0, |p| p.value.len()) + e.kv.key.len())
        .sum()
}

fn default_history_limit() -> usize {
    DEFAULT_HISTORY_LIMIT
}

impl Default for Mvcc {
    fn default() -> Self {
        Mvcc::new(DEFAULT_HISTORY_LIMIT)
    }
}

impl Mvcc {
    /// An empty store at revision 1 (like etcd) keeping at most `history_limit` events.
    pub fn new(history_limit: usize) -> Self {
        Mvcc {
            kvs: BTreeMap::new(),
            revision: 1,
            compacted: 0,
            history: VecDeque::new(),
            history_events: 0,
            history_bytes: 0,
            history_limit,
        }
    }

    /// The revision of the last write (1 for an empty store).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The highest compacted revision (0 if never compacted).
    pub fn compacted_revision(&self) -> Revision {
        self.compacted
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.kvs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kvs.is_empty()
    }

    /// Number of events currently kept in history.
    pub fn history_events(&self) -> usize {
        self.history_events
    }

    /// Change the history bound; takes effect (trims) immediately.
    pub fn set_history_limit(&mut self, limit: usize) {
        self.history_limit = limit;
        self.trim_history();
    }

    /// Evaluate the compares and, if all hold, apply the ops under one new revision.
    ///
    /// Returns the caller's response and the events to publish (empty when nothing was
    /// written). Ops apply in order, so a later op on the same key sees the earlier one.
    pub fn apply_txn(&mut self, txn: Txn) -> (TxnResponse, Vec<Event>) {
        if !txn.compares.iter().all(|c| self.holds(c)) {
            let compared = txn
                .compares
                .iter()
                .map(|c| self.kvs.get(c.key()).cloned())
                .collect();
            let resp = TxnResponse {
                succeeded: false,
                revision: self.revision,
                compared,
                ops: Vec::new(),
            };
            return (resp, Vec::new());
        }

        let rev = self.revision + 1;
        let mut events = Vec::new();
        let mut ops = Vec::with_capacity(txn.ops.len());
        for op in txn.ops {
            match op {
                TxnOp::Put { key, value } => {
                    let prev = self.kvs.get(&key).cloned();
                    let (create_revision, version) = match &prev {
                        Some(p) => (p.create_revision, p.version + 1),
                        None => (rev, 1),
                    };
                    let kv = KeyValue {
                        key: key.clone(),
                        value,
                        create_revision,
                        mod_revision: rev,
                        version,
                    };
                    self.kvs.insert(key, kv.clone());
                    events.push(Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev: prev.clone(),
                    });
                    ops.push(OpResponse::Put { kv, prev });
                }
                TxnOp::Delete { key } => match self.kvs.remove(&key) {
                    Some(prev) => {
                        // Like etcd with prev_kv: the tombstone carries the deleted value, the
                        // deleting revision, and version 0.
                        let kv = KeyValue {
                            key: prev.key.clone(),
                            value: prev.value.clone(),
                            create_revision: prev.create_revision,
                            mod_revision: rev,
                            version: 0,
                        };
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv,
                            prev: Some(prev.clone()),
                        });
                        ops.push(OpResponse::Delete { prev: Some(prev) });
                    }
                    None => ops.push(OpResponse::Delete { prev: None }),
                },
            }
        }

        if events.is_empty() {
            // Nothing written (no ops, or deletes of absent keys only): no new revision.
            let resp = TxnResponse {
                succeeded: true,
                revision: self.revision,
                compared: Vec::new(),
                ops,
            };
            return (resp, events);
        }

        self.revision = rev;
        self.history_events += events.len();
        self.history_bytes += record_bytes(&events);
        self.history.push_back(TxnRecord {
            revision: rev,
            events: events.clone(),
        });
        self.trim_history();
        let resp = TxnResponse {
            succeeded: true,
            revision: rev,
            compared: Vec::new(),
            ops,
        };
        (resp, events)
    }

    fn holds(&self, compare: &Compare) -> bool {
        match compare {
            Compare::ModRevision { key, revision } => {
                self.kvs.get(key).map_or(0, |kv| kv.mod_revision) == *revision
            }
        }
    }

    /// Forget history at and below `revision`. At or below the compacted revision is a no-op;
    /// above the current revision is `FutureRevision`.
    pub fn compact(&mut self, revision: Revision) -> Result<(), StoreError> {
        if revision <= self.compacted {
            return Ok(());
        }
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        while self.history.front().is_some_and(|r| r.revision <= revision) {
            self.pop_oldest();
        }
        self.compacted = revision;
        Ok(())
    }

    fn trim_history(&mut self) {
        while self.history_events > self.history_limit
            || (self.history_bytes > HISTORY_BYTES_LIMIT && self.history.len() > 1)
        {
            match self.pop_oldest() {
                Some(revision) => self.compacted = self.compacted.max(revision),
                None => break,
            }
        }
    }

    fn pop_oldest(&mut self) -> Option<Revision> {
        let record = self.history.pop_front()?;
        self.history_events = self.history_events.saturating_sub(record.events.len());
        self.history_bytes = self
            .history_bytes
            .saturating_sub(record_bytes(&record.events));
        Some(record.revision)
    }

    /// Check that `revision` (> 0) is readable: above the compacted one, not in the future.
    fn check_readable(&self, revision: Revision) -> Result<(), StoreError> {
        if revision > self.revision {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision <= self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        Ok(())
    }

    /// Keys under `req.prefix` (or exactly `req.key`), in key order, at `req.revision`
    /// (0 or negative = latest, as in etcd).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let at = if req.revision <= 0 {
            self.revision
        } else {
            req.revision
        };
        if req.revision > 0 {
            self.check_readable(at)?;
        }
        if at == self.revision {
            return Ok(limit_range(self.current_range(req), req.limit, at));
        }

        // A past revision: start from the current range and undo newer events, newest first,
        // so each touched key ends up with the value it had at `at`.
        let mut view: BTreeMap<&str, &KeyValue> = self
            .current_range(req)
            .map(|kv| (kv.key.as_str(), kv))
            .collect();
        let mut undone: BTreeMap<&str, Option<&KeyValue>> = BTreeMap::new();
        for record in self.history.iter().rev().take_while(|r| r.revision > at) {
            for event in record.events.iter().rev() {
                if in_range(req, &event.kv.key) {
                    undone.insert(event.kv.key.as_str(), event.prev.as_ref());
                }
            }
        }
        for (key, before) in undone {
            match before {
                Some(kv) => view.insert(key, kv),
                None => view.remove(key),
            };
        }
        Ok(limit_range(view.into_values(), req.limit, at))
    }

    /// The current keys matching `req`, in key order, without copying.
    fn current_range<'a>(
        &'a self,
        req: &'a RangeRequest,
    ) -> Box<dyn Iterator<Item = &'a KeyValue> + 'a> {
        if req.exact {
            let kv = self
                .kvs
                .get(&req.prefix)
                .filter(|kv| after_start(req, &kv.key));
            return Box::new(kv.into_iter());
        }
        let lower = if !req.start_after.is_empty() && req.start_after >= req.prefix {
            Bound::Excluded(req.start_after.as_str())
        } else {
            Bound::Included(req.prefix.as_str())
        };
        let iter = self
            .kvs
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&req.prefix))
            .map(|(_, kv)| kv);
        Box::new(iter)
    }

    /// The responses a watch of `prefix` from `from` (> 0) replays: one per past txn with
    /// `revision >= from` that has matching events.
    pub fn replay(&self, prefix: &str, from: Revision) -> Result<Vec<WatchResponse>, StoreError> {
        if from <= self.compacted {
            return Err(StoreError::Compacted {
                requested: from,
                compacted: self.compacted,
            });
        }
        let start = self.history.partition_point(|r| r.revision < from);
        let replay = self
            .history
            .range(start..)
            .filter_map(|record| {
                let events: Vec<Event> = record
                    .events
                    .iter()
                    .filter(|e| e.kv.key.starts_with(prefix))
                    .cloned()
                    .collect();
                (!events.is_empty()).then_some(WatchResponse {
                    revision: record.revision,
                    events,
                })
            })
            .collect();
        Ok(replay)
    }

    /// Encode the full state (keys, revisions and history) for a snapshot.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        rmp_serde::to_vec_named(self)
            .map_err(|e| StoreError::Storage(format!("encoding store snapshot: {e}")))
    }

    /// Encode the full state into `out`, in the format of [`Mvcc::to_bytes`], without an
    /// in-memory copy of the encoding (a snapshot of a large state is hundreds of MiB).
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<(), StoreError> {
        rmp_serde::encode::write_named(out, self)
            .map_err(|e| StoreError::Storage(format!("encoding store snapshot: {e}")))
    }

    /// Decode a state written by [`Mvcc::to_bytes`], keeping at most `history_limit` events.
    pub fn from_bytes(bytes: &[u8], history_limit: usize) -> Result<Mvcc, StoreError> {
        let mvcc: Mvcc = rmp_serde::from_slice(bytes)
            .map_err(|e| StoreError::Storage(format!("decoding store snapshot: {e}")))?;
        Ok(mvcc.restored(history_limit))
    }

    /// Decode a state written by [`Mvcc::write_to`] (or [`Mvcc::to_bytes`]) as it is read
    /// from `input`; give it a buffered reader.
    pub fn read_from<R: Read>(input: R, history_limit: usize) -> Result<Mvcc, StoreError> {
        let mvcc: Mvcc = rmp_serde::from_read(input)
            .map_err(|e| StoreError::Storage(format!("decoding store snapshot: {e}")))?;
        Ok(mvcc.restored(history_limit))
    }

    /// A decoded state with what is not encoded recounted and its history bound applied.
    fn restored(mut self, history_limit: usize) -> Mvcc {
        self.history_bytes = self.history.iter().map(|r| record_bytes(&r.events)).sum();
        self.set_history_limit(history_limit);
        self
    }
}

fn in_range(req: &RangeRequest, key: &str) -> bool {
    let matches = if req.exact {
        key == req.prefix
    } else {
        key.starts_with(&req.prefix)
    };
    matches && after_start(req, key)
}

fn after_start(req: &RangeRequest, key: &str) -> bool {
    req.start_after.is_empty() || key > req.start_after.as_str()
}

/// Copy at most `limit` (0 = all) keys out of `kvs` and count the rest.
fn limit_range<'a>(
    kvs: impl Iterator<Item = &'a KeyValue>,
    limit: usize,
    revision: Revision,
) -> RangeResponse {
    let mut out = Vec::new();
    let mut remaining = 0;
    for kv in kvs {
        if limit == 0 || out.len() < limit {
            out.push(kv.clone());
        } else {
            remaining += 1;
        }
    }
    RangeResponse {
        kvs: out,
        revision,
        more: remaining > 0,
        remaining,
    }
}

#[cfg(test)]
mod tests;
