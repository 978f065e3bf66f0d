//! Errors of the store seam.

use crate::Revision;

/// Every failure a [`crate::Store`] call can report. Serializable because the Raft store carries
/// apply-time results (e.g. a rejected compaction) through its replicated log responses.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    #[error("revision {requested} is too old: history up to {compacted} has been compacted")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("revision {requested} is in the future: current revision is {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("this manager is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<String> },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("watcher fell too far behind and was dropped; watch again from the last revision seen")]
    Lagged,
    #[error("storage I/O failed: {0}")]
    Storage(String),
    #[error("store is shutting down")]
    Shutdown,
}

/// Why a membership change ([`crate::RaftStore::add_learner`], `promote`, `demote`, `remove`)
/// did not happen. Serializable: a follower forwards membership changes to the leader.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MembershipError {
    #[error("node {id} is not a member of this cluster; add it with add_learner first")]
    NotMember { id: u64 },
    #[error(
        "learner {id} at {addr} has not caught up with the leader within {waited_ms} ms \
         (replicated up to log index {matched:?}, leader at {target}); is it running and reachable?"
    )]
    NotCaughtUp {
        id: u64,
        addr: String,
        matched: Option<u64>,
        target: u64,
        waited_ms: u64,
    },
    #[error("membership change rejected by the leader: {0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
