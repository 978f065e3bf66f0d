//! Periodic compaction, as Kubernetes asks etcd every five minutes: at each tick, history
//! up to the revision seen at the previous tick is forgotten. Watchers that fall further
//! behind than one interval get 410 Gone and relist.

use std::sync::Arc;
use std::time::Duration;

use tutti_store::Store;

/// Compact every `interval`, keeping at least one interval of history.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut previous: Option<i64> = None;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Some(rev) = previous {
                match store.compact(rev).await {
                    Ok(()) => tracing::debug!(revision = rev, "compacted"),
                    Err(e) => tracing::warn!(revision = rev, error = %e, "compaction failed"),
                }
            }
            previous = store.current_revision().await.ok();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_store::memory::MemoryStore;
    use tutti_store::{RangeRequest, Txn, TxnOp};

    #[tokio::test(start_paused = true)]
    async fn history_older_than_one_interval_is_compacted() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let put = |k: &str| Txn {
            compares: vec![],
            ops: vec![TxnOp::Put {
                key: k.into(),
                value: "v".into(),
            }],
        };
        store.txn(put("a")).await.unwrap();
        let early = store.current_revision().await.unwrap();
        let _task = spawn(store.clone(), Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(1)).await;
        store.txn(put("b")).await.unwrap();
        // After the second tick, the revision seen at the first one is compacted.
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(store.compacted_revision().await.unwrap(), early);
        let old = store
            .range(RangeRequest {
                revision: early,
                ..RangeRequest::prefix("")
            })
            .await;
        assert!(old.is_err(), "reads at a compacted revision must fail");
        assert!(store.get("b").await.unwrap().is_some());
    }
}
