//! Group commit: one task collects concurrent `txn` calls and proposes them as ONE log entry,
//! so many writers share one Raft append and one fsync. Each txn still gets its own revision
//! and its own response.
//!
//! The proposer keeps one batch in flight: while it waits for batch N to be appended, synced
//! and applied, new txns queue up and become batch N+1. Under load batches grow by themselves;
//! a lone writer pays exactly one fsync per write.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::errors;
use super::stats::Counters;
use super::types::{Command, CommandResponse, Raft};
use crate::{StoreError, Txn, TxnResponse};

/// One `txn` call waiting for its response.
pub(crate) struct Proposal {
    pub(crate) txn: Txn,
    pub(crate) reply: oneshot::Sender<Result<TxnResponse, StoreError>>,
}

/// Start the proposer. It ends once every sender of the returned channel is dropped and the
/// batch in flight is answered.
pub(crate) fn spawn(
    raft: Raft,
    max_batch: usize,
    counters: Arc<Counters>,
) -> (mpsc::Sender<Proposal>, JoinHandle<()>) {
    let max_batch = max_batch.max(1);
    let (tx, rx) = mpsc::channel(max_batch * 4);
    let handle = tokio::spawn(run(raft, rx, max_batch, counters));
    (tx, handle)
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Proposal>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut pending = Vec::with_capacity(max_batch);
    // `recv_many` waits for one proposal, then takes every one already queued (up to the cap).
    while rx.recv_many(&mut pending, max_batch).await > 0 {
        let (txns, replies): (Vec<Txn>, Vec<_>) =
            pending.drain(..).map(|p| (p.txn, p.reply)).unzip();
        let size = txns.len();
        Counters::bump(&counters.proposed_batches, 1);
        let span = tracing::debug_span!("raft.propose", size);
        match raft
            .client_write(Command::Batch(txns))
            .instrument(span)
            .await
        {
            Ok(written) => match written.data {
                CommandResponse::Batch(responses) if responses.len() == replies.len() => {
                    tracing::trace!(index = written.log_id.index, size, "batch applied");
                    for (reply, response) in replies.into_iter().zip(responses) {
                        // The caller may have given up (dropped its future); nothing to do.
                        let _ = reply.send(Ok(response));
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

fn answer_all(replies: Vec<oneshot::Sender<Result<TxnResponse, StoreError>>>, error: StoreError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
