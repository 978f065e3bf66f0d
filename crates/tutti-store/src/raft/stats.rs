//! Counters of the Raft store, for benchmarks ("fsyncs per write") and debugging.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, bumped by the log store, state machine and proposer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) log_appends: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) applied_txns: AtomicU64,
    pub(crate) proposed_batches: AtomicU64,
    pub(crate) snapshots_built: AtomicU64,
    pub(crate) snapshots_installed: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// A point-in-time copy of the store's counters (since this process opened the store) and
/// of its Raft log positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Log append calls; each is one durable redb commit (one fsync).
    pub log_appends: u64,
    /// Every durable redb commit: log appends, vote saves, truncations, snapshot saves.
    pub fsyncs: u64,
    /// Txns applied to the state machine (including ones replayed from the log at startup).
    pub applied_txns: u64,
    /// Log entries proposed by the group-commit proposer.
    pub proposed_batches: u64,
    /// Snapshots built and persisted.
    pub snapshots_built: u64,
    /// Snapshots received from a leader and installed (a lagging member catching up).
    pub snapshots_installed: u64,
    /// Index of the last log entry.
    pub last_log_index: Option<u64>,
    /// Index of the last applied log entry.
    pub last_applied_index: Option<u64>,
    /// Index up to which the latest snapshot covers the log.
    pub snapshot_index: Option<u64>,
    /// Index up to which the log has been purged.
    pub purged_index: Option<u64>,
}

impl StoreStats {
    pub(crate) fn from_counters(c: &Counters) -> Self {
        StoreStats {
            log_appends: c.log_appends.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            applied_txns: c.applied_txns.load(Ordering::Relaxed),
            proposed_batches: c.proposed_batches.load(Ordering::Relaxed),
            snapshots_built: c.snapshots_built.load(Ordering::Relaxed),
            snapshots_installed: c.snapshots_installed.load(Ordering::Relaxed),
            ..Default::default()
        }
    }
}
