//! Catching up and starting over: a learner that joins after the leader purged its log gets a
//! snapshot; force-new-cluster turns a surviving member's directory into a one-voter cluster
//! that keeps every key.

use std::time::Duration;

use tutti_store::{
    Bootstrap, RaftStore, RaftStoreConfig, RangeRequest, Revision, Role, Store, StoreStats, Txn,
};

use crate::conformance;
use crate::eventually;
use crate::files::snapshot_files;
use crate::support::Cluster;

fn small_snapshots() -> RaftStoreConfig {
    RaftStoreConfig {
        snapshot_logs: 10,
        keep_logs: 0,
        ..RaftStoreConfig::default()
    }
}

async fn all_keys(store: &RaftStore) -> Vec<(String, Revision)> {
    let resp = store.range(RangeRequest::prefix("")).await.expect("range");
    resp.kvs
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect()
}

async fn stats_reach(store: &RaftStore, what: &str, ok: impl Fn(&StoreStats) -> bool) {
    eventually(what, Duration::from_secs(10), || async {
        ok(&store.stats())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_joining_after_the_log_was_purged_gets_a_snapshot() {
    let mut cluster = Cluster::new(small_snapshots());
    let leader = cluster.start(1, Bootstrap::NewCluster).await;
    for i in 0..100 {
        leader
            .txn(Txn::put(format!("/s/{i:03}"), format!("v{i}")))
            .await
            .expect("put");
    }
    stats_reach(&leader, "a purged log on the leader", |s| {
        s.purged_index.is_some_and(|p| p >= 50)
    })
    .await;

    let learner = cluster.start(2, Bootstrap::Join).await;
    assert!(
        learner
            .range_stale(RangeRequest::prefix(""))
            .await
            .expect("empty")
            .kvs
            .is_empty()
    );
    leader
        .add_learner(2, &cluster.member(2).addr())
        .await
        .expect("add learner");
    leader.promote(2).await.expect("promote once caught up");
    assert!(
        learner.stats().snapshots_installed >= 1,
        "{:?}",
        learner.stats()
    );
    assert_eq!(all_keys(&learner).await, all_keys(&leader).await);
    assert_eq!(all_keys(&learner).await.len(), 100);
    // The snapshot carries history: a watch on the learner replays from the first write.
    let mut watch = learner.watch("/s/", 2).await.expect("watch");
    for revision in 2..=101 {
        assert_eq!(
            conformance::next_events(&mut watch).await.revision,
            revision
        );
    }
    assert!(
        learner.members().iter().all(|m| m.role == Role::Voter),
        "{:?}",
        learner.members()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_new_cluster_keeps_every_key_of_a_survivor() {
    let mut cluster = Cluster::form(3, small_snapshots()).await;
    for i in 0..60 {
        let id = cluster.running()[i % 3];
        cluster
            .store(id)
            .txn(Txn::put(format!("/f/{i:02}"), format!("v{i}")))
            .await
            .expect("put");
    }
    cluster
        .store(1)
        .txn(Txn::delete("/f/07"))
        .await
        .expect("delete");
    cluster.store(2).compact(10).await.expect("compact");
    cluster.converged(Duration::from_secs(10)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let survivor = cluster.follower().await;
    let before = all_keys(cluster.store(leader)).await;
    let revision = cluster
        .store(leader)
        .current_revision()
        .await
        .expect("revision");
    for id in cluster.running() {
        cluster.kill(id).await;
    }

    let dir = cluster.member(survivor).dir.clone();
    let recovered = RaftStore::force_new_cluster(&dir, survivor)
        .await
        .expect("force new cluster");
    assert_eq!(recovered, revision);
    let store = cluster.start(survivor, Bootstrap::NewCluster).await;
    assert_eq!(all_keys(&store).await, before);
    assert_eq!(before.len(), 59);
    assert_eq!(store.compacted_revision().await.expect("compacted"), 10);
    let members = store.members();
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(members[0].id == survivor && members[0].is_leader && members[0].role == Role::Voter);
    let resp = store.txn(Txn::put("/f/new", "after")).await.expect("write");
    assert_eq!(resp.revision, revision + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_many_chunks_reaches_a_learner_which_restarts_from_it_alone() {
    let mut cluster = Cluster::new(small_snapshots());
    let leader = cluster.start(1, Bootstrap::NewCluster).await;
    // About 8 MiB serialized (values and their history): several 1 MiB chunks.
    for i in 0..60 {
        let value = format!("{i:02}{}", "x".repeat(64 << 10));
        leader
            .txn(Txn::put(format!("/big/{i:02}"), value))
            .await
            .expect("put");
    }
    stats_reach(&leader, "a purged log on the leader", |s| {
        s.purged_index.is_some_and(|p| p >= 50)
    })
    .await;
    let before = all_keys(&leader).await;

    let learner = cluster.start(2, Bootstrap::Join).await;
    leader
        .add_learner(2, &cluster.member(2).addr())
        .await
        .expect("add learner");
    leader.promote(2).await.expect("promote once caught up");
    assert!(
        learner.stats().snapshots_installed >= 1,
        "{:?}",
        learner.stats()
    );
    assert_eq!(all_keys(&learner).await, before);
    let dir = cluster.member(2).dir.clone();
    let files = snapshot_files(&dir);
    assert!(
        files.len() == 1 && files[0].ends_with(".snap"),
        "one snapshot and no transfer left over: {files:?}"
    );

    // With the leader gone, everything the learner serves after a restart comes from its disk.
    cluster.kill(1).await;
    cluster.kill(2).await;
    let learner = cluster.start(2, Bootstrap::Join).await;
    let resp = learner
        .range_stale(RangeRequest::prefix("/big/"))
        .await
        .expect("stale read");
    let after: Vec<(String, Revision)> = resp
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect();
    assert_eq!(after, before);
}
