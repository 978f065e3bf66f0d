//! `RaftStore`, the front of the embedded store: opening (and first-time initialising) the
//! one-voter cluster, routing writes through the group-commit proposer, serving linearizable
//! reads and watches from the local replica, and closing cleanly.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use openraft::error::InitializeError;
use openraft::{BasicNode, ServerState};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::RaftStoreConfig;
use super::db;
use super::errors;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::proposer::{self, Proposal};
use super::state_machine::StateMachine;
use super::stats::{Counters, StoreStats};
use super::types::{Command, CommandResponse, NodeId, Raft};
use crate::replica::Replica;
use crate::{
    RangeRequest, RangeResponse, Revision, Store, StoreError, Txn, TxnResponse, WatchStream,
};

/// How long `shutdown` waits for in-flight writes and for the database to be released.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The embedded [`Store`]: openraft over redb. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct RaftStore {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: NodeId,
    raft: Raft,
    replica: Arc<Replica>,
    counters: Arc<Counters>,
    /// `None` once shut down.
    proposals: Mutex<Option<mpsc::Sender<Proposal>>>,
    proposer: Mutex<Option<JoinHandle<()>>>,
    /// Resolves once every task holding the database has let go of it and the file is closed.
    db_closed: Mutex<Option<oneshot::Receiver<()>>>,
}

// Poisoning is recovered from: the guarded values are plain handles that stay valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RaftStore {
    /// Open (or create) the store in `dir` (`<dir>/raft.redb`) with default options.
    ///
    /// On first start this initialises a one-voter cluster of `node_id`. Returns once this node
    /// is leader and has applied everything committed, so no acknowledged write is invisible.
    pub async fn open(dir: &Path, node_id: NodeId) -> Result<RaftStore, StoreError> {
        RaftStore::open_with_config(dir, node_id, RaftStoreConfig::default()).await
    }

    /// [`RaftStore::open`] with explicit options (tests use a small snapshot threshold).
    pub async fn open_with_config(
        dir: &Path,
        node_id: NodeId,
        config: RaftStoreConfig,
    ) -> Result<RaftStore, StoreError> {
        let raft_config = Arc::new(config.raft_config()?);
        let counters = Arc::new(Counters::default());
        let (db, db_closed, state_machine) = {
            let dir = dir.to_path_buf();
            let counters = counters.clone();
            let store_config = config.store.clone();
            tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::Storage(format!("creating store directory {}: {e}", dir.display()))
                })?;
                let (db, db_closed) = db::open(&dir.join("raft.redb"))?;
                let db = Arc::new(db);
                let state_machine = StateMachine::restore(db.clone(), counters, store_config)?;
                Ok((db, db_closed, state_machine))
            })
            .await
            .map_err(|e| StoreError::Storage(format!("opening the store failed: {e}")))??
        };
        let replica = state_machine.replica();
        let log_store = LogStore::new(db, counters.clone());
        let raft = Raft::new(
            node_id,
            raft_config,
            NetworkFactory,
            log_store,
            state_machine,
        )
        .await
        .map_err(errors::from_fatal)?;

        if let Err(e) = start(&raft, node_id, &config).await {
            tracing::error!(node_id, error = %e, "raft store failed to start");
            let _ = raft.shutdown().await;
            return Err(e);
        }

        let (tx, handle) = proposer::spawn(raft.clone(), config.max_batch, counters.clone());
        let store = RaftStore {
            inner: Arc::new(Inner {
                node_id,
                raft,
                replica,
                counters,
                proposals: Mutex::new(Some(tx)),
                proposer: Mutex::new(Some(handle)),
                db_closed: Mutex::new(Some(db_closed)),
            }),
        };
        tracing::info!(
            node_id,
            dir = %dir.display(),
            revision = store.inner.replica.revision(),
            "raft store open"
        );
        Ok(store)
    }

    /// This node's id in the Raft group.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Counters since this process opened the store, and the Raft log positions.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::from_counters(&self.inner.counters);
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        stats.last_log_index = metrics.last_log_index;
        stats.last_applied_index = metrics.last_applied.map(|l| l.index);
        stats.snapshot_index = metrics.snapshot.map(|l| l.index);
        stats.purged_index = metrics.purged.map(|l| l.index);
        stats
    }

    /// Stop accepting writes, answer the ones in flight, stop Raft and release the database
    /// (so the same directory can be opened again). Later calls fail with `Shutdown`.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        drop(lock(&self.inner.proposals).take());
        let proposer = lock(&self.inner.proposer).take();
        if let Some(handle) = proposer
            && tokio::time::timeout(SHUTDOWN_WAIT, handle).await.is_err()
        {
            tracing::warn!("in-flight writes did not finish before shutdown");
        }
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| StoreError::Unavailable(format!("stopping raft: {e}")))?;
        let db_closed = lock(&self.inner.db_closed).take();
        if let Some(db_closed) = db_closed
            && tokio::time::timeout(SHUTDOWN_WAIT, db_closed)
                .await
                .is_err()
        {
            return Err(StoreError::Unavailable(
                "raft tasks still hold the database after shutdown".into(),
            ));
        }
        tracing::info!(node_id = self.inner.node_id, "raft store closed");
        Ok(())
    }

    /// Wait until local reads reflect everything committed before this call (ReadIndex).
    async fn linearize(&self) -> Result<(), StoreError> {
        self.inner
            .raft
            .ensure_linearizable()
            .await
            .map(|_| ())
            .map_err(errors::from_raft)
    }
}

