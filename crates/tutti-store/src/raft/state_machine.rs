//! The Raft state machine: applies committed entries to the local [`Replica`] (which publishes
//! their events to watchers) and hands out snapshots of it.
//!
//! The state lives in memory; durability comes from the log plus persisted snapshots: on
//! restart [`StateMachine::restore`] loads the latest snapshot and openraft re-applies the log
//! after it. A snapshot from the leader is received into a file and decoded from it.

use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend};

use super::db::{self, DbError};
use super::snapshot::{SnapshotBuilder, Snapshots};
use super::snapshot_file::SnapshotFile;
use super::stats::Counters;
use super::types::{
    Command, CommandResponse, Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};
use crate::StoreError;
use crate::config::StoreConfig;
use crate::mvcc::Mvcc;
use crate::replica::Replica;

pub(crate) struct StateMachine {
    snapshots: Arc<Snapshots>,
    counters: Arc<Counters>,
    replica: Arc<Replica>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Rebuild the state machine from the latest persisted snapshot (or empty). Blocking.
    pub(crate) fn restore(
        snapshots: Arc<Snapshots>,
        counters: Arc<Counters>,
        config: StoreConfig,
    ) -> Result<StateMachine, StoreError> {
        let (state, last_applied, membership) = match snapshots.load(config.history_limit)? {
            Some((meta, state)) => {
                tracing::info!(
                    index = ?meta.last_log_id.map(|l| l.index),
                    revision = state.revision(),
                    keys = state.len(),
                    "restored state from snapshot"
                );
                (state, meta.last_log_id, meta.last_membership)
            }
            None => (
                Mvcc::new(config.history_limit),
                None,
                StoredMembership::default(),
            ),
        };
        let replica = Arc::new(Replica::new(state, config));
        Ok(StateMachine {
            snapshots,
            counters,
            replica,
            last_applied,
            membership,
        })
    }

    pub(crate) fn replica(&self) -> Arc<Replica> {
        self.replica.clone()
    }

    /// The id of the last applied entry (from the snapshot or the log).
    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    /// The membership as of the last applied entry.
    pub(crate) fn membership(&self) -> &StoredMembership {
        &self.membership
    }

    pub(crate) fn apply_one(&mut self, entry: Entry) -> CommandResponse {
        let _span = tracing::debug_span!("raft.apply", index = entry.log_id.index).entered();
        self.last_applied = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Blank => CommandResponse::None,
            EntryPayload::Normal(Command::Batch(txns)) => {
                let count = txns.len() as u64;
                let responses = self.replica.apply(txns);
                Counters::bump(&self.counters.applied_txns, count);
                CommandResponse::Batch(responses)
            }
            EntryPayload::Normal(Command::Compact(revision)) => {
                let result = self.replica.compact(revision);
                tracing::debug!(revision, ok = result.is_ok(), "compaction applied");
                CommandResponse::Compact(result)
            }
            EntryPayload::Membership(membership) => {
                self.membership = StoredMembership::new(Some(entry.log_id), membership);
                CommandResponse::None
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        Ok(entries
            .into_iter()
            .map(|entry| self.apply_one(entry))
            .collect())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            snapshots: self.snapshots.clone(),
            counters: self.counters.clone(),
            state: self.replica.snapshot(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotFile>, StorageError> {
        let pending = self.snapshots.receiving_file();
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(pending.path())
            .await
            .map_err(|e| {
                db::write_snapshot_error(DbError::new(format!(
                    "creating {}: {e}",
                    pending.path().display()
                )))
            })?;
        Ok(Box::new(SnapshotFile::receiving(file, pending)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotFile>,
    ) -> Result<(), StorageError> {
        let Some((file, received)) = snapshot.into_received().await else {
            return Err(db::write_snapshot_error(DbError::new(
                "only a snapshot received from the leader can be installed",
            )));
        };
        let history_limit = self.replica.config().history_limit;
        let snapshots = self.snapshots.clone();
        let persisted = meta.clone();
        let (state, saved) = db::blocking(
            move || snapshots.install(&persisted, file, received, history_limit),
            db::write_snapshot_error,
        )
        .await?;
        Counters::bump(&self.counters.fsyncs, 1);
        Counters::bump(&self.counters.snapshots_installed, 1);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            revision = state.revision(),
            bytes = saved.bytes,
            "installed snapshot from leader"
        );
        self.replica.replace(state);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let snapshots = self.snapshots.clone();
        let current = db::blocking(move || snapshots.current(), db::read_snapshot_error).await?;
        Ok(current.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(SnapshotFile::published(file)),
        }))
    }
}
