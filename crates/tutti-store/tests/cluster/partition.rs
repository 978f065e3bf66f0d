//! Network partitions (the harness's `Network`: every byte between the two sides is held back,
//! live connections included): a member cut off from the majority cannot commit writes or
//! serve linearizable reads and says so within `leader_wait`, still answers stale reads, while
//! the majority keeps writing; after the partition heals it catches up. Both with the
//! isolated member a follower and with it the leader.

use std::time::{Duration, Instant};

use tutti_store::{RaftStore, RaftStoreConfig, Store, StoreError, Txn};

use crate::support::Cluster;
use crate::{eventually, stale_value, value};

fn config() -> RaftStoreConfig {
    RaftStoreConfig {
        leader_wait: Duration::from_millis(1500),
        ..RaftStoreConfig::default()
    }
}

/// `Unavailable`, in bounded time: `leader_wait`, plus the grace a forwarded call gives the
/// leader to answer and some scheduling slack; never a hang.
async fn expect_unavailable<T: std::fmt::Debug>(
    what: &str,
    leader_wait: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let answer = tokio::time::timeout(leader_wait + Duration::from_secs(3), call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"));
    println!("{what} failed after {:?}: {answer:?}", started.elapsed());
    assert!(
        matches!(&answer, Err(StoreError::Unavailable(_))),
        "{what}: {answer:?}"
    );
}

/// Isolate `isolated` from the two others and check both sides; heal and check it catches up.
async fn isolate_and_heal(cluster: &Cluster, isolated: u64) {
    let leader_wait = cluster.config.leader_wait;
    let majority: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|&id| id != isolated)
        .collect();
    let before = cluster.leader(Duration::from_secs(10)).await;
    cluster
        .store(majority[0])
        .txn(Txn::put("/k", "before"))
        .await
        .expect("write before the partition");
    cluster.converged(Duration::from_secs(5)).await;

    cluster.isolate(isolated);
    let leader = cluster
        .leader_among(&majority, Duration::from_secs(15))
        .await;
    println!("node {isolated} isolated: node {leader} leads the majority (was {before})");
    if isolated == before {
        assert_ne!(leader, before, "the isolated leader kept the majority");
    }

    // The isolated member cannot commit a write nor confirm a read with a majority.
    let alone = cluster.store(isolated).clone();
    expect_unavailable(
        "a write on the isolated member",
        leader_wait,
        alone.txn(Txn::put("/lost", "isolated")),
    )
    .await;
    expect_unavailable(
        "a linearizable read on the isolated member",
        leader_wait,
        alone.get("/k"),
    )
    .await;

    // The majority keeps writing, through its leader and through the other member.
    for &id in &majority {
        let resp = cluster
            .store(id)
            .txn(Txn::put("/k", format!("majority {id}")))
            .await
            .expect("a write on the majority side");
        assert!(resp.succeeded);
    }
    let last = format!("majority {}", majority[majority.len() - 1]);
    for &id in &majority {
        assert_eq!(
            value(cluster.store(id), "/k").await.as_deref(),
            Some(last.as_str())
        );
    }
    // Stale reads still answer on the isolated member, from what it had before.
    assert_eq!(stale_value(&alone, "/k").await.as_deref(), Some("before"));

    cluster.heal();
    eventually(
        "the isolated member catches up after the heal",
        Duration::from_secs(15),
        || async { stale_value(&alone, "/k").await.as_deref() == Some(last.as_str()) },
    )
    .await;
    let back = write_eventually(&alone, "/healed", &format!("via {isolated}")).await;
    assert!(back.is_some(), "writes never resumed on node {isolated}");
    for &id in &majority {
        assert_eq!(
            value(cluster.store(id), "/healed").await,
            Some(format!("via {isolated}"))
        );
    }
    cluster.converged(Duration::from_secs(10)).await;
}

/// Write until it succeeds (the healed member may still be finding the leader); `None` if it
/// never did within 15 s.
async fn write_eventually(store: &RaftStore, key: &str, value: &str) -> Option<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match store.txn(Txn::put(key, value.to_string())).await {
            Ok(resp) if resp.succeeded => return Some(()),
            Ok(resp) => panic!("an unconditional put did not succeed: {resp:?}"),
            Err(e) => println!("write after the heal not yet possible: {e}"),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_follower_cannot_write_and_catches_up_after_the_heal() {
    let cluster = Cluster::form(3, config()).await;
    let follower = cluster.follower().await;
    isolate_and_heal(&cluster, follower).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_loses_the_cluster_to_the_majority_and_rejoins() {
    let cluster = Cluster::form(3, config()).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    isolate_and_heal(&cluster, leader).await;
    // The old leader never committed its write while it was alone.
    assert_eq!(value(cluster.store(leader), "/lost").await, None);
}
