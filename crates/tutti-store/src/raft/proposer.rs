//! Group commit: one task collects concurrent `txn` calls and proposes them as ONE log entry,
//! so many writers share one Raft append and one fsync. Each txn still gets its own revision
//! and its own response.
//!
//! The proposer keeps one batch in flight: while it waits for batch N to be appended, synced
//! and applied, new txns queue up and become batch N+1. Under load batches grow by themselves;
//! a lone writer pays exactly one fsync per write.

use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::config::RaftStoreConfig;
use super::errors;
use super::stats::Counters;
use super::types::{Command, CommandResponse, Raft};
use crate::{StoreError, Txn, TxnResponse};

/// One `txn` call waiting for its response.
pub(crate) struct Proposal {
    pub(crate) txn: Txn,
    pub(crate) reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// An applied txn: its response and the log index of the entry that carried it.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) response: TxnResponse,
    pub(crate) index: u64,
}

/// When a batch in flight is given up on.
struct Limits {
    max_batch: usize,
    /// Never wait longer than this for one batch.
    write_timeout: Duration,
    /// Give up once the leader has not heard from a majority for this long.
    quorum_lost_after: Duration,
}

/// Start the proposer. It ends once every sender of the returned channel is dropped and the
/// batch in flight is answered. A batch stuck behind a lost quorum is answered `Unavailable`
/// (its entry may still commit once a quorum is back).
pub(crate) fn spawn(
    raft: Raft,
    config: &RaftStoreConfig,
    counters: Arc<Counters>,
) -> (mpsc::Sender<Proposal>, JoinHandle<()>) {
    let limits = Limits {
        max_batch: config.max_batch.max(1),
        write_timeout: config.write_timeout,
        quorum_lost_after: config.quorum_ack_limit() + config.leader_wait,
    };
    let (tx, rx) = mpsc::channel(limits.max_batch * 4);
    let handle = tokio::spawn(run(raft, rx, limits, counters));
    (tx, handle)
}

/// Resolves once this member leads several voters and has not heard from a majority of them
/// for longer than `after`. Never resolves otherwise.
async fn quorum_lost(raft: &Raft, after: Duration) {
    let mut metrics = raft.metrics();
    loop {
        {
            let m = metrics.borrow_and_update();
            let voters = m.membership_config.membership().voter_ids().count();
            let silent = m
                .millis_since_quorum_ack
                .is_some_and(|ms| Duration::from_millis(ms) > after);
            if m.state == ServerState::Leader && voters > 1 && silent {
                return;
            }
        }
        if metrics.changed().await.is_err() {
            // Raft stopped: the write itself fails.
            std::future::pending::<()>().await;
        }
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Proposal>,
    limits: Limits,
    counters: Arc<Counters>,
) {
    let Limits {
        max_batch,
        write_timeout,
        quorum_lost_after,
    } = limits;
    let mut pending = Vec::with_capacity(max_batch);
    // `recv_many` waits for one proposal, then takes every one already queued (up to the cap).
    while rx.recv_many(&mut pending, max_batch).await > 0 {
        let (txns, replies): (Vec<Txn>, Vec<_>) =
            pending.drain(..).map(|p| (p.txn, p.reply)).unzip();
        let size = txns.len();
        Counters::bump(&counters.proposed_batches, 1);
        let span = tracing::debug_span!("raft.propose", size);
        let write = raft.client_write(Command::Batch(txns)).instrument(span);
        let result = tokio::select! {
            result = tokio::time::timeout(write_timeout, write) => {
                result.map_err(|_| format!("the write was not committed within {write_timeout:?}"))
            }
            () = quorum_lost(&raft, quorum_lost_after) => {
                Err("no leader: quorum lost while writing".to_string())
            }
        };
        let result = match result {
            Ok(result) => result,
            Err(why) => {
                tracing::warn!(size, reason = %why, "batch given up on");
                let error = StoreError::Unavailable(format!(
                    "{why}; it may still be applied once a quorum is back"
                ));
                answer_all(replies, error);
                continue;
            }
        };
        match result {
            Ok(written) => match written.data {
                CommandResponse::Batch(responses) if responses.len() == replies.len() => {
                    let index = written.log_id.index;
                    tracing::trace!(index, size, "batch applied");
                    for (reply, response) in replies.into_iter().zip(responses) {
                        // The caller may have given up (dropped its future); nothing to do.
                        let _ = reply.send(Ok(Written { response, index }));
                    }
                }
                other => {
                    tracing::error!(index = written.log_id.index, size, response = ?other, "unexpected apply response");
                    let error = StoreError::Storage(format!(
                        "batch of {size} txns at log index {} produced an unexpected response",
                        written.log_id.index
                    ));
                    answer_all(replies, error);
                }
            },
            Err(e) => {
                let error = errors::from_raft(e);
                tracing::warn!(size, error = %error, "proposing a batch failed");
                answer_all(replies, error);
            }
        }
    }
    tracing::debug!("proposer stopped");
}

fn answer_all(replies: Vec<oneshot::Sender<Result<Written, StoreError>>>, error: StoreError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
