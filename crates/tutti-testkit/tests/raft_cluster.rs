//! The history check against a 3-voter `RaftStore` cluster (real HTTPS with mutual TLS on
//! 127.0.0.1): while the leader is killed (shutdown) and reopened again and again, at least
//! 10,000 operations are linearizable; reads served from followers' local replicas without
//! ReadIndex (`range_stale`) are caught.

// The store's own in-process cluster harness, shared rather than copied (and not reformatted
// from here: it belongs to tutti-store).
#[rustfmt::skip]
#[path = "../../tutti-store/tests/support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::Cluster;
use tutti_store::{
    Bootstrap, RaftStore, RaftStoreConfig, RangeRequest, RangeResponse, Revision, Store,
    StoreError, Txn, TxnResponse, WatchStream,
};
use tutti_testkit::store_history::{FaultControl, Router, Workload, check_run, run};
use tutti_testkit::{CheckOptions, Linearizability, Recorder, check_history};

/// The running members, shared between the clients' router and the fault injector.
type Running = Arc<Mutex<BTreeMap<u64, RaftStore>>>;

fn publish(running: &Running, cluster: &Cluster) {
    let mut map = running.lock().expect("running");
    map.clear();
    for id in cluster.running() {
        map.insert(id, cluster.store(id).clone());
    }
}

/// Client `c` talks to member `c % 3 + 1` (followers forward), or any member while it is down.
fn router(running: &Running) -> Router {
    let running = running.clone();
    Arc::new(move |client| {
        let map = running.lock().expect("running");
        let preferred = u64::from(client % 3 + 1);
        let store = map.get(&preferred).or_else(|| map.values().next())?;
        Some(Arc::new(store.clone()) as Arc<dyn Store>)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voter_cluster_with_leader_kills_is_linearizable() {
    let cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    let running: Running = Arc::default();
    publish(&running, &cluster);
    let kills = Arc::new(AtomicU32::new(0));

    let injector = {
        let running = running.clone();
        let kills = kills.clone();
        move |mut control: FaultControl| async move {
            let mut cluster = cluster;
            let mut at = 0;
            loop {
                at += 1_500;
                if !control.wait_for_operations(at).await {
                    break;
                }
                let leader = cluster.leader(Duration::from_secs(15)).await;
                cluster.kill(leader).await;
                publish(&running, &cluster);
                kills.fetch_add(1, Ordering::Relaxed);
                // Let the survivors elect a leader and serve without the old one for a while.
                let new = cluster.leader(Duration::from_secs(15)).await;
                assert_ne!(new, leader);
                at += 300;
                control.wait_for_operations(at).await;
                cluster.start(leader, Bootstrap::NewCluster).await;
                publish(&running, &cluster);
            }
            running.lock().expect("running").clear();
            for id in cluster.running() {
                cluster.kill(id).await;
            }
        }
    };
    let workload = Workload {
        clients: 12,
        keys: 5,
        operations: Some(10_000),
        op_timeout: Duration::from_secs(1),
        error_backoff: Duration::from_millis(20),
        seed: 4,
        ..Workload::default()
    };
    let report = run(router(&running), &workload, &Recorder::new(), injector)
        .await
        .expect("workload");
    let (check, saved) =
        check_run(&report, "raft-cluster", &CheckOptions::default()).expect("check");
    eprintln!(
        "raft cluster: {} ops ({} indeterminate), {} leader kills, recorded in {:?}; \
         checked in {:?} ({:.0} ops/s, {} steps)",
        report.operations,
        report.indeterminate,
        kills.load(Ordering::Relaxed),
        report.elapsed,
        check.elapsed,
        check.operations as f64 / check.elapsed.as_secs_f64(),
        check.steps,
    );
    assert!(report.operations >= 10_000, "{} ops", report.operations);
    assert!(
        kills.load(Ordering::Relaxed) >= 3,
        "the leader was killed too rarely"
    );
    assert!(
        check.result.is_linearizable(),
        "{}\nhistory saved to {saved:?}",
        check.result
    );
}

/// The deliberately broken variant: every read is served from the member's local replica
/// without confirming leadership (no ReadIndex), as `range_stale` does.
struct StaleReads(RaftStore);

#[async_trait::async_trait]
impl Store for StaleReads {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.0.range_stale(req).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.0.txn(txn).await
    }
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.0.watch(prefix, from).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.0.compact(revision).await
    }
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.0.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.0.compacted_revision().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_reads_without_read_index_are_caught() {
    let cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    // Clients spread over all members: one writes through the leader, another reads a
    // follower that has not applied that write yet.
    let members: Vec<Arc<dyn Store>> = cluster
        .running()
        .into_iter()
        .map(|id| Arc::new(StaleReads(cluster.store(id).clone())) as Arc<dyn Store>)
        .collect();
    let router: Router =
        Arc::new(move |client| members.get(client as usize % members.len()).cloned());
    let workload = Workload {
        clients: 8,
        keys: 2,
        operations: Some(10_000),
        seed: 5,
        ..Workload::default()
    };
    let report = run(router, &workload, &Recorder::new(), |_| async {})
        .await
        .expect("workload");
    let check = check_history(&report.history, &CheckOptions::default()).expect("check");
    eprintln!(
        "stale follower reads: {} ops checked in {:?}: {}",
        check.operations, check.elapsed, check.result
    );
    assert!(
        matches!(check.result, Linearizability::NotLinearizable { .. }),
        "stale follower reads were not caught: {}",
        check.result
    );
    for id in cluster.running() {
        cluster.store(id).shutdown().await.expect("shutdown");
    }
}
