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
