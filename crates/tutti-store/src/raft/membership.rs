//! Cluster membership: adding a learner, promoting it to voter once it caught up, demoting
//! and removing members, and the member list a manager shows. Every change may be asked of
//! any member; followers forward it to the leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};

use super::errors;
use super::rpc::{ForwardOp, ForwardReply, ForwardResult};
use super::store::{RaftStore, lock};
use super::types::NodeId;
use crate::{MembershipError, StoreError};

/// A member's part in the Raft group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Votes and counts towards the quorum.
    Voter,
    /// Receives the log but does not vote (a joining manager catching up).
    Learner,
}

/// One member of the cluster, as this member sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub addr: String,
    pub role: Role,
    pub is_leader: bool,
    /// Whether this member heard from it recently: known on the leader for every member, on a
    /// follower for itself and the leader; `None` when this member cannot tell.
    pub reachable: Option<bool>,
}

impl RaftStore {
    /// Add `node_id` at `addr` (`https://10.0.0.2:6443`) as a learner: the leader starts
    /// replicating to it (a snapshot first if the log it needs was purged). Returns once the
    /// membership change is committed; use [`RaftStore::promote`] to make it a voter.
    pub async fn add_learner(&self, node_id: NodeId, addr: &str) -> Result<(), MembershipError> {
        let op = ForwardOp::AddLearner {
            id: node_id,
            addr: addr.to_string(),
        };
        self.change(op).await
    }

    /// Make learner `node_id` a voter, after waiting (bounded by `open_timeout`) until it has
    /// caught up with the leader's log. Promoting a voter is a no-op.
    pub async fn promote(&self, node_id: NodeId) -> Result<(), MembershipError> {
        self.change(ForwardOp::Promote(node_id)).await
    }

    /// Make voter `node_id` a learner (it keeps receiving the log). Demoting a learner is a no-op.
    pub async fn demote(&self, node_id: NodeId) -> Result<(), MembershipError> {
        self.change(ForwardOp::Demote(node_id)).await
    }

    /// Remove `node_id` from the cluster, whether voter or learner. Removing a non-member is a
    /// no-op.
    pub async fn remove(&self, node_id: NodeId) -> Result<(), MembershipError> {
        self.change(ForwardOp::Remove(node_id)).await
    }

    async fn change(&self, op: ForwardOp) -> Result<(), MembershipError> {
        let deadline = Instant::now() + self.inner.config.open_timeout;
        self.on_leader(op, deadline).await.map(|_| ())
    }

