//! `RaftStore`, the front of the embedded store: opening (and on first start either creating
//! a one-voter cluster or waiting to join one), the `Store` implementation (writes and
//! linearizable reads go through the leader, stale reads and watches are local), and closing.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::RaftStoreConfig;
use super::db;
use super::errors;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::peers::Peers;
use super::proposer::{self, Proposal, Written};
use super::rpc::{ForwardOp, ForwardReply};
use super::snapshot::Snapshots;
use super::startup;
use super::state_machine::StateMachine;
use super::stats::{Counters, StoreStats};
use super::types::{NodeId, Raft};
use crate::replica::Replica;
use crate::{
    RangeRequest, RangeResponse, Revision, Store, StoreError, Txn, TxnResponse, WatchStream,
};

/// How long `shutdown` waits for in-flight writes and for the database to be released.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// The embedded [`Store`]: openraft over redb. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct RaftStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) node_id: NodeId,
    pub(super) raft: Raft,
    pub(super) replica: Arc<Replica>,
    pub(super) counters: Arc<Counters>,
    pub(super) peers: Arc<Peers>,
    pub(super) config: RaftStoreConfig,
    /// When an append from a leader last arrived (a follower's view of the leader's health).
    pub(super) leader_contact: Mutex<Option<Instant>>,
    /// `None` once shut down.
    proposals: Mutex<Option<mpsc::Sender<Proposal>>>,
    proposer: Mutex<Option<JoinHandle<()>>>,
    /// Resolves once every task holding the database has let go of it and the file is closed.
    db_closed: Mutex<Option<oneshot::Receiver<()>>>,
}

// Poisoning is recovered from: the guarded values are plain handles that stay valid.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RaftStore {
    /// Open (or create) the store in `dir` (`<dir>/raft.redb` and `<dir>/snapshots/`) with
    /// default options.
    ///
    /// On first start this creates a one-voter cluster of `node_id`. Returns once this node
    /// is leader and has applied everything committed, so no acknowledged write is invisible.
    pub async fn open(dir: &Path, node_id: NodeId) -> Result<RaftStore, StoreError> {
        RaftStore::open_with_config(dir, node_id, RaftStoreConfig::default()).await
    }

    /// [`RaftStore::open`] with explicit options.
    ///
    /// - A lone voter (a new cluster, or a restarted one-manager cluster) returns once it is
    ///   leader and has applied its whole log.
    /// - A member of a multi-manager cluster returns at once: it serves as soon as a leader
    ///   is known (its peers may be starting too).
    /// - A first start with [`super::Bootstrap::Join`] returns at once, empty: the leader adds
    ///   it with [`RaftStore::add_learner`] and replicates everything to it.
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
                let snapshots = Arc::new(Snapshots::open(db.clone(), &dir)?);
                let state_machine = StateMachine::restore(snapshots, counters, store_config)?;
                Ok((db, db_closed, state_machine))
            })
            .await
            .map_err(|e| StoreError::Storage(format!("opening the store failed: {e}")))??
        };
        let replica = state_machine.replica();
        let log_store = LogStore::new(db, counters.clone());
        let peers = Arc::new(Peers::new(config.peer_tls.clone()));
        let network = NetworkFactory::new(node_id, peers.clone());
        let raft = Raft::new(node_id, raft_config, network, log_store, state_machine)
            .await
            .map_err(errors::from_fatal)?;

        if let Err(e) = startup::start(&raft, node_id, &config).await {
            tracing::error!(node_id, error = %e, "raft store failed to start");
            let _ = raft.shutdown().await;
            return Err(e);
        }

        let (tx, handle) = proposer::spawn(raft.clone(), &config, counters.clone());
        let store = RaftStore {
            inner: Arc::new(Inner {
                node_id,
                raft,
                replica,
                counters,
                peers,
                config,
                leader_contact: Mutex::new(None),
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

    pub(super) fn ensure_open(&self) -> Result<(), StoreError> {
        match lock(&self.inner.proposals).is_some() {
            true => Ok(()),
            false => Err(StoreError::Shutdown),
        }
    }

    /// Hand a txn to this member's group-commit proposer (only useful on the leader).
    pub(super) async fn propose(&self, txn: Txn) -> Result<Written, StoreError> {
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

    fn deadline(&self) -> Instant {
        Instant::now() + self.inner.config.leader_wait
    }

    /// Wait until local reads reflect everything committed before this call (ReadIndex, on
    /// the leader or asked of it).
    async fn linearize(&self) -> Result<(), StoreError> {
        self.on_leader(ForwardOp::ReadIndex, self.deadline())
            .await
            .map(|_| ())
            .map_err(errors::membership_to_store)
    }
}

#[async_trait::async_trait]
impl Store for RaftStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.linearize().await?;
        self.inner.replica.range(&req)
    }

    /// Served from this member's replica: answers without a leader or a quorum, but may lag
    /// behind writes acknowledged elsewhere.
    async fn range_stale(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.ensure_open()?;
        self.inner.replica.range(&req)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let reply = self
            .on_leader(ForwardOp::Txn(txn), self.deadline())
            .await
            .map_err(errors::membership_to_store)?;
        match reply {
            ForwardReply::Txn { response, .. } => Ok(response),
            ForwardReply::Done { index } => Err(StoreError::Storage(format!(
                "the leader answered a txn without its response (log index {index})"
            ))),
        }
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.ensure_open()?;
        // Served from the local replica: it holds every applied txn, in order.
        self.inner.replica.watch(prefix, from)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.on_leader(ForwardOp::Compact(revision), self.deadline())
            .await
            .map(|_| ())
            .map_err(errors::membership_to_store)
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
