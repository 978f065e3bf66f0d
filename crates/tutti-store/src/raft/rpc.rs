//! The wire format of the Raft transport: URL paths, the envelope of requests a member
//! forwards to the leader, and the MessagePack encoding of every body.
//!
//! Raft RPCs carry openraft's own request and response types. Their error side is
//! `Fatal` for append and vote (their API error type is `Infallible`, which serde cannot
//! encode) and the full `RaftError<InstallSnapshotError>` for snapshot chunks.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::types::NodeId;
use crate::{MembershipError, Revision, Txn, TxnResponse};

/// AppendEntries (replication and heartbeats).
pub(crate) const APPEND: &str = "/raft/append";
/// RequestVote.
pub(crate) const VOTE: &str = "/raft/vote";
/// One chunk of InstallSnapshot.
pub(crate) const SNAPSHOT: &str = "/raft/snapshot";
/// A client write, compaction, read-index request or membership change sent to the leader.
pub(crate) const FORWARD: &str = "/raft/forward";

pub(crate) const CONTENT_TYPE: &str = "application/vnd.msgpack";

/// A request a member hands to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Forward {
    /// How long the caller still waits for an answer; the leader gives up (and answers
    /// `Unavailable`) before then.
    pub(crate) budget_ms: u64,
    pub(crate) op: ForwardOp,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum ForwardOp {
    Txn(Txn),
    Compact(Revision),
    /// "Confirm you are leader and tell me your commit index" (ReadIndex).
    ReadIndex,
    AddLearner {
        id: NodeId,
        addr: String,
    },
    Promote(NodeId),
    Demote(NodeId),
    Remove(NodeId),
}

impl ForwardOp {
    /// Whether running the op twice is harmless, so a failure with an unknown outcome may be
    /// retried. Only a txn is not (its compares and revision bump are not repeatable).
    pub(crate) fn idempotent(&self) -> bool {
        !matches!(self, ForwardOp::Txn(_))
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            ForwardOp::Txn(_) => "txn",
            ForwardOp::Compact(_) => "compact",
            ForwardOp::ReadIndex => "read-index",
            ForwardOp::AddLearner { .. } => "add-learner",
            ForwardOp::Promote(_) => "promote",
            ForwardOp::Demote(_) => "demote",
            ForwardOp::Remove(_) => "remove",
        }
    }
}

/// The leader's answer. Every variant carries a log index the caller's replica must apply
/// before it answers its own caller (read-your-writes on the member that forwarded).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum ForwardReply {
    Txn { response: TxnResponse, index: u64 },
    Done { index: u64 },
}

impl ForwardReply {
    pub(crate) fn index(&self) -> u64 {
        match self {
            ForwardReply::Txn { index, .. } | ForwardReply::Done { index } => *index,
        }
    }
}

/// The body of a `/raft/forward` response.
pub(crate) type ForwardResult = Result<ForwardReply, MembershipError>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CodecError(String);

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec_named(value).map_err(|e| CodecError(format!("encoding: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    rmp_serde::from_slice(bytes).map_err(|e| CodecError(format!("decoding: {e}")))
}