    /// The current leader's id and address, as this member knows it.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let id = m.current_leader?;
        let addr = m.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    /// Every member with its role, as this member knows the membership.
    pub fn members(&self) -> Vec<Member> {
        let me = self.inner.node_id;
        let fresh = |at: Option<Instant>| {
            at.is_some_and(|t| t.elapsed() <= self.inner.config.election_timeout_max * 2)
        };
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let leading = m.state == ServerState::Leader && m.current_leader == Some(me);
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(&id, node)| {
                let is_leader = m.current_leader == Some(id);
                let reachable = if id == me {
                    Some(true)
                } else if leading {
                    Some(fresh(self.inner.peers.last_ok(&node.addr)))
                } else if is_leader {
                    Some(fresh(*lock(&self.inner.leader_contact)))
                } else {
                    None
                };
                Member {
                    id,
                    addr: node.addr.clone(),
                    role: if voters.contains(&id) {
                        Role::Voter
                    } else {
                        Role::Learner
                    },
                    is_leader,
                    reachable,
                }
            })
            .collect()
    }

    fn role_of(&self, node_id: NodeId) -> Option<Role> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        membership.get_node(&node_id)?;
        Some(match membership.voter_ids().any(|v| v == node_id) {
            true => Role::Voter,
            false => Role::Learner,
        })
    }

    fn applied_index(&self) -> u64 {
        let metrics = self.inner.raft.metrics();
        metrics.borrow().last_applied.map_or(0, |l| l.index)
    }

    /// Commit `changes` (bounded by `deadline`) and answer with the index of the change.
    async fn commit(
        &self,
        changes: ChangeMembers<NodeId, BasicNode>,
        retain: bool,
        deadline: Instant,
    ) -> ForwardResult {
        tracing::info!(?changes, retain, "changing membership");
        let change = self.inner.raft.change_membership(changes, retain);
        let left = deadline.saturating_duration_since(Instant::now());
        let written = tokio::time::timeout(left, change)
            .await
            .map_err(|_| StoreError::Unavailable("membership change not committed in time".into()))?
            .map_err(errors::from_membership_change)?;
        Ok(ForwardReply::Done {
            index: written.log_id.index,
        })
    }

    pub(super) async fn add_learner_as_leader(
        &self,
        id: NodeId,
        addr: String,
        deadline: Instant,
    ) -> ForwardResult {
        let add = self
            .inner
            .raft
            .add_learner(id, BasicNode::new(addr.clone()), false);
        let left = deadline.saturating_duration_since(Instant::now());
        let written = tokio::time::timeout(left, add)
            .await
            .map_err(|_| {
                StoreError::Unavailable("adding the learner not committed in time".into())
            })?
            .map_err(errors::from_membership_change)?;
        tracing::info!(node_id = id, %addr, "learner added");
        Ok(ForwardReply::Done {
            index: written.log_id.index,
        })
    }

    pub(super) async fn promote_as_leader(&self, id: NodeId, deadline: Instant) -> ForwardResult {
        match self.role_of(id) {
            None => return Err(MembershipError::NotMember { id }),
            Some(Role::Voter) => {
                return Ok(ForwardReply::Done {
                    index: self.applied_index(),
                });
            }
            Some(Role::Learner) => {}
        }
        self.wait_caught_up(id, deadline).await?;
        let reply = self
            .commit(
                ChangeMembers::AddVoterIds(BTreeSet::from([id])),
                false,
                deadline,
            )
            .await?;
        tracing::info!(node_id = id, "learner promoted to voter");
        Ok(reply)
    }

    pub(super) async fn demote_as_leader(&self, id: NodeId, deadline: Instant) -> ForwardResult {
        match self.role_of(id) {
            None => Err(MembershipError::NotMember { id }),
            Some(Role::Learner) => Ok(ForwardReply::Done {
                index: self.applied_index(),
            }),
            Some(Role::Voter) => {
                let reply = self
                    .commit(
                        ChangeMembers::RemoveVoters(BTreeSet::from([id])),
                        true,
                        deadline,
                    )
                    .await?;
                tracing::info!(node_id = id, "voter demoted to learner");
                Ok(reply)
            }
        }
    }

    pub(super) async fn remove_as_leader(&self, id: NodeId, deadline: Instant) -> ForwardResult {
        let ids = BTreeSet::from([id]);
        let reply = match self.role_of(id) {
            None => {
                return Ok(ForwardReply::Done {
                    index: self.applied_index(),
                });
            }
            Some(Role::Voter) => self.commit(ChangeMembers::RemoveVoters(ids), false, deadline),
            Some(Role::Learner) => self.commit(ChangeMembers::RemoveNodes(ids), false, deadline),
        }
        .await?;
        tracing::info!(node_id = id, "member removed");
        Ok(reply)
    }

    /// Wait until the leader has replicated its log (as of now) to learner `id`.
    async fn wait_caught_up(&self, id: NodeId, deadline: Instant) -> Result<(), MembershipError> {
        let started = Instant::now();
        let mut metrics = self.inner.raft.metrics();
        let target = metrics.borrow().last_log_index.unwrap_or(0);
        loop {
            let (matched, addr) = {
                let m = metrics.borrow_and_update();
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r: &BTreeMap<NodeId, _>| r.get(&id).copied().flatten())
                    .map(|l| l.index);
                let addr = m
                    .membership_config
                    .membership()
                    .get_node(&id)
                    .map(|n| n.addr.clone());
                (matched, addr.unwrap_or_default())
            };
            if matched.is_some_and(|m| m >= target) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MembershipError::NotCaughtUp {
                    id,
                    addr,
                    matched,
                    target,
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            let tick = left.min(Duration::from_millis(250));
            if let Ok(Err(_)) = tokio::time::timeout(tick, metrics.changed()).await {
                return Err(StoreError::Shutdown.into());
            }
        }
    }
}
