//! The Raft type configuration of the store: what a log entry carries (a [`Command`]) and what
//! applying it answers (a [`CommandResponse`]).

use serde::{Deserialize, Serialize};

use super::snapshot_file::SnapshotFile;
use crate::{Revision, StoreError, Txn, TxnResponse};

/// A node's id in the Raft group.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft types of the store: [`Command`]s in, [`CommandResponse`]s out, snapshots as
    /// files (the serialized [`crate::mvcc::Mvcc`]), streamed in chunks.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

/// What one log entry asks the state machine to do. Apply is deterministic: everything that
/// varies (uids, timestamps) is decided before proposing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Txns grouped into one entry (group commit); each still gets its own revision.
    Batch(Vec<Txn>),
    /// Forget history at and below this revision.
    Compact(Revision),
}

/// The result of applying one log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// One response per txn of a [`Command::Batch`], in order.
    Batch(Vec<TxnResponse>),
    Compact(Result<(), StoreError>),
    /// Blank and membership entries answer nothing.
    None,
}

pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type StorageError = openraft::StorageError<NodeId>;
pub(crate) type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub(crate) type Snapshot = openraft::Snapshot<TypeConfig>;
