//! Snapshot files: where they live, what a crash leaves behind, ordering, data directories of
//! earlier versions, receiving from a leader; and (ignored, run by hand) the memory and time a
//! large snapshot costs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, RaftSnapshotBuilder};
use redb::{Durability, ReadableDatabase};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_FILE, SNAPSHOT_META, SnapshotBuilder, Snapshots};
use crate::config::StoreConfig;
use crate::mvcc::Mvcc;
use crate::raft::db::{self, Db};
use crate::raft::state_machine::StateMachine;
use crate::raft::stats::Counters;
use crate::raft::types::{LogId, SnapshotMeta, StoredMembership};
use crate::raft::{RaftStore, RaftStoreConfig};
use crate::{RangeRequest, Store, Txn};

const LIMIT: usize = 1_000;

fn state(keys: usize, tag: &str) -> Mvcc {
    let mut state = Mvcc::new(LIMIT);
    for i in 0..keys {
        state.apply_txn(Txn::put(format!("/k/{i:04}"), format!("{tag}-{i}")));
    }
    state
}

fn meta(index: u64) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
        last_membership: StoredMembership::default(),
        snapshot_id: format!("1-{index}"),
    }
}

fn open_db(dir: &Path) -> Arc<Db> {
    let (db, _closed) = db::open(&dir.join("raft.redb")).expect("open db");
    Arc::new(db)
}

/// The names of the files in `<dir>/snapshots`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .expect("snapshots dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn table_has(db: &Db, key: &str) -> bool {
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(SNAPSHOT).expect("table");
    table.get(key).expect("get").is_some()
}

#[test]
fn a_snapshot_is_one_file_named_in_the_database_and_loads_back() {
    let dir = TempDir::new().expect("tempdir");
    let db = open_db(dir.path());
    let snapshots = Snapshots::open(db.clone(), dir.path()).expect("open");
    assert_eq!(snapshots.load(LIMIT).expect("load"), None);

    let first = state(50, "a");
    let saved = snapshots.save(&meta(10), &first).expect("save");
    assert!(!saved.superseded);
    assert_eq!(saved.bytes, first.to_bytes().expect("encode").len() as u64);
    let names = files(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("1-10-") && names[0].ends_with(".snap"));
    assert_eq!(
        snapshots.load(LIMIT).expect("load"),
        Some((meta(10), first))
    );
    assert!(table_has(&db, SNAPSHOT_FILE) && !table_has(&db, SNAPSHOT_DATA));

    // A newer snapshot replaces the file.
    let second = state(80, "b");
    snapshots.save(&meta(20), &second).expect("save");
    let names = files(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("1-20-"));
    assert_eq!(
        snapshots.load(LIMIT).expect("load"),
        Some((meta(20), second))
    );
}

#[test]
fn files_a_crash_left_behind_are_removed_when_the_store_opens() {
    let dir = TempDir::new().expect("tempdir");
    let db = open_db(dir.path());
    let snapshots = Snapshots::open(db.clone(), dir.path()).expect("open");
    let saved = state(30, "a");
    snapshots.save(&meta(10), &saved).expect("save");
    let current = files(dir.path());
    drop(snapshots);
    // A build killed while writing, a transfer killed while receiving, a build killed between
    // its rename and its commit, and a file that is none of ours.
    let snapshot_dir = dir.path().join("snapshots");
    std::fs::write(snapshot_dir.join("1-20-5-0.snap.tmp"), b"half a snap").expect("write");
    std::fs::write(snapshot_dir.join("received-6-1.snap.tmp"), b"\x85").expect("write");
    std::fs::write(snapshot_dir.join("1-20-7-2.snap"), b"never made current").expect("write");
    std::fs::write(snapshot_dir.join("notes.txt"), b"mine").expect("write");

    let snapshots = Snapshots::open(db, dir.path()).expect("reopen");
    let mut expected = current.clone();
    expected.push("notes.txt".to_string());
    expected.sort();
    assert_eq!(files(dir.path()), expected);
    assert_eq!(
        snapshots.load(LIMIT).expect("load"),
        Some((meta(10), saved))
    );
}

#[test]
fn an_older_snapshot_never_replaces_a_newer_one() {
    let dir = TempDir::new().expect("tempdir");
    let snapshots = Snapshots::open(open_db(dir.path()), dir.path()).expect("open");
    let newer = state(40, "installed");
    snapshots.save(&meta(20), &newer).expect("save");
    let current = files(dir.path());
    // A snapshot built from an older state finishing after a newer one was installed.
    let saved = snapshots
        .save(&meta(10), &state(10, "built"))
        .expect("save");
    assert!(saved.superseded);
    assert_eq!(files(dir.path()), current);
    assert_eq!(
        snapshots.load(LIMIT).expect("load"),
        Some((meta(20), newer))
    );
}

