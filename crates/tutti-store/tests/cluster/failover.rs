//! Leader failover: a new leader within seconds of a leader's death, writes continuing on the
//! survivors, and the old leader rejoining and catching up.

use std::time::{Duration, Instant};

use tutti_store::{Bootstrap, RaftStoreConfig, Store, Txn};

use crate::support::Cluster;
use crate::{eventually, stale_value, value};

/// Kill the agreed leader; return it and the time until the survivors agree on a new one.
async fn kill_leader(cluster: &mut Cluster) -> (u64, u64, Duration) {
    let old = cluster.leader(Duration::from_secs(10)).await;
    let killed = Instant::now();
    cluster.kill(old).await;
    let new = cluster.leader(Duration::from_secs(15)).await;
    (old, new, killed.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_and_the_old_one_catches_up() {
    let mut cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    for id in cluster.running() {
        cluster
            .store(id)
            .txn(Txn::put(format!("/before/{id}"), "v"))
            .await
            .expect("write before");
    }
    let (old, new, took) = kill_leader(&mut cluster).await;
    println!("leader {old} killed: node {new} leads after {took:?}");
    assert_ne!(old, new);

    // Writes continue on both survivors (one of them forwards).
    for id in cluster.running() {
        let resp = cluster
            .store(id)
            .txn(Txn::put(format!("/after/{id}"), "v"))
            .await
            .expect("write after failover");
        assert!(resp.succeeded);
    }
    let revision = cluster
        .store(new)
        .current_revision()
        .await
        .expect("revision");

    // The old leader comes back on its old data and catches up.
    let back = cluster.start(old, Bootstrap::NewCluster).await;
    eventually(
        "the old leader catches up",
        Duration::from_secs(10),
        || async { stale_value(&back, &format!("/after/{new}")).await.is_some() },
    )
    .await;
    assert_eq!(back.current_revision().await.expect("revision"), revision);
    for id in [1, 2, 3] {
        assert_eq!(
            value(&back, &format!("/before/{id}")).await.as_deref(),
            Some("v")
        );
    }
    back.txn(Txn::put("/rejoined", "yes"))
        .await
        .expect("write on the rejoined member");
    assert_eq!(
        value(cluster.store(new), "/rejoined").await.as_deref(),
        Some("yes")
    );
}

/// `cargo test -p tutti-store --test cluster -- --ignored --nocapture failover_times`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: about 40 s"]
async fn failover_times_over_many_leader_kills() {
    const KILLS: usize = 12;
    let mut cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    let mut times = Vec::new();
    for round in 0..KILLS {
        cluster
            .store(cluster.running()[0])
            .txn(Txn::put("/round", round.to_string()))
            .await
            .expect("write");
        cluster.converged(Duration::from_secs(10)).await;
        let (old, new, took) = kill_leader(&mut cluster).await;
        println!("round {round}: leader {old} killed, node {new} leads after {took:?}");
        times.push(took);
        cluster.start(old, Bootstrap::NewCluster).await;
        cluster.leader(Duration::from_secs(10)).await;
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "failover over {KILLS} leader kills: min {:?} p50 {:?} p99 {:?} max {:?}",
        times[0],
        pct(0.5),
        pct(0.99),
        times[times.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_back_from_downtime_catches_up_on_a_large_backlog() {
    const WRITERS: usize = 32;
    const WRITES: usize = 60;
    let mut cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let down = cluster.follower().await;
    cluster.kill(down).await;
    let value = "x".repeat(4096);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = cluster.store(leader).clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..WRITES {
                store
                    .txn(Txn::put(format!("/backlog/{w}/{i}"), value.clone()))
                    .await
                    .expect("write while a follower is down");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let behind = cluster.store(leader).stats().last_log_index;
    let back = cluster.start(down, Bootstrap::NewCluster).await;
    let started = Instant::now();
    cluster.converged(Duration::from_secs(30)).await;
    println!(
        "follower {down} caught up to log index {behind:?} ({} writes) in {:?}",
        WRITERS * WRITES,
        started.elapsed()
    );
    let keys = back
        .range_stale(tutti_store::RangeRequest::prefix("/backlog/"))
        .await
        .expect("stale read");
    assert_eq!(keys.kvs.len(), WRITERS * WRITES);
}
