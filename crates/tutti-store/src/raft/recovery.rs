//! Disaster recovery (`tutti server --force-new-cluster`): turn one surviving member's data
//! directory into a brand-new one-voter cluster that keeps every write the member holds.
//!
//! The rewrite happens offline: the latest snapshot plus every entry in the member's log is
//! applied to a fresh state machine, that state is written as a new snapshot file (with a
//! membership of this member alone), and one durable redb transaction makes it the current
//! snapshot and empties the log (marked purged up to the last entry); a crash before that
//! commit leaves the directory as it was. The vote is kept, so terms never go backwards.
//! Opening the directory afterwards elects this member at once.
//!
//! Entries the member held but had not yet seen committed are applied too: each was either
//! committed by the lost majority (so keeping it keeps an acknowledged write) or never
//! acknowledged (its client saw an error or a timeout, i.e. an unknown outcome).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::{BasicNode, Membership};
use redb::{ReadableDatabase, WriteTransaction};

use super::db::{self, COMMITTED, DbError, LAST_PURGED, LOG, META};
use super::snapshot::Snapshots;
use super::state_machine::StateMachine;
use super::stats::Counters;
use super::store::RaftStore;
use super::types::{Entry, LogId, NodeId, SnapshotMeta, StoredMembership};
use crate::config::StoreConfig;
use crate::{Revision, StoreError};

impl RaftStore {
    /// Rewrite the (closed) store in `dir` as a new one-voter cluster of `node_id`, keeping
    /// all its data, and return the revision it holds. Then open it as usual.
    ///
    /// Procedure when a majority of managers is lost for good:
    /// 1. Stop every surviving manager; pick the one with the highest revision.
    /// 2. Run this on its directory (`tutti server --force-new-cluster`), then start it: it is
    ///    the leader of a one-voter cluster with every key it held.
    /// 3. Wipe the other managers' store directories and add them back with `add_learner` and
    ///    `promote`. Never restart them on their old data: they still believe in the old
    ///    membership and would disturb the new cluster.
    pub async fn force_new_cluster(dir: &Path, node_id: NodeId) -> Result<Revision, StoreError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || rewrite(dir, node_id))
            .await
            .map_err(|e| StoreError::Storage(format!("force-new-cluster failed: {e}")))?
    }
}

fn rewrite(dir: PathBuf, node_id: NodeId) -> Result<Revision, StoreError> {
    let path = dir.join("raft.redb");
    if !path.exists() {
        return Err(StoreError::Storage(format!(
            "no store at {}: force-new-cluster needs a surviving member's data directory",
            path.display()
        )));
    }
    let (db, _closed) = db::open(&path)?;
    let db = Arc::new(db);
    let snapshots = Arc::new(Snapshots::open(db.clone(), &dir)?);
    let mut machine = StateMachine::restore(
        snapshots.clone(),
        Arc::new(Counters::default()),
        StoreConfig::default(),
    )?;
    let from = machine.last_applied().map_or(0, |l| l.index + 1);
    let entries = read_log(&db, from)?;
    let replayed = entries.len();
    for entry in entries {
        machine.apply_one(entry);
    }
    let Some(last) = machine.last_applied() else {
        return Err(StoreError::Storage(format!(
            "{} holds no Raft state: nothing to recover",
            path.display()
        )));
    };
    let addr = machine
        .membership()
        .membership()
        .get_node(&node_id)
        .map_or_else(|| format!("node-{node_id}"), |n| n.addr.clone());
    let membership = Membership::new(
        vec![BTreeSet::from([node_id])],
        BTreeMap::from([(node_id, BasicNode::new(addr.clone()))]),
    );
    let meta = SnapshotMeta {
        last_log_id: Some(last),
        last_membership: StoredMembership::new(Some(last), membership),
        snapshot_id: format!("force-new-cluster-{}-{}", last.leader_id, last.index),
    };
    let state = machine.replica().snapshot();
    let revision = state.revision();
    let keys = state.len();
    drop(machine);
    let saved = snapshots
        .save_with(&meta, &state, |txn| empty_log(txn, last))
        .map_err(|e| {
            StoreError::Storage(format!(
                "rewriting {} as a new cluster: {e}",
                path.display()
            ))
        })?;
    if saved.superseded {
        return Err(StoreError::Storage(format!(
            "rewriting {} as a new cluster: its snapshot is newer than its log",
            path.display()
        )));
    }
    tracing::warn!(
        node_id,
        %addr,
        index = last.index,
        replayed,
        revision,
        keys,
        "rewrote the store as a new one-voter cluster (force-new-cluster)"
    );
    Ok(revision)
}

fn read_log(db: &redb::Database, from: u64) -> Result<Vec<Entry>, StoreError> {
    let read = || -> Result<Vec<Entry>, DbError> {
        let txn = db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut entries = Vec::new();
        for item in table.range(from..)? {
            let (_, bytes) = item?;
            entries.push(db::decode(bytes.value())?);
        }
        Ok(entries)
    };
    Ok(read()?)
}

/// Empty the log, marked purged and committed up to `last`, in the transaction that makes the
/// new snapshot current.
fn empty_log(txn: &WriteTransaction, last: LogId) -> Result<(), DbError> {
    txn.open_table(LOG)?.retain(|_, _| false)?;
    let mut meta = txn.open_table(META)?;
    meta.insert(LAST_PURGED, db::encode(&last)?.as_slice())?;
    meta.insert(COMMITTED, db::encode(&Some(last))?.as_slice())?;
    Ok(())
}
