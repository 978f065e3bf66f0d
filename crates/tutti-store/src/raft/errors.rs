//! How openraft's errors surface as [`StoreError`]s.

use std::fmt::Display;

use openraft::error::{Fatal, ForwardToLeader, RaftError};
use openraft::{BasicNode, TryAsRef};

use super::types::NodeId;
use crate::StoreError;

/// Map an error of a Raft API call: a redirect becomes `NotLeader`, a stopped node `Shutdown`,
/// anything else `Unavailable`.
pub(crate) fn from_raft<E>(e: RaftError<NodeId, E>) -> StoreError
where
    E: TryAsRef<ForwardToLeader<NodeId, BasicNode>> + Display + std::fmt::Debug,
{
    if let Some(forward) = e.forward_to_leader::<BasicNode>() {
        let leader = forward
            .leader_node
            .as_ref()
            .map(|n| n.addr.clone())
            .or_else(|| forward.leader_id.map(|id| format!("node {id}")));
        return StoreError::NotLeader { leader };
    }
    match e {
        RaftError::Fatal(fatal) => from_fatal(fatal),
        RaftError::APIError(e) => StoreError::Unavailable(e.to_string()),
    }
}

pub(crate) fn from_fatal(fatal: Fatal<NodeId>) -> StoreError {
    match fatal {
        Fatal::Stopped => StoreError::Shutdown,
        other => StoreError::Unavailable(other.to_string()),
    }
}
