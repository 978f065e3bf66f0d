//! The checker catches broken stores: one that serves reads from a lagging copy (a follower
//! read without ReadIndex), and one that acknowledges some writes without applying them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tutti_store::{
    EventKind, KeyValue, MemoryStore, RangeRequest, RangeResponse, Revision, Store, StoreError,
    Txn, TxnOp, TxnResponse, WatchStream,
};
use tutti_testkit::store_history::{Workload, route_to, run};
use tutti_testkit::{CheckOptions, Linearizability, Recorder, check_history};

/// Writes go to the primary; reads come from a copy that applies the primary's events only
/// once `lag` newer ones have arrived, like a follower serving reads without ReadIndex.
#[derive(Clone)]
struct LaggingReads {
    primary: MemoryStore,
    follower: Arc<Mutex<BTreeMap<String, KeyValue>>>,
}

impl LaggingReads {
    async fn new(lag: usize) -> LaggingReads {
        let primary = MemoryStore::new();
        let follower = Arc::new(Mutex::new(BTreeMap::new()));
        let mut events = primary.watch("", 0).await.expect("watch");
        let copy = follower.clone();
        tokio::spawn(async move {
            let mut held = VecDeque::new();
            while let Some(Ok(response)) = events.next().await {
                held.extend(response.events);
                while held.len() > lag {
                    let Some(event) = held.pop_front() else { break };
                    let mut copy = copy.lock().expect("follower");
                    match event.kind {
                        EventKind::Put => copy.insert(event.kv.key.clone(), event.kv),
                        EventKind::Delete => copy.remove(&event.kv.key),
                    };
                }
            }
        });
        LaggingReads { primary, follower }
    }
}

#[async_trait::async_trait]
impl Store for LaggingReads {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        let copy = self.follower.lock().expect("follower");
        let kvs: Vec<KeyValue> = copy
            .range(req.prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&req.prefix))
            .filter(|(k, _)| !req.exact || **k == req.prefix)
            .map(|(_, kv)| kv.clone())
            .collect();
        let revision = kvs.iter().map(|kv| kv.mod_revision).max().unwrap_or(1);
        Ok(RangeResponse {
            kvs,
            revision,
            more: false,
            remaining: 0,
        })
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.primary.txn(txn).await
    }
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.primary.watch(prefix, from).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.primary.compact(revision).await
    }
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.primary.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.primary.compacted_revision().await
    }
}

/// Acknowledges every `every`-th unconditional put without applying it.
struct LosesWrites {
    inner: MemoryStore,
    every: u64,
    puts: AtomicU64,
}

#[async_trait::async_trait]
impl Store for LosesWrites {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.inner.range(req).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let unconditional_put =
            txn.compares.is_empty() && matches!(txn.ops.as_slice(), [TxnOp::Put { .. }]);
        if unconditional_put
            && self
                .puts
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(self.every)
        {
            let revision = self.inner.current_revision().await?;
            return Ok(TxnResponse {
                succeeded: true,
                revision,
                compared: Vec::new(),
                ops: Vec::new(),
            });
        }
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.inner.watch(prefix, from).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.inner.compacted_revision().await
    }
}

async fn verdict(store: Arc<dyn Store>, name: &str) -> Linearizability {
    let workload = Workload {
        clients: 8,
        keys: 3,
        operations: Some(10_000),
        seed: 3,
        ..Workload::default()
    };
    let report = run(route_to(store), &workload, &Recorder::new(), |_| async {})
        .await
        .expect("workload");
    let check = check_history(&report.history, &CheckOptions::default()).expect("check");
    eprintln!(
        "{name}: {} ops checked in {:?}: {}",
        check.operations, check.elapsed, check.result
    );
    check.result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_a_lagging_copy_are_caught() {
    let store = LaggingReads::new(3).await;
    let result = verdict(Arc::new(store), "lagging-reads").await;
    assert!(
        matches!(result, Linearizability::NotLinearizable { .. }),
        "stale reads were not caught: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_that_are_lost_are_caught() {
    let store = LosesWrites {
        inner: MemoryStore::new(),
        every: 25,
        puts: AtomicU64::new(1),
    };
    let result = verdict(Arc::new(store), "lost-writes").await;
    assert!(
        matches!(result, Linearizability::NotLinearizable { .. }),
        "lost writes were not caught: {result}"
    );
}
