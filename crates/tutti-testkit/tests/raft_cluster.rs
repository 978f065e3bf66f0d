//! The history check against a 3-voter `RaftStore` cluster (real HTTPS with mutual TLS on
//! 127.0.0.1): while the leader is killed (shutdown) and reopened again and again, and while
//! members are cut off by network partitions and healed, at least 10,000 operations are
//! linearizable; reads served from followers' local replicas without ReadIndex
//! (`range_stale`) are caught, and so are reads a leader serves locally without confirming
//! its leadership once a partition isolates it.

// The store's own in-process cluster harness, shared rather than copied (and not reformatted
// from here: it belongs to tutti-store).
#[rustfmt::skip]
#[path = "../../tutti-store/tests/support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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

/// Operations between two faults of the nemesis.
const FAULT_GAP: u64 = 400;
/// The nemesis stops after this many faults (half kills, half partitions), so that a slow
/// machine, which gets fewer operations done per fault, does not get more faults too.
const MAX_FAULTS: u32 = 8;
/// Operations served without the killed leader before it restarts.
const KILL_OPS: u64 = 250;
/// A partition lasts at least this long, so that an isolated follower times out and
/// campaigns on its own (after the leader lease and an election timeout: 1.5 to 1.8 s)...
const PARTITION_HOLD: Duration = Duration::from_secs(2);
/// ... and until the majority side has a leader and completed this many more operations.
const PARTITION_OPS: u64 = 300;

