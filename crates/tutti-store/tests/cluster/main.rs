//! Multi-manager `RaftStore` clusters in one process, over real HTTPS with mutual TLS on
//! 127.0.0.1: forming a cluster, writes and reads on every member, leader failover, quorum
//! loss and recovery, network partitions, a learner catching up by snapshot, force-new-cluster,
//! and the whole conformance suite through a follower (`three_voters`).

#[path = "../conformance/mod.rs"]
mod conformance;
#[path = "../support/files.rs"]
mod files;
#[path = "../support/cluster.rs"]
mod support;

mod failover;
mod partition;
mod recovery;
mod three_voters;

use std::time::{Duration, Instant};

use support::Cluster;
use tutti_store::{
    Bootstrap, MembershipError, RaftStore, RaftStoreConfig, RangeRequest, Role, Store, StoreError,
    Txn,
};

/// Poll `ok` every few milliseconds until it holds; panic with `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !ok().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn value(store: &RaftStore, key: &str) -> Option<String> {
    let kv = store.get(key).await.expect("linearizable get")?;
    Some(String::from_utf8_lossy(&kv.value).into_owned())
}

pub async fn stale_value(store: &RaftStore, key: &str) -> Option<String> {
    let resp = store
        .range_stale(RangeRequest::key(key))
        .await
        .expect("stale read");
    let kv = resp.kvs.into_iter().next()?;
    Some(String::from_utf8_lossy(&kv.value).into_owned())
}

