//! The Raft state machine: applies committed entries to the local [`Replica`] (which publishes
//! their events to watchers) and hands out snapshots of it.
//!
//! The state lives in memory; durability comes from the log plus persisted snapshots: on
//! restart [`StateMachine::restore`] loads the latest snapshot and openraft re-applies the log
//! after it.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend};

use super::db::{self, Db};
use super::snapshot::{self, SnapshotBuilder};
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
    db: Arc<Db>,
    counters: Arc<Counters>,
    replica: Arc<Replica>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Rebuild the state machine from the latest persisted snapshot (or empty). Blocking.
    pub(crate) fn restore(
        db: Arc<Db>,
        counters: Arc<Counters>,
        config: StoreConfig,
    ) -> Result<StateMachine, StoreError> {
        let (state, last_applied, membership) = match snapshot::load(&db)? {
            Some(stored) => {
                let state = Mvcc::from_bytes(&stored.data, config.history_limit)?;
                tracing::info!(
                    index = ?stored.meta.last_log_id.map(|l| l.index),
                    revision = state.revision(),
                    keys = state.len(),
                    "restored state from snapshot"
                );
                (state, stored.meta.last_log_id, stored.meta.last_membership)
            }
            None => (
                Mvcc::new(config.history_limit),
                None,
                StoredMembership::default(),
            ),
        };
        let replica = Arc::new(Replica::new(state, config));
        Ok(StateMachine {
            db,
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
            db: self.db.clone(),
            counters: self.counters.clone(),
            state: self.replica.snapshot(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let history_limit = self.replica.config().history_limit;
        let state = Mvcc::from_bytes(&data, history_limit)
            .map_err(|e| db::read_snapshot_error(db::DbError::from(e)))?;
        let db = self.db.clone();
        let persisted = meta.clone();
        db::blocking(
            move || snapshot::save(&db, &persisted, &data),
            db::write_snapshot_error,
        )
        .await?;
        Counters::bump(&self.counters.fsyncs, 1);
        Counters::bump(&self.counters.snapshots_installed, 1);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            revision = state.revision(),
            "installed snapshot from leader"
        );
        self.replica.replace(state);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let db = self.db.clone();
        let stored = db::blocking(move || snapshot::load(&db), db::read_snapshot_error).await?;
        Ok(stored.map(snapshot::StoredSnapshot::into_snapshot))
    }
}
