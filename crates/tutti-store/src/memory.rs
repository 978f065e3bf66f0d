//! `MemoryStore`: the in-process [`Store`], for fast tests of the layers above. Nothing is
//! persisted, so "durable before `Ok`" holds for the life of the process only.

use std::sync::Arc;

use crate::config::StoreConfig;
use crate::mvcc::Mvcc;
use crate::replica::Replica;
use crate::{
    RangeRequest, RangeResponse, Revision, Store, StoreError, Txn, TxnResponse, WatchStream,
};

/// An in-memory [`Store`]. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct MemoryStore {
    replica: Arc<Replica>,
}

impl MemoryStore {
    /// An empty store (revision 1) with default options.
    pub fn new() -> Self {
        MemoryStore::with_config(StoreConfig::default())
    }

    /// An empty store with the given history bound, watch buffer and progress cadence.
    pub fn with_config(config: StoreConfig) -> Self {
        let replica = Replica::new(Mvcc::new(config.history_limit), config);
        MemoryStore {
            replica: Arc::new(replica),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.replica.range(&req)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let mut responses = self.replica.apply([txn]);
        responses
            .pop()
            .ok_or_else(|| StoreError::Storage("applying a txn produced no response".into()))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.replica.watch(prefix, from)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.replica.compact(revision)
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.replica.revision())
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.replica.compacted_revision())
    }
}
