//! The conformance suite against `RaftStore`, plus what only the durable store promises:
//! everything survives close/reopen, snapshots and log purging lose nothing, writes are
//! group-committed.

mod conformance;
#[path = "support/files.rs"]
mod files;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use conformance::StoreFactory;
use files::snapshot_files;
use tempfile::TempDir;
use tokio::time::Instant;
use tutti_store::{
    RaftStore, RaftStoreConfig, RangeRequest, Revision, Store, StoreError, StoreStats, Txn,
};

/// Fresh stores in temp dirs that live as long as the factory (one test).
#[derive(Default)]
struct Raft {
    dirs: Mutex<Vec<TempDir>>,
}

impl StoreFactory for Raft {
    type S = RaftStore;

    async fn make(&self) -> RaftStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RaftStore::open(dir.path(), 1)
            .await
            .expect("open raft store");
        self.dirs.lock().expect("dirs").push(dir);
        store
    }
}

crate::conformance_suite!(Raft::default());

fn small_snapshots() -> RaftStoreConfig {
    RaftStoreConfig {
        snapshot_logs: 10,
        keep_logs: 0,
        ..RaftStoreConfig::default()
    }
}

async fn all_keys(store: &RaftStore) -> Vec<(String, String, Revision)> {
    let resp = store.range(RangeRequest::prefix("")).await.expect("range");
    resp.kvs
        .into_iter()
        .map(|kv| {
            (
                kv.key,
                String::from_utf8_lossy(&kv.value).into_owned(),
                kv.mod_revision,
            )
        })
        .collect()
}

async fn wait_for_stats(store: &RaftStore, what: &str, ok: impl Fn(&StoreStats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = store.stats();
        if ok(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn reopen(dir: &Path, config: RaftStoreConfig) -> RaftStore {
    RaftStore::open_with_config(dir, 1, config)
        .await
        .expect("reopen")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_close_and_reopen_and_the_revision_never_goes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RaftStore::open(dir.path(), 1).await.expect("open");
    for i in 0..30 {
        store
            .txn(Txn::put(format!("/k/{i:02}"), format!("v{i}")))
            .await
            .expect("put");
    }
    store.txn(Txn::delete("/k/07")).await.expect("delete");
    store.compact(5).await.expect("compact");
    let before = all_keys(&store).await;
    let mut revision = store.current_revision().await.expect("revision");
    store.shutdown().await.expect("shutdown");
    assert_eq!(
        store.txn(Txn::put("/late", "x")).await,
        Err(StoreError::Shutdown)
    );
    drop(store);

    for round in 0..3 {
        let store = reopen(dir.path(), RaftStoreConfig::default()).await;
        assert_eq!(all_keys(&store).await, before, "round {round}");
        assert_eq!(store.current_revision().await.expect("revision"), revision);
        assert_eq!(store.compacted_revision().await.expect("compacted"), 5);
        // History above the compacted revision survives too.
        let at = RangeRequest {
            revision: 6,
            ..RangeRequest::prefix("/k/")
        };
        assert_eq!(store.range(at).await.expect("past read").kvs.len(), 5);
        // A put and a delete per round: two more revisions, no net change in keys.
        let put = store
            .txn(Txn::put(format!("/round/{round}"), "x"))
            .await
            .expect("put");
        assert_eq!(put.revision, revision + 1);
        let deleted = store
            .txn(Txn::delete(format!("/round/{round}")))
            .await
            .expect("delete");
        revision = deleted.revision;
        store.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_log_purge_lose_nothing_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path(), small_snapshots()).await;
    for i in 0..100 {
        store
            .txn(Txn::put(format!("/s/{i:03}"), format!("v{i}")))
            .await
            .expect("put");
    }
    wait_for_stats(&store, "a snapshot and a purged log", |s| {
        s.snapshots_built > 0 && s.purged_index.is_some_and(|p| p >= 50)
    })
    .await;
    let before = all_keys(&store).await;
    assert_eq!(before.len(), 100);
    store.shutdown().await.expect("shutdown");

    let store = reopen(dir.path(), small_snapshots()).await;
    assert_eq!(all_keys(&store).await, before);
    assert_eq!(store.current_revision().await.expect("revision"), 101);
    // The snapshot carries history: a watch from the first write still replays everything.
    let mut watch = store.watch("/s/", 2).await.expect("watch");
    for revision in 2..=101 {
        assert_eq!(
            conformance::next_events(&mut watch).await.revision,
            revision
        );
    }
    store.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_the_snapshot_file_and_ignores_what_a_crash_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path(), small_snapshots()).await;
    for i in 0..60 {
        store
            .txn(Txn::put(format!("/f/{i:02}"), format!("v{i}")))
            .await
            .expect("put");
    }
    wait_for_stats(&store, "a snapshot and a purged log", |s| {
        s.snapshots_built > 0 && s.purged_index.is_some_and(|p| p >= 30)
    })
    .await;
    let before = all_keys(&store).await;
    store.shutdown().await.expect("shutdown");
    let current = snapshot_files(dir.path());
    assert!(
        current.len() == 1 && current[0].ends_with(".snap"),
        "{current:?}"
    );

    // A snapshot build killed while writing, and one killed after its rename but before the
    // database named it: neither may be loaded, and both go away.
    let snapshots = dir.path().join("snapshots");
    std::fs::write(snapshots.join("1-999-1-0.snap.tmp"), b"\x85\xa3kvs").expect("write");
    std::fs::write(snapshots.join("1-999-2-0.snap"), b"not msgpack").expect("write");

    let store = reopen(dir.path(), small_snapshots()).await;
    assert_eq!(all_keys(&store).await, before);
    assert_eq!(snapshot_files(dir.path()), current);
    // The snapshot carries history: a watch from the first write still replays everything.
    let mut watch = store.watch("/f/", 2).await.expect("watch");
    for revision in 2..=61 {
        assert_eq!(
            conformance::next_events(&mut watch).await.revision,
            revision
        );
    }
    store.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_log_appends() {
    const WRITERS: usize = 64;
    const WRITES: usize = 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RaftStore::open(dir.path(), 1).await.expect("open");
    let before = store.stats();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..WRITES {
                let resp = store
                    .txn(Txn::put(format!("/g/{w}/{i}"), "v"))
                    .await
                    .expect("put");
                revisions.push(resp.revision);
            }
            revisions
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.extend(task.await.expect("writer"));
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        WRITERS * WRITES,
        "every txn has its own revision"
    );
    let after = store.stats();
    let writes = (WRITERS * WRITES) as u64;
    assert_eq!(after.applied_txns - before.applied_txns, writes);
    let appends = after.log_appends - before.log_appends;
    assert!(
        appends < writes,
        "{appends} log appends for {writes} concurrent writes"
    );
    store.shutdown().await.expect("shutdown");
}

/// Also runs on a current-thread runtime (the default of `#[tokio::test]`).
#[tokio::test]
async fn a_directory_cannot_be_opened_twice_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RaftStore::open(dir.path(), 1).await.expect("open");
    let second = RaftStore::open(dir.path(), 1).await;
    assert!(
        matches!(second, Err(StoreError::Storage(_))),
        "{:?}",
        second.err()
    );
    store.shutdown().await.expect("shutdown");
    assert!(matches!(
        store.watch("/", 0).await,
        Err(StoreError::Shutdown)
    ));
    assert!(matches!(store.get("/x").await, Err(StoreError::Shutdown)));
    let again = RaftStore::open(dir.path(), 1)
        .await
        .expect("open after shutdown");
    again.shutdown().await.expect("shutdown");
}
