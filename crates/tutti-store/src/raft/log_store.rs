//! Raft log storage on redb: log entries, vote, committed pointer and purge point.
//!
//! Durability: every append, vote save and truncation is committed with redb's immediate
//! durability (fsync) before the IO callback runs or the call returns, so Raft never counts
//! an entry or a vote that a crash could lose. The committed pointer and purges are written
//! without fsync: losing them only means re-applying or re-purging after a restart.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader};
use redb::{Durability, ReadableDatabase, ReadableTable};

use super::db::{self, COMMITTED, Db, DbError, LAST_PURGED, LOG, META, VOTE};
use super::stats::Counters;
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// The log half of the Raft storage. Cloning shares the database (used as the log reader).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Db>,
    counters: Arc<Counters>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Db>, counters: Arc<Counters>) -> Self {
        LogStore { db, counters }
    }

    /// Write one `META` record in its own transaction.
    async fn put_meta(
        &self,
        key: &'static str,
        bytes: Vec<u8>,
        durability: Durability,
        to_storage_error: fn(DbError) -> StorageError,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        db::blocking(
            move || {
                let mut txn = db.begin_write()?;
                txn.set_durability(durability)?;
                txn.open_table(META)?.insert(key, bytes.as_slice())?;
                txn.commit()?;
                Ok(())
            },
            to_storage_error,
        )
        .await?;
        if matches!(durability, Durability::Immediate) {
            Counters::bump(&self.counters.fsyncs, 1);
        }
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let read = || -> Result<Vec<Entry>, DbError> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(LOG)?;
            let mut entries = Vec::new();
            for item in table.range(range)? {
                let (_, bytes) = item?;
                entries.push(db::decode(bytes.value())?);
            }
            Ok(entries)
        };
        read().map_err(db::read_logs_error)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let read = || -> Result<LogState<TypeConfig>, DbError> {
            let last_purged_log_id: Option<LogId> = db::get(&self.db, META, LAST_PURGED)?;
            let txn = self.db.begin_read()?;
            let table = txn.open_table(LOG)?;
            let last = match table.last()? {
                Some((_, bytes)) => Some(db::decode::<Entry>(bytes.value())?.log_id),
                None => None,
            };
            Ok(LogState {
                last_log_id: last.or(last_purged_log_id),
                last_purged_log_id,
            })
        };
        read().map_err(db::read_logs_error)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = db::encode(vote).map_err(db::write_vote_error)?;
        self.put_meta(VOTE, bytes, Durability::Immediate, db::write_vote_error)
            .await?;
        tracing::debug!(%vote, "vote saved");
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        db::get(&self.db, META, VOTE).map_err(db::read_vote_error)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = db::encode(&committed).map_err(db::write_logs_error)?;
        self.put_meta(COMMITTED, bytes, Durability::None, db::write_logs_error)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> =
            db::get(&self.db, META, COMMITTED).map_err(db::read_logs_error)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let count = entries.len();
        let last_index = entries.last().map(|e| e.log_id.index);
        let db = self.db.clone();
        let written = db::blocking(
            move || {
                let mut txn = db.begin_write()?;
                txn.set_durability(Durability::Immediate)?;
                {
                    let mut table = txn.open_table(LOG)?;
                    for entry in &entries {
                        table.insert(entry.log_id.index, db::encode(entry)?.as_slice())?;
                    }
                }
                txn.commit()?;
                Ok(())
            },
            db::write_logs_error,
        )
        .await;
        match written {
            Ok(()) => {
                Counters::bump(&self.counters.log_appends, 1);
                Counters::bump(&self.counters.fsyncs, 1);
                tracing::trace!(count, ?last_index, "log entries appended and synced");
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(count, ?last_index, error = %e, "log append failed");
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        let since = log_id.index;
        db::blocking(
            move || {
                let mut txn = db.begin_write()?;
                txn.set_durability(Durability::Immediate)?;
                txn.open_table(LOG)?.retain_in(since.., |_, _| false)?;
                txn.commit()?;
                Ok(())
            },
            db::write_logs_error,
        )
        .await?;
        Counters::bump(&self.counters.fsyncs, 1);
        tracing::debug!(%log_id, "log truncated");
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        let upto = log_id.index;
        let bytes = db::encode(&log_id).map_err(db::write_logs_error)?;
        db::blocking(
            move || {
                let mut txn = db.begin_write()?;
                // Not fsync'd: the snapshot covering these entries already is, and a lost purge
                // is simply redone.
                txn.set_durability(Durability::None)?;
                txn.open_table(META)?
                    .insert(LAST_PURGED, bytes.as_slice())?;
                txn.open_table(LOG)?.retain_in(..=upto, |_, _| false)?;
                txn.commit()?;
                Ok(())
            },
            db::write_logs_error,
        )
        .await?;
        tracing::debug!(%log_id, "log purged");
        Ok(())
    }
}
