//! Where a write, a read index or a membership change runs: on this member when it leads
//! with a live quorum, otherwise forwarded to the leader over `/raft/forward`. Waiting for a
//! leader (an election, a lost quorum) is bounded by a deadline, after which the caller gets
//! `Unavailable("no leader: quorum lost ...")`.

use std::time::{Duration, Instant};

use openraft::ServerState;
use openraft::metrics::WaitError;

use super::errors;
use super::peers::CallError;
use super::rpc::{self, Forward, ForwardOp, ForwardReply, ForwardResult};
use super::store::RaftStore;
use super::types::{Command, CommandResponse, NodeId};
use crate::{MembershipError, Revision, StoreError};

/// Pause between attempts while the leader is unknown, unreachable or moving.
const RETRY_PAUSE: Duration = Duration::from_millis(25);
/// A forwarded call waits this much longer than the budget it hands the leader, so that the
/// leader's own verdict (e.g. "quorum lost") arrives before the call times out.
const FORWARD_GRACE: Duration = Duration::from_millis(500);

pub(super) enum Route {
    Local,
    Remote { id: NodeId, addr: String },
}

/// The outcome of one failed attempt.
enum Attempt {
    Retry(MembershipError),
    Final(MembershipError),
}

/// The error of the last attempt when time is up: the caller learns there was no usable leader.
fn no_leader(last: MembershipError) -> MembershipError {
    match last {
        MembershipError::Store(StoreError::Unavailable(m)) if m.starts_with("no leader") => {
            StoreError::Unavailable(m).into()
        }
        MembershipError::Store(e @ (StoreError::Unavailable(_) | StoreError::NotLeader { .. })) => {
            StoreError::Unavailable(format!(
                "no leader: quorum lost or the leader is unreachable (last attempt: {e})"
            ))
            .into()
        }
        other => other,
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl RaftStore {
    /// Run `op` on the leader and make its effect visible on this member's replica before
    /// returning. Retries while there is no leader or the leader moves, until `deadline`.
    pub(super) async fn on_leader(
        &self,
        op: ForwardOp,
        deadline: Instant,
    ) -> Result<ForwardReply, MembershipError> {
        loop {
            let attempt = match self.route(deadline).await? {
                Route::Local => match self.serve_locally(op.clone(), deadline).await {
                    // A local write or compaction returns once applied here; a read index
                    // still has to be waited for.
                    Ok(reply) if matches!(op, ForwardOp::ReadIndex) => {
                        self.catch_up(&op, reply.index()).await?;
                        return Ok(reply);
                    }
                    Ok(reply) => return Ok(reply),
                    Err(MembershipError::Store(e @ StoreError::NotLeader { .. })) => {
                        Attempt::Retry(e.into())
                    }
                    Err(e @ MembershipError::Store(StoreError::Unavailable(_)))
                        if op.idempotent() =>
                    {
                        Attempt::Retry(e)
                    }
                    Err(e) => Attempt::Final(e),
                },
                Route::Remote { id, addr } => {
                    match self.forward(id, &addr, op.clone(), deadline).await {
                        Ok(reply) => {
                            self.catch_up(&op, reply.index()).await?;
                            return Ok(reply);
                        }
                        Err(attempt) => attempt,
                    }
                }
            };
            match attempt {
                Attempt::Final(e) => return Err(e),
                Attempt::Retry(e) => {
                    let left = remaining(deadline);
                    if left.is_zero() {
                        return Err(no_leader(e));
                    }
                    tracing::debug!(op = op.name(), error = %e, "retrying on the leader");
                    tokio::time::sleep(RETRY_PAUSE.min(left)).await;
                }
            }
        }
    }

    /// Who serves leader-only requests now; waits (until `deadline`) while nobody does.
    pub(super) async fn route(&self, deadline: Instant) -> Result<Route, StoreError> {
        let me = self.inner.node_id;
        let mut metrics = self.inner.raft.metrics();
        loop {
            self.ensure_open()?;
            let status = {
                let m = metrics.borrow_and_update();
                match m.current_leader {
                    Some(id) if id == me && m.state == ServerState::Leader => {
                        return Ok(Route::Local);
                    }
                    Some(id) if id != me => {
                        if let Some(node) = m.membership_config.membership().get_node(&id) {
                            return Ok(Route::Remote {
                                id,
                                addr: node.addr.clone(),
                            });
                        }
                    }
                    _ => {}
                }
                let membership = m.membership_config.membership();
                if membership.nodes().next().is_none() {
                    format!(
                        "node {me} has not joined a cluster yet: add it with add_learner \
                         on the leader"
                    )
                } else {
                    let voters: Vec<NodeId> = membership.voter_ids().collect();
                    format!(
                        "node {me} is {:?} in term {}, voters {voters:?}",
                        m.state, m.current_term
                    )
                }
            };
            let left = remaining(deadline);
            if left.is_zero() {
                return Err(StoreError::Unavailable(format!(
                    "no leader: quorum lost or an election is in progress ({status}); waited {:?}; \
                     stale reads still answer from this member",
                    self.inner.config.leader_wait
                )));
            }
            if let Ok(Err(_)) = tokio::time::timeout(left, metrics.changed()).await {
                return Err(StoreError::Shutdown);
            }
        }
    }

    /// On the leader: wait (until `deadline`) until a quorum of voters acknowledged it
    /// recently, so that a write or read index does not stall behind a lost quorum.
    async fn wait_quorum(&self, deadline: Instant) -> Result<(), StoreError> {
        let me = self.inner.node_id;
        let limit = self.inner.config.quorum_ack_limit();
        let mut metrics = self.inner.raft.metrics();
        loop {
            let since_ack = {
                let m = metrics.borrow_and_update();
                if m.state != ServerState::Leader || m.current_leader != Some(me) {
                    let leader = m.current_leader.and_then(|id| {
                        let membership = m.membership_config.membership();
                        membership.get_node(&id).map(|n| n.addr.clone())
                    });
                    return Err(StoreError::NotLeader { leader });
                }
                let voters = m.membership_config.membership().voter_ids().count();
                let since_ack = m.millis_since_quorum_ack.map(Duration::from_millis);
                if voters <= 1 || since_ack.is_some_and(|d| d <= limit) {
                    return Ok(());
                }
                since_ack
            };
            let left = remaining(deadline);
            if left.is_zero() {
                let heard = since_ack.map_or("never".to_string(), |d| format!("{d:?} ago"));
                return Err(StoreError::Unavailable(format!(
                    "no leader: quorum lost: node {me} leads but a majority of voters last \
                     answered {heard}; writes and linearizable reads resume once a majority \
                     is back, stale reads still answer"
                )));
            }
            // Metrics are republished on every Raft tick, so this wakes up regularly.
            if let Ok(Err(_)) = tokio::time::timeout(left, metrics.changed()).await {
                return Err(StoreError::Shutdown);
            }
        }
    }

    /// Serve `op` as the leader (what `/raft/forward` runs); `NotLeader` if this member is not.
    pub(super) async fn serve_locally(&self, op: ForwardOp, deadline: Instant) -> ForwardResult {
        self.ensure_open()?;
        self.wait_quorum(deadline).await?;
        match op {
            ForwardOp::Txn(txn) => {
                let written = self.propose(txn).await?;
                Ok(ForwardReply::Txn {
                    response: written.response,
                    index: written.index,
                })
            }
            ForwardOp::ReadIndex => Ok(ForwardReply::Done {
                index: self.read_index(deadline).await?,
            }),
            ForwardOp::Compact(revision) => Ok(ForwardReply::Done {
                index: self.compact_as_leader(revision, deadline).await?,
            }),
            ForwardOp::AddLearner { id, addr } => {
                self.add_learner_as_leader(id, addr, deadline).await
            }
            ForwardOp::Promote(id) => self.promote_as_leader(id, deadline).await,
            ForwardOp::Demote(id) => self.demote_as_leader(id, deadline).await,
            ForwardOp::Remove(id) => self.remove_as_leader(id, deadline).await,
        }
    }

    /// Confirm leadership with a quorum and return the commit index reads must wait for.
    async fn read_index(&self, deadline: Instant) -> Result<u64, StoreError> {
        let confirmed =
            tokio::time::timeout(remaining(deadline), self.inner.raft.get_read_log_id())
                .await
                .map_err(|_| {
                    StoreError::Unavailable(
                    "no leader: quorum lost: could not confirm leadership with a majority of voters"
                        .into(),
                )
                })?;
        let (read_log_id, _applied) = confirmed.map_err(errors::from_raft)?;
        Ok(read_log_id.map_or(0, |l| l.index))
    }

    async fn compact_as_leader(
        &self,
        revision: Revision,
        deadline: Instant,
    ) -> Result<u64, StoreError> {
        let index = self.read_index(deadline).await?;
        self.wait_applied(index, remaining(deadline)).await?;
        let replica = &self.inner.replica;
        if revision <= replica.compacted_revision() {
            return Ok(index);
        }
        let current = replica.revision();
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        let write = self.inner.raft.client_write(Command::Compact(revision));
        let written = tokio::time::timeout(self.inner.config.write_timeout, write)
            .await
            .map_err(|_| StoreError::Unavailable("quorum lost while compacting".into()))?
            .map_err(errors::from_raft)?;
        match written.data {
            CommandResponse::Compact(result) => result.map(|()| written.log_id.index),
            other => Err(StoreError::Storage(format!(
                "compaction at log index {} produced an unexpected response: {other:?}",
                written.log_id.index
            ))),
        }
    }

    /// Send `op` to the leader `id` at `addr` and classify what came back.
    async fn forward(
        &self,
        id: NodeId,
        addr: &str,
        op: ForwardOp,
        deadline: Instant,
    ) -> Result<ForwardReply, Attempt> {
        let idempotent = op.idempotent();
        let name = op.name();
        let budget = remaining(deadline);
        let request = Forward {
            budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            op,
        };
        let body = rpc::encode(&request)
            .map_err(|e| Attempt::Final(StoreError::Storage(e.to_string()).into()))?;
        let unavailable = |e: &CallError| {
            MembershipError::from(StoreError::Unavailable(format!(
                "forwarding {name} to the leader (node {id} at {addr}): {e}"
            )))
        };
        let call = self
            .inner
            .peers
            .call(addr, rpc::FORWARD, body, budget + FORWARD_GRACE);
        let bytes = match call.await {
            Ok(bytes) => bytes,
            Err(e @ (CallError::NotSent(_) | CallError::Status { code: 503, .. })) => {
                return Err(Attempt::Retry(unavailable(&e)));
            }
            Err(e) if idempotent => return Err(Attempt::Retry(unavailable(&e))),
            Err(e) => {
                let e = StoreError::Unavailable(format!(
                    "forwarding {name} to the leader (node {id} at {addr}): {e}; \
                     the write may or may not have been applied"
                ));
                return Err(Attempt::Final(e.into()));
            }
        };
        let answer: ForwardResult = rpc::decode(&bytes).map_err(|e| {
            Attempt::Final(
                StoreError::Storage(format!("answer of the leader at {addr}: {e}")).into(),
            )
        })?;
        answer.map_err(|e| match e {
            MembershipError::Store(StoreError::NotLeader { .. } | StoreError::Shutdown) => {
                Attempt::Retry(e)
            }
            MembershipError::Store(StoreError::Unavailable(_)) if idempotent => Attempt::Retry(e),
            e => Attempt::Final(e),
        })
    }

    /// After the leader answered: wait until this replica applied `index`. Required for a read
    /// index; for a write it only provides read-your-writes here, so a slow replica is logged
    /// rather than turned into an error (the write is committed either way).
    async fn catch_up(&self, op: &ForwardOp, index: u64) -> Result<(), MembershipError> {
        match self
            .wait_applied(index, self.inner.config.leader_wait)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if matches!(op, ForwardOp::ReadIndex) => Err(e.into()),
            Err(e) => {
                tracing::warn!(op = op.name(), index, error = %e, "replica lags behind the leader");
                Ok(())
            }
        }
    }

    /// Wait (at most `within`) until this member's state machine applied log index `index`.
    pub(super) async fn wait_applied(
        &self,
        index: u64,
        within: Duration,
    ) -> Result<(), StoreError> {
        let applied = self
            .inner
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index);
        if applied >= Some(index) {
            return Ok(());
        }
        self.inner
            .raft
            .wait(Some(within))
            .applied_index_at_least(Some(index), "catch up with the leader")
            .await
            .map(|_| ())
            .map_err(|e| match e {
                WaitError::ShuttingDown => StoreError::Shutdown,
                WaitError::Timeout(..) => StoreError::Unavailable(format!(
                    "node {} has not applied log index {index} within {within:?}; \
                     it may be cut off from the leader",
                    self.inner.node_id
                )),
            })
    }
}
