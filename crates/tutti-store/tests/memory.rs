//! The conformance suite against `MemoryStore`, plus what only the memory store promises.

mod conformance;

use conformance::StoreFactory;
use futures::StreamExt;
use tutti_store::{MemoryStore, Store, StoreConfig, StoreError, Txn};

struct Memory;

impl StoreFactory for Memory {
    type S = MemoryStore;

    async fn make(&self) -> MemoryStore {
        MemoryStore::new()
    }
}

crate::conformance_suite!(Memory);

#[tokio::test]
async fn a_watcher_that_falls_behind_gets_lagged_and_the_stream_ends() {
    let config = StoreConfig {
        watch_capacity: 4,
        ..StoreConfig::default()
    };
    let store = MemoryStore::with_config(config);
    let mut watch = store.watch("/", 0).await.expect("watch");
    for i in 0..10 {
        store
            .txn(Txn::put(format!("/k{i}"), "v"))
            .await
            .expect("put");
    }
    assert_eq!(watch.next().await, Some(Err(StoreError::Lagged)));
    assert_eq!(watch.next().await, None);
}

#[tokio::test]
async fn bounded_history_compacts_old_revisions_away() {
    let config = StoreConfig {
        history_limit: 5,
        ..StoreConfig::default()
    };
    let store = MemoryStore::with_config(config);
    for i in 0..10 {
        store
            .txn(Txn::put(format!("/k{i}"), "v"))
            .await
            .expect("put");
    }
    // Revisions 2..=11 were written; only the last 5 txns are kept.
    assert_eq!(store.compacted_revision().await.expect("compacted"), 6);
    assert!(matches!(
        store.watch("/", 6).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store.watch("/", 7).await.expect("watch");
    let first = watch.next().await.expect("response").expect("ok");
    assert_eq!(first.revision, 7);
}
