//! tutti-store: a revisioned key-value store with etcd's semantics.
//!
//! This crate owns the `Store` seam. Everything the API server persists goes through it:
//! one global, monotonically increasing revision; `range` at a revision; `txn` guarded by
//! compares on a key's `mod_revision`; `watch` from a revision delivering ordered, gap-free
//! events; and compaction with an explicit "revision too old" error.
//!
//! Two implementations pass one shared conformance suite (`tests/conformance`):
//! - [`memory::MemoryStore`]: in-process, for fast tests of the layers above.
//! - [`raft::RaftStore`]: openraft with log and vote in redb and snapshots in files, fsync'd
//!   before a write is acknowledged; one manager or a cluster of managers talking Raft over mTLS
//!   (writes forwarded to the leader, ReadIndex reads, local watches; see [`raft`]).
//!
//! Both share the deterministic state ([`mvcc::Mvcc`]) and the watch fan-out, so they differ
//! only in how a txn reaches the state: directly, or through the Raft log.
//!
//! Details the `Store` contract leaves open, decided here (as etcd does unless noted):
//! - A read at revision 0 or below reads the latest revision.
//! - A txn may touch the same key more than once; its ops apply in order (etcd rejects this).
//! - A delete event's `kv` has the deleted value, the deleting revision as `mod_revision`, the
//!   old `create_revision` and `version` 0; `prev` is the full deleted key.
//! - A failed txn returns `compared` (one entry per compare) and no `ops`; a successful one
//!   returns `ops` and an empty `compared`.
//! - Compacting above the current revision fails with `FutureRevision`.
//! - Watching from a revision above the current one is allowed: events start when it arrives.
//! - History is bounded ([`StoreConfig::history_limit`]): trimming it raises the compacted
//!   revision exactly like an explicit `compact`, so old watches get `Compacted` (410 Gone).

pub mod config;
pub mod error;
pub mod memory;
pub mod mvcc;
pub mod raft;
mod replica;
pub mod types;
mod watch;

pub use config::StoreConfig;
pub use error::{MembershipError, StoreError};
pub use memory::MemoryStore;
pub use raft::{Bootstrap, Member, RaftStore, RaftStoreConfig, Role, StoreStats};
pub use types::*;

use futures::stream::BoxStream;

/// A stream of watch responses; see [`Store::watch`].
pub type WatchStream = BoxStream<'static, Result<WatchResponse, StoreError>>;

/// The storage seam of tutti, with etcd's semantics.
///
/// Contract every implementation keeps (checked by the conformance suite):
/// - There is one global revision. It starts at 1 for an empty store and grows by exactly one
///   for every `txn` that writes (puts or deletes at least one key); a txn that writes nothing
///   (failed compare, or deletes of absent keys only) does not advance it.
/// - A write is durable before `txn` returns `Ok`: after a crash, every acknowledged write is
///   present and the revision never goes backwards.
/// - `watch(prefix, from)` delivers every event with `revision >= from` whose key starts with
///   `prefix`, in revision order, with no gaps, then keeps delivering new ones until dropped.
///   Events of one txn arrive in one [`WatchResponse`], in the order of the txn's ops.
/// - Reading or watching at a revision at or below the compacted revision fails with
///   [`StoreError::Compacted`]; reading at a revision above the current one fails with
///   [`StoreError::FutureRevision`].
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Keys starting with `req.prefix` (or exactly `req.key` when `req.exact`), in key order.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError>;

    /// Like [`Store::range`], but a replicated store may answer from its local replica without
    /// confirming with the leader: the result can lag behind writes acknowledged elsewhere
    /// (never showing them out of order), and it still answers when there is no quorum.
    /// Single-replica stores answer exactly as `range`.
    async fn range_stale(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.range(req).await
    }

    /// Evaluate all compares; if all hold apply `ops` atomically under one new revision.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;

    /// Watch keys under `prefix` from revision `from` (inclusive). `from == 0` means "from now":
    /// only events after the current revision. When the store moves on without matching
    /// events, the stream yields an empty-events response (a progress notification) at most
    /// about once a second, so watchers learn a recent revision (API bookmarks use it).
    /// A watcher that falls too far behind gets `Err(StoreError::Lagged)` and the stream ends.
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError>;

    /// Forget history at and below `revision`. Later reads/watches at or below it fail with
    /// `Compacted`. Compacting at or below the already-compacted revision is a no-op.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The current revision (the revision of the last write).
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The highest compacted revision (0 if never compacted).
    async fn compacted_revision(&self) -> Result<Revision, StoreError>;

    /// Convenience: the current value of one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self.range(RangeRequest::key(key)).await?;
        Ok(resp.kvs.into_iter().next())
    }
}
