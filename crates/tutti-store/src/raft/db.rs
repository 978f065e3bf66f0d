//! The redb file of the Raft store (`<dir>/raft.redb`): its tables, how values are encoded,
//! and how blocking database work is kept off the async runtime.

use std::ops::Deref;
use std::path::Path;

use openraft::{AnyError, StorageIOError};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::types::StorageError;
use crate::StoreError;

/// Log entries by index, each an rmp-encoded `openraft::Entry`.
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Small Raft records: [`VOTE`], [`COMMITTED`], [`LAST_PURGED`].
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// The current snapshot: [`SNAPSHOT_META`] and [`SNAPSHOT_FILE`], the name of its file in
/// `<dir>/snapshots/` (see `super::snapshot`). Data directories written before snapshot files
/// hold the serialized state itself in [`SNAPSHOT_DATA`] instead, until they are next opened.
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

pub(crate) const VOTE: &str = "vote";
pub(crate) const COMMITTED: &str = "committed";
pub(crate) const LAST_PURGED: &str = "last_purged";
pub(crate) const SNAPSHOT_META: &str = "meta";
pub(crate) const SNAPSHOT_FILE: &str = "file";
pub(crate) const SNAPSHOT_DATA: &str = "data";

/// redb's page cache (reads, and writes waiting for a commit). redb's default is 1 GiB, and
/// every page a commit writes moves into that cache afterwards, so each log batch (and, when
/// snapshots were kept in redb, each whole serialized state) stayed resident until the
/// gigabyte filled. Nothing here needs it: the state machine serves every read from memory,
/// and redb is read back only for the newest log entries (applied right after they are
/// appended, so still cached) and for a follower that lags, both of which the operating
/// system's page cache serves nearly as fast. Big enough for several full log batches (up
/// to 1,024 txns each).
const CACHE_BYTES: usize = 32 << 20;

/// Any failure of the database or of encoding what goes into it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DbError(String);

impl DbError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DbError(message.into())
    }
}

macro_rules! db_error_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for DbError {
            fn from(e: $t) -> Self {
                DbError(e.to_string())
            }
        }
    )*};
}

db_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    rmp_serde::encode::Error,
    rmp_serde::decode::Error,
);

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Storage(e.0)
    }
}

/// The open database. Dropping the last handle closes the file (redb may still make pending
/// non-durable commits durable while doing so) and only then resolves the receiver returned by
/// [`open`], so a shutdown can wait until the directory can be opened again.
pub(crate) struct Db {
    // Field order matters: `database` is dropped (file closed) before `_closed` fires.
    database: Database,
    _closed: oneshot::Sender<()>,
}

impl Deref for Db {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.database
    }
}

/// Open (or create) the database and make sure every table exists. The receiver resolves
/// (with an error: nothing is ever sent) once the database is closed.
pub(crate) fn open(path: &Path) -> Result<(Db, oneshot::Receiver<()>), StoreError> {
    let database = open_database(path)?;
    let (closed_tx, closed_rx) = oneshot::channel();
    Ok((
        Db {
            database,
            _closed: closed_tx,
        },
        closed_rx,
    ))
}

fn open_database(path: &Path) -> Result<Database, StoreError> {
    let opened = (|| -> Result<Database, DbError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(LOG)?;
            txn.open_table(META)?;
            txn.open_table(SNAPSHOT)?;
        }
        txn.commit()?;
        Ok(db)
    })();
    opened.map_err(|e| StoreError::Storage(format!("opening {}: {e}", path.display())))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, DbError> {
    Ok(rmp_serde::to_vec_named(value)?)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DbError> {
    Ok(rmp_serde::from_slice(bytes)?)
}

/// Read and decode one record of a `&str`-keyed table.
pub(crate) fn get<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<Option<T>, DbError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(table)?;
    match table.get(key)? {
        Some(bytes) => Ok(Some(decode(bytes.value())?)),
        None => Ok(None),
    }
}

/// Run blocking database work (fsyncs above all) on the blocking pool.
pub(crate) async fn blocking<T, F>(
    f: F,
    to_storage_error: fn(DbError) -> StorageError,
) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(to_storage_error),
        Err(e) => Err(to_storage_error(DbError(format!(
            "storage task failed: {e}"
        )))),
    }
}

pub(crate) fn read_logs_error(e: DbError) -> StorageError {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

pub(crate) fn write_logs_error(e: DbError) -> StorageError {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

pub(crate) fn read_vote_error(e: DbError) -> StorageError {
    StorageIOError::read_vote(AnyError::new(&e)).into()
}

pub(crate) fn write_vote_error(e: DbError) -> StorageError {
    StorageIOError::write_vote(AnyError::new(&e)).into()
}

pub(crate) fn read_snapshot_error(e: DbError) -> StorageError {
    StorageIOError::read_snapshot(None, AnyError::new(&e)).into()
}

pub(crate) fn write_snapshot_error(e: DbError) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::new(&e)).into()
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError(e.to_string())
    }
}
