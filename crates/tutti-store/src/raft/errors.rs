//! How openraft's errors surface as [`StoreError`]s and [`MembershipError`]s.

use std::fmt::Display;

use openraft::error::{ClientWriteError, Fatal, ForwardToLeader, RaftError};
use openraft::{BasicNode, TryAsRef};

use super::types::NodeId;
use crate::{MembershipError, StoreError};

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

/// Map an error of a membership change: a change openraft refuses is `Rejected`.
pub(crate) fn from_membership_change(
    e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            MembershipError::Rejected(e.to_string())
        }
        other => MembershipError::Store(from_raft(other)),
    }
}

/// A membership error where only a [`StoreError`] fits (data operations never produce the
/// membership-specific variants).
pub(crate) fn membership_to_store(e: MembershipError) -> StoreError {
    match e {
        MembershipError::Store(e) => e,
        other => StoreError::Unavailable(other.to_string()),
    }
}
