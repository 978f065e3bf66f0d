//! Snapshots of the state machine: the serialized MVCC state (keys, revisions, history) with
//! its Raft metadata, persisted in redb with an fsync before openraft may purge the log they
//! cover. On restart the latest snapshot is loaded and openraft replays the log after it.

use std::io::Cursor;
use std::sync::Arc;

use openraft::RaftSnapshotBuilder;
use redb::{Database, Durability, ReadableDatabase};

use super::db::{self, Db, DbError, SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_META};
use super::stats::Counters;
use super::types::{LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::mvcc::Mvcc;

/// A snapshot as persisted: metadata plus the encoded [`Mvcc`].
pub(crate) struct StoredSnapshot {
    pub(crate) meta: SnapshotMeta,
    pub(crate) data: Vec<u8>,
}

impl StoredSnapshot {
    pub(crate) fn into_snapshot(self) -> Snapshot {
        Snapshot {
            meta: self.meta,
            snapshot: Box::new(Cursor::new(self.data)),
        }
    }
}

/// The latest persisted snapshot, if any.
pub(crate) fn load(db: &Database) -> Result<Option<StoredSnapshot>, DbError> {
    let Some(meta) = db::get::<SnapshotMeta>(db, SNAPSHOT, SNAPSHOT_META)? else {
        return Ok(None);
    };
    let txn = db.begin_read()?;
    let table = txn.open_table(SNAPSHOT)?;
    match table.get(SNAPSHOT_DATA)? {
        Some(data) => Ok(Some(StoredSnapshot {
            meta,
            data: data.value().to_vec(),
        })),
        None => Err(DbError::new(
            "snapshot metadata present but its data is missing",
        )),
    }
}

/// Replace the persisted snapshot, durably (fsync) before returning.
pub(crate) fn save(db: &Database, meta: &SnapshotMeta, data: &[u8]) -> Result<(), DbError> {
    let meta_bytes = db::encode(meta)?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(SNAPSHOT)?;
        table.insert(SNAPSHOT_DATA, data)?;
        table.insert(SNAPSHOT_META, meta_bytes.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

/// A frozen copy of the state at `last_applied`, serialized and persisted off the apply path.
pub(crate) struct SnapshotBuilder {
    pub(crate) db: Arc<Db>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) state: Mvcc,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let snapshot_id = match &self.last_applied {
            Some(log_id) => format!("{}-{}", log_id.leader_id, log_id.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let state = std::mem::take(&mut self.state);
        let revision = state.revision();
        let db = self.db.clone();
        let persisted = meta.clone();
        let data = db::blocking(
            move || {
                let data = state.to_bytes()?;
                save(&db, &persisted, &data)?;
                Ok(data)
            },
            db::write_snapshot_error,
        )
        .await?;
        Counters::bump(&self.counters.snapshots_built, 1);
        Counters::bump(&self.counters.fsyncs, 1);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            revision,
            bytes = data.len(),
            "snapshot built"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