fn roles(store: &RaftStore) -> Vec<(u64, Role)> {
    store
        .members()
        .into_iter()
        .map(|m| (m.id, m.role))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_forms_and_every_member_writes_and_reads() {
    let mut cluster = Cluster::new(RaftStoreConfig::default());
    let one = cluster.start(1, Bootstrap::NewCluster).await;
    let two = cluster.start(2, Bootstrap::Join).await;
    let three = cluster.start(3, Bootstrap::Join).await;
    one.txn(Txn::put("/before", "joined"))
        .await
        .expect("write on the lone voter");

    // Membership changes may be asked of any member: 3 is added and promoted through 2.
    one.add_learner(2, &cluster.member(2).addr())
        .await
        .expect("add 2");
    two.add_learner(3, &cluster.member(3).addr())
        .await
        .expect("add 3 via 2");
    assert_eq!(
        roles(&one),
        vec![(1, Role::Voter), (2, Role::Learner), (3, Role::Learner)]
    );
    one.promote(2).await.expect("promote 2");
    two.promote(3).await.expect("promote 3 via 2");
    let voters = vec![(1, Role::Voter), (2, Role::Voter), (3, Role::Voter)];
    for store in [&one, &two, &three] {
        let of = store.node_id();
        eventually(
            "every member sees three voters",
            Duration::from_secs(5),
            || async { roles(store) == voters },
        )
        .await;
        assert_eq!(
            store.leader().map(|(id, _)| id),
            Some(1),
            "leader as seen by {of}"
        );
    }
    let members = one.members();
    assert!(
        members.iter().all(|m| m.reachable == Some(true)),
        "{members:?}"
    );
    assert!(members.iter().any(|m| m.id == 1 && m.is_leader));
    assert_eq!(
        one.promote(9).await,
        Err(MembershipError::NotMember { id: 9 }),
        "an unknown node cannot be promoted"
    );

    // Writes on any member (followers forward), reads on all.
    for (i, store) in [&one, &two, &three].into_iter().enumerate() {
        let resp = store
            .txn(Txn::put(
                format!("/k/{i}"),
                format!("from {}", store.node_id()),
            ))
            .await;
        assert!(resp.expect("write").succeeded);
        // Read-your-writes on the member that wrote, even through a stale read.
        assert_eq!(
            stale_value(store, &format!("/k/{i}")).await,
            Some(format!("from {}", store.node_id()))
        );
    }
    for store in [&one, &two, &three] {
        assert_eq!(value(store, "/before").await.as_deref(), Some("joined"));
        for i in 0..3 {
            assert!(
                value(store, &format!("/k/{i}")).await.is_some(),
                "key {i} on {}",
                store.node_id()
            );
        }
        assert_eq!(store.current_revision().await.expect("revision"), 5);
    }

    // Demote and remove, through a follower.
    three.demote(2).await.expect("demote 2");
    assert_eq!(
        roles(&one),
        vec![(1, Role::Voter), (2, Role::Learner), (3, Role::Voter)]
    );
    three.remove(2).await.expect("remove 2");
    assert_eq!(roles(&one), vec![(1, Role::Voter), (3, Role::Voter)]);
    three
        .txn(Txn::put("/after", "two voters"))
        .await
        .expect("write after removal");
    cluster.kill(2).await;
    assert_eq!(value(&one, "/after").await.as_deref(), Some("two voters"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_without_quorum_stale_reads_answer_and_writes_resume() {
    let mut cluster = Cluster::form(3, RaftStoreConfig::default()).await;
    cluster
        .store(2)
        .txn(Txn::put("/k", "before"))
        .await
        .expect("write");
    cluster.converged(Duration::from_secs(5)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let followers: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();

    // The leader alone: it stops hearing from a majority and refuses to write.
    for &id in &followers {
        cluster.kill(id).await;
    }
    let alone = cluster.store(leader).clone();
    expect_quorum_lost(&alone, "a leader without its followers").await;
    assert_eq!(stale_value(&alone, "/k").await.as_deref(), Some("before"));

    // One follower back: a majority again, writes resume.
    cluster.start(followers[0], Bootstrap::Join).await;
    write_eventually(&alone, "/k", "majority back").await;

    // Now the leader dies and the other follower is still gone: the survivor has no leader.
    let leader = cluster.leader(Duration::from_secs(10)).await;
    cluster.kill(leader).await;
    let survivor = cluster.store(cluster.running()[0]).clone();
    expect_quorum_lost(&survivor, "a follower without a leader").await;
    assert_eq!(
        stale_value(&survivor, "/k").await.as_deref(),
        Some("majority back")
    );

    cluster.start(followers[1], Bootstrap::Join).await;
    write_eventually(&survivor, "/k", "second recovery").await;
    assert_eq!(
        value(cluster.store(followers[1]), "/k").await.as_deref(),
        Some("second recovery")
    );
}

/// A write and a linearizable read both fail with "no leader: quorum lost", in bounded time.
async fn expect_quorum_lost(store: &RaftStore, who: &str) {
    let started = Instant::now();
    let write = tokio::time::timeout(Duration::from_secs(20), store.txn(Txn::put("/k", "lost")))
        .await
        .unwrap_or_else(|_| panic!("{who}: a write hung"));
    println!(
        "{who}: write failed after {:?}: {write:?}",
        started.elapsed()
    );
    assert!(
        matches!(&write, Err(StoreError::Unavailable(m)) if m.starts_with("no leader: quorum lost")),
        "{who}: {write:?}"
    );
    let read = tokio::time::timeout(Duration::from_secs(20), store.get("/k"))
        .await
        .unwrap_or_else(|_| panic!("{who}: a read hung"));
    assert!(
        matches!(read, Err(StoreError::Unavailable(_))),
        "{who}: {read:?}"
    );
}

async fn write_eventually(store: &RaftStore, key: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.txn(Txn::put(key, value.to_string())).await {
            Ok(resp) => {
                assert!(resp.succeeded);
                return;
            }
            Err(StoreError::Unavailable(e)) if Instant::now() < deadline => {
                println!("write not yet possible: {e}");
            }
            Err(e) => panic!("write did not resume: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_not_yet_added_says_so() {
    let config = RaftStoreConfig {
        leader_wait: Duration::from_millis(300),
        ..RaftStoreConfig::default()
    };
    let mut cluster = Cluster::new(config);
    let lonely = cluster.start(1, Bootstrap::Join).await;
    let write = lonely.txn(Txn::put("/k", "v")).await;
    assert!(
        matches!(&write, Err(StoreError::Unavailable(m)) if m.contains("has not joined a cluster yet")),
        "{write:?}"
    );
    assert!(lonely.members().is_empty());
    assert_eq!(lonely.leader(), None);
    let stale = lonely
        .range_stale(RangeRequest::prefix(""))
        .await
        .expect("stale read");
    assert!(stale.kvs.is_empty());
}