/// Initialise on first start, become leader, and apply everything committed.
async fn start(raft: &Raft, node_id: NodeId, config: &RaftStoreConfig) -> Result<(), StoreError> {
    let timeout = config.open_timeout;
    if !raft.is_initialized().await.map_err(errors::from_fatal)? {
        let members = BTreeMap::from([(node_id, BasicNode::new(format!("node-{node_id}")))]);
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(node_id, "initialised a one-voter raft cluster"),
            Err(e) if matches!(e.api_error(), Some(InitializeError::NotAllowed(_))) => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "initialising raft cluster: {e}"
                )));
            }
        }
    }
    raft.wait(Some(timeout))
        .metrics(
            |m| m.state == ServerState::Leader && m.current_leader == Some(node_id),
            "become leader",
        )
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "node {node_id} did not become leader within {timeout:?}: {e}"
            ))
        })?;
    tokio::time::timeout(timeout, raft.ensure_linearizable())
        .await
        .map_err(|_| StoreError::Unavailable("timed out catching up the state machine".into()))?
        .map_err(errors::from_raft)?;
    // A single voter commits its whole log; wait until all of it is applied.
    let last_log_index = raft.metrics().borrow().last_log_index;
    raft.wait(Some(timeout))
        .applied_index_at_least(last_log_index, "apply the whole log")
        .await
        .map_err(|e| StoreError::Unavailable(format!("applying the log: {e}")))?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for RaftStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.linearize().await?;
        self.inner.replica.range(&req)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let sender = lock(&self.inner.proposals)
            .clone()
            .ok_or(StoreError::Shutdown)?;
        let (reply, response) = oneshot::channel();
        sender
            .send(Proposal { txn, reply })
            .await
            .map_err(|_| StoreError::Shutdown)?;
        drop(sender);
        response.await.map_err(|_| StoreError::Shutdown)?
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        if lock(&self.inner.proposals).is_none() {
            return Err(StoreError::Shutdown);
        }
        // Served from the local replica: it holds every applied txn, in order.
        self.inner.replica.watch(prefix, from)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.linearize().await?;
        if revision <= self.inner.replica.compacted_revision() {
            return Ok(());
        }
        let current = self.inner.replica.revision();
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        let written = self
            .inner
            .raft
            .client_write(Command::Compact(revision))
            .await
            .map_err(errors::from_raft)?;
        match written.data {
            CommandResponse::Compact(result) => result,
            other => Err(StoreError::Storage(format!(
                "compaction at log index {} produced an unexpected response: {other:?}",
                written.log_id.index
            ))),
        }
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.linearize().await?;
        Ok(self.inner.replica.revision())
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.linearize().await?;
        Ok(self.inner.replica.compacted_revision())
    }
}