/// Cut `target` off from the other members for `PARTITION_HOLD` and until the majority has a
/// leader and served `PARTITION_OPS` operations, then heal. Returns how long it lasted.
async fn partition(cluster: &Cluster, control: &mut FaultControl, target: u64) -> Duration {
    let started = Instant::now();
    let hold = tokio::time::sleep(PARTITION_HOLD);
    let was = cluster.leader(Duration::from_secs(15)).await;
    cluster.isolate(target);
    let majority: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|&id| id != target)
        .collect();
    let leader = cluster
        .leader_among(&majority, Duration::from_secs(15))
        .await;
    if target == was {
        assert_ne!(leader, was, "the isolated leader kept the majority");
    }
    let until = control.operations() + PARTITION_OPS;
    tokio::join!(control.wait_for_operations(until), hold);
    cluster.heal();
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voter_cluster_with_leader_kills_and_partitions_is_linearizable() {
    const SEED: u64 = 11;
    let cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    let running: Running = Arc::default();
    publish(&running, &cluster);
    let kills = Arc::new(AtomicU32::new(0));
    let partitions = Arc::new(AtomicU32::new(0));
    eprintln!("nemesis seed {SEED}");

    // Faults alternate: kill the leader (and restart it), then isolate a member (the leader
    // and a random follower in turn) and heal.
    let injector = {
        let running = running.clone();
        let kills = kills.clone();
        let partitions = partitions.clone();
        move |mut control: FaultControl| async move {
            let mut cluster = cluster;
            let mut rng = StdRng::seed_from_u64(SEED);
            let begun = Instant::now();
            let mut at = 0;
            for round in 0..MAX_FAULTS {
                at += FAULT_GAP;
                if !control.wait_for_operations(at).await {
                    break;
                }
                let leader = cluster.leader(Duration::from_secs(15)).await;
                if round % 2 == 0 {
                    cluster.kill(leader).await;
                    publish(&running, &cluster);
                    kills.fetch_add(1, Ordering::Relaxed);
                    let new = cluster.leader(Duration::from_secs(15)).await;
                    assert_ne!(new, leader);
                    at = at.max(control.operations()) + KILL_OPS;
                    control.wait_for_operations(at).await;
                    cluster.start(leader, Bootstrap::NewCluster).await;
                    publish(&running, &cluster);
                    eprintln!(
                        "round {round} ({:?}, {} ops): killed leader {leader}, node {new} took over",
                        begun.elapsed(),
                        control.operations()
                    );
                } else {
                    let target = if round % 4 == 1 {
                        leader
                    } else {
                        let followers: Vec<u64> = cluster
                            .running()
                            .into_iter()
                            .filter(|&id| id != leader)
                            .collect();
                        followers[rng.random_range(0..followers.len())]
                    };
                    let lasted = partition(&cluster, &mut control, target).await;
                    partitions.fetch_add(1, Ordering::Relaxed);
                    let role = if target == leader {
                        "leader"
                    } else {
                        "follower"
                    };
                    eprintln!(
                        "round {round} ({:?}, {} ops): isolated {role} {target} for {lasted:?}",
                        begun.elapsed(),
                        control.operations()
                    );
                }
                at = at.max(control.operations());
            }
            // Keep the cluster up until the clients are done.
            control.finished().await;
            cluster.heal();
            running.lock().expect("running").clear();
            for id in cluster.running() {
                cluster.kill(id).await;
            }
        }
    };
    let workload = Workload {
        clients: 12,
        keys: 5,
        operations: Some(12_000),
        op_timeout: Duration::from_secs(1),
        error_backoff: Duration::from_millis(20),
        seed: SEED,
        ..Workload::default()
    };
    let report = run(router(&running), &workload, &Recorder::new(), injector)
        .await
        .expect("workload");
    let (check, saved) =
        check_run(&report, "raft-partitions", &CheckOptions::default()).expect("check");
    let (kills, partitions) = (
        kills.load(Ordering::Relaxed),
        partitions.load(Ordering::Relaxed),
    );
    eprintln!(
        "raft cluster: {} ops ({} indeterminate), {kills} leader kills and {partitions} \
         partitions, recorded in {:?}; checked in {:?} ({:.0} ops/s, {} steps)",
        report.operations,
        report.indeterminate,
        report.elapsed,
        check.elapsed,
        check.operations as f64 / check.elapsed.as_secs_f64(),
        check.steps,
    );
    assert!(report.operations >= 10_000, "{} ops", report.operations);
    assert!(kills >= 3, "the leader was killed too rarely: {kills}");
    assert!(partitions >= 3, "too few partitions: {partitions}");
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

/// Another broken variant: a member that believes it leads serves reads from its local
/// replica, without confirming with a quorum that it still leads (no ReadIndex); the others
/// read correctly. Right as long as the leader really leads, so leader kills rarely expose
/// it; a partition does: the isolated old leader keeps believing it leads while the majority
/// elects another and writes on.
struct LeaderLocalReads(RaftStore);

#[async_trait::async_trait]
impl Store for LeaderLocalReads {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        let leads = self.0.leader().map(|(id, _)| id) == Some(self.0.node_id());
        if leads {
            self.0.range_stale(req).await
        } else {
            self.0.range(req).await
        }
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
async fn leader_reads_without_read_index_are_caught_under_partitions() {
    let cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    let members: Vec<Arc<dyn Store>> = cluster
        .running()
        .into_iter()
        .map(|id| Arc::new(LeaderLocalReads(cluster.store(id).clone())) as Arc<dyn Store>)
        .collect();
    let router: Router =
        Arc::new(move |client| members.get(client as usize % members.len()).cloned());
    let isolated = Arc::new(AtomicU32::new(0));
    // Isolate the leader once; after the majority elected another, keep the partition long
    // enough for writes there and reads on the isolated side to interleave.
    let injector = {
        let isolated = isolated.clone();
        move |mut control: FaultControl| async move {
            if control.wait_for_operations(300).await {
                let leader = cluster.leader(Duration::from_secs(15)).await;
                cluster.isolate(leader);
                let majority: Vec<u64> = cluster
                    .running()
                    .into_iter()
                    .filter(|&id| id != leader)
                    .collect();
                cluster
                    .leader_among(&majority, Duration::from_secs(15))
                    .await;
                tokio::time::sleep(Duration::from_secs(3)).await;
                cluster.heal();
                isolated.fetch_add(1, Ordering::Relaxed);
            }
            control.finished().await;
            cluster.heal();
            for id in cluster.running() {
                cluster.store(id).shutdown().await.expect("shutdown");
            }
        }
    };
    let workload = Workload {
        clients: 9,
        keys: 2,
        operations: None,
        duration: Some(Duration::from_secs(8)),
        op_timeout: Duration::from_secs(1),
        error_backoff: Duration::from_millis(20),
        seed: 6,
        ..Workload::default()
    };
    let report = run(router, &workload, &Recorder::new(), injector)
        .await
        .expect("workload");
    let check = check_history(&report.history, &CheckOptions::default()).expect("check");
    eprintln!(
        "leader-local reads: {} ops, {} leader isolation, in {:?}; checked in {:?}: {}",
        check.operations,
        isolated.load(Ordering::Relaxed),
        report.elapsed,
        check.elapsed,
        check.result
    );
    assert!(
        isolated.load(Ordering::Relaxed) >= 1,
        "the leader was never isolated"
    );
    assert!(
        matches!(check.result, Linearizability::NotLinearizable { .. }),
        "stale leader reads were not caught: {}",
        check.result
    );
}
