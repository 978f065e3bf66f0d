//! Snapshots of the state machine: the serialized MVCC state (keys, revisions, history) with
//! its Raft metadata, streamed to and from files so that no full serialized copy is ever held
//! in memory (with 150,000 pods one is several hundred MiB). On restart the current snapshot
//! is decoded from its file and openraft replays the log after it.
//!
//! On disk:
//! - `<dir>/snapshots/<snapshot id>-<unique>.snap`: one [`Mvcc`] encoded with rmp-serde
//!   (named fields; the same bytes the snapshot was before it had a file of its own).
//! - The redb `snapshot` table: `meta` (openraft's `SnapshotMeta`) and `file` (the name of
//!   the current `.snap`). Only the file that record names is a snapshot.
//!
//! A snapshot (built here or received from the leader) becomes current in this order: its
//! file is written as `<name>.snap.tmp` and fsync'd, renamed to `<name>.snap`, the directory
//! is fsync'd, then `meta` and `file` are committed with immediate durability (before
//! openraft may purge the log the snapshot covers), and only then is the replaced file
//! removed. A crash at any point leaves the previous snapshot current; files no record names
//! (temporary ones, or a `.snap` whose commit did not happen) are removed when the store opens.
//!
//! Data directories written before snapshot files keep the serialized state in the table
//! (`data`); opening one writes it out as a file once and drops it from the table.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::RaftSnapshotBuilder;
use redb::{Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use super::db::{self, Db, DbError, SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_FILE, SNAPSHOT_META};
use super::snapshot_file::{PendingFile, SnapshotFile};
use super::stats::Counters;
use super::store::lock;
use super::types::{LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::mvcc::Mvcc;

/// The directory of snapshot files, inside the store's directory.
const DIR: &str = "snapshots";
/// Suffix of a snapshot file.
const SNAP: &str = ".snap";
/// Suffix of a snapshot file still being written or received.
const TMP: &str = ".tmp";
/// Buffer between the encoder or decoder and a snapshot file.
const BUFFER_BYTES: usize = 1 << 20;

/// The persisted snapshots of one store: the `snapshots` directory and the redb record
/// naming the current one.
pub(crate) struct Snapshots {
    db: Arc<Db>,
    dir: PathBuf,
    /// Held while the current snapshot changes (and the replaced file is removed) and while
    /// it is opened, so that a file is never removed between reading its name and opening it.
    current: Mutex<()>,
}

/// A snapshot file written under its final name and made durable, not yet current. Its file
/// is removed if it is dropped unpublished.
struct Written {
    name: String,
    file: File,
    bytes: u64,
    pending: PendingFile,
}

/// A snapshot saved by [`Snapshots::save`] or [`Snapshots::install`].
pub(crate) struct Saved {
    /// The snapshot's file, open for reading (for openraft's [`Snapshot`]).
    pub(crate) file: File,
    /// Its size.
    pub(crate) bytes: u64,
    /// A newer snapshot was current already, so this one was discarded (a snapshot built
    /// from an older state can finish after one from the leader was installed).
    pub(crate) superseded: bool,
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DbError {
    move |e| DbError::new(format!("{what} {}: {e}", path.display()))
}

/// Make the entries of `dir` (a file created, renamed or removed in it) durable.
fn sync_dir(dir: &Path) -> Result<(), DbError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing directory", dir))
}

/// A file name stem no other snapshot file of this directory has or had: the snapshot id
/// (restricted to characters safe in a file name) and the time it was created.
fn unique_stem(snapshot_id: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id: String = snapshot_id
        .chars()
        .take(64)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{id}-{nanos}-{seq}")
}

impl Snapshots {
    /// Open the snapshots of the store in `store_dir`: create the directory on first start,
    /// move a snapshot an earlier version kept in redb into a file, and remove the files a
    /// crash left behind. Blocking.
    pub(crate) fn open(db: Arc<Db>, store_dir: &Path) -> Result<Snapshots, DbError> {
        let dir = store_dir.join(DIR);
        match std::fs::create_dir(&dir) {
            Ok(()) => sync_dir(store_dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("creating snapshot directory", &dir)(e)),
        }
        let snapshots = Snapshots {
            db,
            dir,
            current: Mutex::new(()),
        };
        snapshots.move_out_of_the_database()?;
        snapshots.remove_leftovers()?;
        Ok(snapshots)
    }

    /// The current snapshot's metadata and file name (`None` for a snapshot still kept in
    /// redb), if there is a snapshot.
    fn record(&self) -> Result<Option<(SnapshotMeta, Option<String>)>, DbError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOT)?;
        let meta: SnapshotMeta = match table.get(SNAPSHOT_META)? {
            Some(bytes) => db::decode(bytes.value())?,
            None => return Ok(None),
        };
        let file = match table.get(SNAPSHOT_FILE)? {
            Some(bytes) => Some(db::decode(bytes.value())?),
            None => None,
        };
        Ok(Some((meta, file)))
    }

    /// A snapshot written by an earlier version (its bytes in redb) becomes a file, once.
    fn move_out_of_the_database(&self) -> Result<(), DbError> {
        let (meta, written) = {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(SNAPSHOT)?;
            if table.get(SNAPSHOT_FILE)?.is_some() {
                return Ok(());
            }
            let meta: SnapshotMeta = match table.get(SNAPSHOT_META)? {
                Some(bytes) => db::decode(bytes.value())?,
                None => return Ok(()),
            };
            let Some(data) = table.get(SNAPSHOT_DATA)? else {
                return Err(DbError::new(
                    "snapshot metadata present but neither its file nor its data",
                ));
            };
            let written = self.write(&meta, |out| {
                out.write_all(data.value())
                    .map_err(|e| DbError::new(format!("copying the snapshot out of redb: {e}")))
            })?;
            (meta, written)
        };
        let bytes = written.bytes;
        self.publish(&meta, written, |_| Ok(()))?;
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            bytes,
            "moved the snapshot an earlier version kept in the database into a file"
        );
        Ok(())
    }

    /// Remove every snapshot file that is not the current one: temporary files of a build or
    /// a transfer a crash interrupted, and files replaced or never made current.
    fn remove_leftovers(&self) -> Result<(), DbError> {
        let current = self.record()?.and_then(|(_, file)| file);
        let entries = std::fs::read_dir(&self.dir).map_err(io_error("listing", &self.dir))?;
        for entry in entries {
            let entry = entry.map_err(io_error("listing", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let ours = name.ends_with(TMP) || name.ends_with(SNAP);
            if !ours || current.as_deref() == Some(name) {
                continue;
            }
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_error("removing", &path))?;
            tracing::info!(path = %path.display(), "removed a leftover snapshot file");
        }
        Ok(())
    }

    /// Write a new snapshot file with `encode` and make it durable under its final name.
    fn write(
        &self,
        meta: &SnapshotMeta,
        encode: impl FnOnce(&mut dyn Write) -> Result<(), DbError>,
    ) -> Result<Written, DbError> {
        let stem = unique_stem(&meta.snapshot_id);
        let temp = PendingFile::new(self.dir.join(format!("{stem}{SNAP}{TMP}")));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(temp.path())
            .map_err(io_error("creating", temp.path()))?;
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, &file);
        encode(&mut out)?;
        out.flush().map_err(io_error("writing", temp.path()))?;
        drop(out);
        file.sync_all().map_err(io_error("syncing", temp.path()))?;
        self.rename_into_place(stem, file, temp)
    }

    /// Give a complete, fsync'd temporary file its final name, durably.
    fn rename_into_place(
        &self,
        stem: String,
        file: File,
        temp: PendingFile,
    ) -> Result<Written, DbError> {
        let name = format!("{stem}{SNAP}");
        let path = self.dir.join(&name);
        std::fs::rename(temp.path(), &path).map_err(io_error("renaming", temp.path()))?;
        temp.keep();
        let pending = PendingFile::new(path);
        sync_dir(&self.dir)?;
        let bytes = file
            .metadata()
            .map_err(io_error("reading the size of", pending.path()))?
            .len();
        Ok(Written {
            name,
            file,
            bytes,
            pending,
        })
    }

    /// Make a written file the current snapshot in one durable redb commit, together with
    /// whatever `also` writes in the same transaction, then remove the file it replaces.
    /// A snapshot older than the current one is discarded instead.
    fn publish(
        &self,
        meta: &SnapshotMeta,
        written: Written,
        also: impl FnOnce(&WriteTransaction) -> Result<(), DbError>,
    ) -> Result<Saved, DbError> {
        let _current = lock(&self.current);
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let newer_or_replaced = {
            let mut table = txn.open_table(SNAPSHOT)?;
            let current: Option<SnapshotMeta> = match table.get(SNAPSHOT_META)? {
                Some(bytes) => Some(db::decode(bytes.value())?),
                None => None,
            };
            match current {
                Some(current) if current.last_log_id > meta.last_log_id => Err(current),
                _ => {
                    let replaced: Option<String> = match table.get(SNAPSHOT_FILE)? {
                        Some(bytes) => Some(db::decode(bytes.value())?),
                        None => None,
                    };
                    table.insert(SNAPSHOT_META, db::encode(meta)?.as_slice())?;
                    table.insert(SNAPSHOT_FILE, db::encode(&written.name)?.as_slice())?;
                    table.remove(SNAPSHOT_DATA)?;
                    Ok(replaced)
                }
            }
        };
        let replaced = match newer_or_replaced {
            Ok(replaced) => replaced,
            Err(current) => {
                txn.abort()?;
                tracing::info!(
                    snapshot = %meta.snapshot_id,
                    current = %current.snapshot_id,
                    "a newer snapshot is current already: discarded this one"
                );
                return Ok(Saved {
                    file: written.file,
                    bytes: written.bytes,
                    superseded: true,
                });
            }
        };
        also(&txn)?;
        txn.commit()?;
        written.pending.keep();
        if let Some(old) = replaced.filter(|old| *old != written.name) {
            let path = self.dir.join(old);
            // A file left here is removed when the store next opens.
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "removing a replaced snapshot failed"
                );
            }
        }
        Ok(Saved {
            file: written.file,
            bytes: written.bytes,
            superseded: false,
        })
    }

    /// Persist `state` as the snapshot `meta` and make it current, durably, before returning.
    /// Blocking.
    pub(crate) fn save(&self, meta: &SnapshotMeta, state: &Mvcc) -> Result<Saved, DbError> {
        self.save_with(meta, state, |_| Ok(()))
    }

    /// [`Snapshots::save`], with `also` writing more in the transaction that makes the
    /// snapshot current.
    pub(crate) fn save_with(
        &self,
        meta: &SnapshotMeta,
        state: &Mvcc,
        also: impl FnOnce(&WriteTransaction) -> Result<(), DbError>,
    ) -> Result<Saved, DbError> {
        let written = self.write(meta, |out| Ok(state.write_to(out)?))?;
        self.publish(meta, written, also)
    }

    /// A new temporary file for a snapshot received from the leader, removed unless it is
    /// installed.
    pub(crate) fn receiving_file(&self) -> PendingFile {
        PendingFile::new(
            self.dir
                .join(format!("{}{SNAP}{TMP}", unique_stem("received"))),
        )
    }

    /// Decode a snapshot received from the leader (the whole file) and make it current,
    /// durably. Returns the decoded state. Blocking.
    pub(crate) fn install(
        &self,
        meta: &SnapshotMeta,
        mut file: File,
        received: PendingFile,
        history_limit: usize,
    ) -> Result<(Mvcc, Saved), DbError> {
        file.sync_all()
            .map_err(io_error("syncing", received.path()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(io_error("reading", received.path()))?;
        let state = Mvcc::read_from(BufReader::with_capacity(BUFFER_BYTES, &file), history_limit)?;
        let written = self.rename_into_place(unique_stem(&meta.snapshot_id), file, received)?;
        let saved = self.publish(meta, written, |_| Ok(()))?;
        Ok((state, saved))
    }

    /// The current snapshot, its file open for reading, if there is one. Blocking.
    pub(crate) fn current(&self) -> Result<Option<(SnapshotMeta, File)>, DbError> {
        let _current = lock(&self.current);
        let Some((meta, name)) = self.record()? else {
            return Ok(None);
        };
        let Some(name) = name else {
            return Err(DbError::new(
                "the snapshot is still kept in the database: \
                 reopen the store to move it into a file",
            ));
        };
        let path = self.dir.join(name);
        let file = File::open(&path).map_err(io_error("opening snapshot", &path))?;
        Ok(Some((meta, file)))
    }

    /// The current snapshot decoded, if there is one. Blocking.
    pub(crate) fn load(
        &self,
        history_limit: usize,
    ) -> Result<Option<(SnapshotMeta, Mvcc)>, DbError> {
        let Some((meta, file)) = self.current()? else {
            return Ok(None);
        };
        let state = Mvcc::read_from(BufReader::with_capacity(BUFFER_BYTES, file), history_limit)
            .map_err(|e| DbError::new(format!("snapshot {}: {e}", meta.snapshot_id)))?;
        Ok(Some((meta, state)))
    }
}

/// A frozen copy of the state at `last_applied`, serialized and persisted off the apply path.
pub(crate) struct SnapshotBuilder {
    pub(crate) snapshots: Arc<Snapshots>,
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
        let snapshots = self.snapshots.clone();
        let persisted = meta.clone();
        let saved = db::blocking(
            move || {
                let saved = snapshots.save(&persisted, &state);
                // Freed here, off the async runtime: the copy is as large as the state.
                drop(state);
                saved
            },
            db::write_snapshot_error,
        )
        .await?;
        Counters::bump(&self.counters.snapshots_built, 1);
        Counters::bump(&self.counters.fsyncs, 1);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            revision,
            bytes = saved.bytes,
            superseded = saved.superseded,
            "snapshot built"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotFile::published(saved.file)),
        })
    }
}

#[cfg(test)]
mod tests;