#[test]
fn a_snapshot_an_earlier_version_kept_in_the_database_still_loads() {
    let dir = TempDir::new().expect("tempdir");
    let db = open_db(dir.path());
    let old = state(60, "old");
    {
        let mut txn = db.begin_write().expect("write");
        txn.set_durability(Durability::Immediate)
            .expect("durability");
        {
            let mut table = txn.open_table(SNAPSHOT).expect("table");
            let data = old.to_bytes().expect("encode");
            table.insert(SNAPSHOT_DATA, data.as_slice()).expect("data");
            let meta = db::encode(&meta(30)).expect("meta");
            table.insert(SNAPSHOT_META, meta.as_slice()).expect("meta");
        }
        txn.commit().expect("commit");
    }
    let snapshots = Snapshots::open(db.clone(), dir.path()).expect("open");
    assert_eq!(snapshots.load(LIMIT).expect("load"), Some((meta(30), old)));
    // Moved into a file, once.
    assert_eq!(files(dir.path()).len(), 1);
    assert!(table_has(&db, SNAPSHOT_FILE) && !table_has(&db, SNAPSHOT_DATA));
}

async fn wait_for_snapshot(store: &RaftStore) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.stats().snapshots_built == 0 || store.stats().purged_index.is_none() {
        assert!(
            Instant::now() < deadline,
            "no snapshot: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A whole data directory in the form an earlier version wrote: the snapshot in redb, no
/// snapshot files, the log purged up to the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_by_an_earlier_version_opens_with_every_key() {
    let dir = TempDir::new().expect("tempdir");
    let config = RaftStoreConfig {
        snapshot_logs: 10,
        keep_logs: 0,
        ..RaftStoreConfig::default()
    };
    let store = RaftStore::open_with_config(dir.path(), 1, config.clone())
        .await
        .expect("open");
    for i in 0..60 {
        store
            .txn(Txn::put(format!("/old/{i:02}"), format!("v{i}")))
            .await
            .expect("put");
    }
    wait_for_snapshot(&store).await;
    let before = store.range(RangeRequest::prefix("")).await.expect("range");
    store.shutdown().await.expect("shutdown");
    drop(store);

    {
        let db = open_db(dir.path());
        let name: String = {
            let txn = db.begin_read().expect("read");
            let table = txn.open_table(SNAPSHOT).expect("table");
            let bytes = table.get(SNAPSHOT_FILE).expect("get").expect("file");
            db::decode(bytes.value()).expect("name")
        };
        let data = std::fs::read(dir.path().join("snapshots").join(name)).expect("read");
        let mut txn = db.begin_write().expect("write");
        txn.set_durability(Durability::Immediate)
            .expect("durability");
        {
            let mut table = txn.open_table(SNAPSHOT).expect("table");
            table.insert(SNAPSHOT_DATA, data.as_slice()).expect("data");
            table.remove(SNAPSHOT_FILE).expect("file");
        }
        txn.commit().expect("commit");
    }
    std::fs::remove_dir_all(dir.path().join("snapshots")).expect("remove snapshots");

    let store = RaftStore::open_with_config(dir.path(), 1, config)
        .await
        .expect("reopen");
    let after = store.range(RangeRequest::prefix("")).await.expect("range");
    assert_eq!(after.kvs, before.kvs);
    assert_eq!(after.kvs.len(), 60);
    assert_eq!(files(dir.path()).len(), 1);
    store.shutdown().await.expect("shutdown");
}

async fn machine(dir: &Path, counters: &Arc<Counters>) -> StateMachine {
    let snapshots = Arc::new(Snapshots::open(open_db(dir), dir).expect("open"));
    StateMachine::restore(snapshots, counters.clone(), StoreConfig::default()).expect("restore")
}

/// Leader and follower state machines, the transfer done by hand the way openraft does it:
/// chunks written at their offsets, one of them sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_received_in_chunks_is_installed_and_survives_a_restart() {
    let counters = Arc::new(Counters::default());
    let leader_dir = TempDir::new().expect("tempdir");
    let mut leader = machine(leader_dir.path(), &counters).await;
    let mut txns = Vec::new();
    for i in 0..300 {
        txns.push(Txn::put(format!("/big/{i:03}"), "v".repeat(1_000 + i)));
    }
    leader.replica().apply(txns);
    let mut builder = leader.get_snapshot_builder().await;
    builder.last_applied = Some(LogId::new(CommittedLeaderId::new(3, 1), 42));
    let built = builder.build_snapshot().await.expect("build");
    let mut sent = leader
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(sent.meta, built.meta);

    let follower_dir = TempDir::new().expect("tempdir");
    let mut follower = machine(follower_dir.path(), &counters).await;
    // A transfer abandoned halfway leaves nothing behind.
    let mut abandoned = follower.begin_receiving_snapshot().await.expect("begin");
    abandoned.write_all(b"partial").await.expect("write");
    abandoned.flush().await.expect("flush");
    assert_eq!(files(follower_dir.path()).len(), 1);
    drop(abandoned);
    assert!(files(follower_dir.path()).is_empty());

    let mut received = follower.begin_receiving_snapshot().await.expect("begin");
    let end = sent
        .snapshot
        .seek(std::io::SeekFrom::End(0))
        .await
        .expect("end");
    assert!(end > 300_000, "{end} bytes");
    let chunk = 100_000;
    let mut offsets: Vec<u64> = (0..end).step_by(chunk).collect();
    offsets.insert(2, 0); // A retry from the start.
    for offset in offsets {
        sent.snapshot
            .seek(std::io::SeekFrom::Start(offset))
            .await
            .expect("seek");
        let mut buf = vec![0; chunk];
        let n = sent.snapshot.read(&mut buf).await.expect("read");
        received
            .seek(std::io::SeekFrom::Start(offset))
            .await
            .expect("seek");
        received.write_all(&buf[..n]).await.expect("write");
    }
    received.shutdown().await.expect("shutdown");
    follower
        .install_snapshot(&sent.meta, received)
        .await
        .expect("install");
    let expected = leader.replica().snapshot();
    assert_eq!(follower.replica().snapshot(), expected);
    assert_eq!(follower.last_applied(), sent.meta.last_log_id);
    let names = files(follower_dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".snap"));

    drop(follower);
    let follower = machine(follower_dir.path(), &counters).await;
    assert_eq!(follower.replica().snapshot(), expected);
    assert_eq!(follower.last_applied(), sent.meta.last_log_id);
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field")
}

/// Reset the peak-RSS mark (VmHWM) and return the current RSS in MiB.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
    status_kib("VmRSS:") / 1024
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

/// Where the two measurements below meet: the build writes its snapshot there, the load (run
/// in a fresh process, so that the state the build held does not hide the load's peak) reads it.
fn bench_dir() -> std::path::PathBuf {
    std::env::var_os("TUTTI_SNAPSHOT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tutti-snapshot-bench"))
}

/// Peak memory and time of building (persisting) a snapshot of a large state. Run by hand:
/// `cargo test -p tutti-store --release --lib snapshot_build_memory -- --ignored --nocapture`,
/// then `snapshot_load_memory` the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn snapshot_build_memory() {
    let keys: usize = std::env::var("TUTTI_SNAPSHOT_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150_000);
    let dir = bench_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let snapshots = Arc::new(Snapshots::open(open_db(&dir), &dir).expect("open"));
    let counters = Arc::new(Counters::default());
    let mut state = Mvcc::new(StoreConfig::default().history_limit);
    let filler = "x".repeat(2_000);
    for i in 0..keys {
        let value = format!("{{\"pod\":{i},\"spec\":\"{filler}\"}}");
        state.apply_txn(Txn::put(
            format!("/registry/pods/ns-{}/pod-{i}", i % 100),
            value,
        ));
    }
    let last_applied = Some(LogId::new(CommittedLeaderId::new(1, 1), keys as u64));
    // The builder gets a copy of the state (as from `Replica::snapshot`): values are shared,
    // keys and the history's records are not.
    let before_copy = reset_peak();
    let copy = state.clone();
    eprintln!(
        "state copy for the builder: +{} MiB",
        reset_peak().saturating_sub(before_copy)
    );
    let mut builder = SnapshotBuilder {
        snapshots,
        counters: counters.clone(),
        state: copy,
        last_applied,
        membership: StoredMembership::default(),
    };

    let rss = reset_peak();
    let started = Instant::now();
    let snapshot = builder.build_snapshot().await.expect("build");
    let took = started.elapsed();
    let peak = mib(status_kib("VmHWM:"));
    let bytes = std::fs::read_dir(dir.join("snapshots"))
        .expect("snapshots dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum::<u64>();
    eprintln!(
        "build: {keys} keys, {} MiB serialized, {took:?}; RSS {rss} MiB before, peak {peak} MiB (+{} MiB)",
        bytes >> 20,
        peak - rss
    );
    drop(snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand after snapshot_build_memory"]
async fn snapshot_load_memory() {
    let dir = bench_dir();
    let db = open_db(&dir);
    let rss = reset_peak();
    let started = Instant::now();
    let snapshots = Arc::new(Snapshots::open(db, &dir).expect("open"));
    let machine = StateMachine::restore(
        snapshots,
        Arc::new(Counters::default()),
        StoreConfig::default(),
    )
    .expect("restore");
    let took = started.elapsed();
    let peak = mib(status_kib("VmHWM:"));
    let after = mib(status_kib("VmRSS:"));
    eprintln!(
        "load: {} keys, {took:?}; RSS {rss} MiB before, {after} MiB after, peak {peak} MiB (+{} MiB over the loaded state)",
        machine.replica().snapshot().len(),
        peak - after
    );
}
