//! Crash safety of `RaftStore`: a child process writes and reports every acknowledged write;
//! the parent SIGKILLs it at different points, several rounds on the same directory, then
//! checks that every acknowledged write is present and the revision never went backwards.
//!
//! The child is this very test binary, re-executed to run `crash_child` with `CHILD_DIR` set.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tutti_store::{RaftStore, Revision, Store, Txn};

/// Set (to the store directory) only in the child process.
const CHILD_DIR: &str = "TUTTI_STORE_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "TUTTI_STORE_CRASH_CHILD_ROUND";
/// Concurrent writers in the child, so kills also land inside group-committed batches.
const CHILD_WRITERS: usize = 8;
const ROUND_DEADLINE: Duration = Duration::from_secs(30);

/// One acknowledged write, as the child reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    value: String,
    revision: Revision,
}

/// The child's entry point: a no-op unless this binary was started by the parent test.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let store = RaftStore::open(Path::new(&dir), 1)
            .await
            .expect("child: open store");
        let mut writers = Vec::new();
        for w in 0..CHILD_WRITERS {
            let store = store.clone();
            let round = round.clone();
            writers.push(tokio::spawn(async move {
                // Bounded: the parent kills us long before this ends.
                for i in 0..100_000 {
                    let key = format!("/crash/{round}/{w}/{i:06}");
                    let value = format!("value-{round}-{w}-{i}");
                    let resp = store
                        .txn(Txn::put(key.clone(), value.clone()))
                        .await
                        .expect("child: txn");
                    let mut out = std::io::stdout().lock();
                    // A closed pipe (parent gone) ends the child.
                    writeln!(out, "ACK {key} {value} {}", resp.revision).expect("child: stdout");
                    out.flush().expect("child: flush");
                }
            }));
        }
        for writer in writers {
            writer.await.expect("child: writer");
        }
    });
}

fn spawn_child(dir: &Path, round: usize) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

fn parse_ack(line: &str) -> Option<(String, Ack)> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let key = parts.next()?.to_string();
    let value = parts.next()?.to_string();
    let revision = parts.next()?.parse().ok()?;
    Some((key, Ack { value, revision }))
}

/// Run one child, kill it with SIGKILL after `kill_after` acks, return every ack it printed.
fn run_round(dir: &Path, round: usize, kill_after: usize) -> Vec<(String, Ack)> {
    let mut child = spawn_child(dir, round);
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + ROUND_DEADLINE;
    let mut acks = Vec::new();
    while acks.len() < kill_after {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => acks.extend(parse_ack(&line)),
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "round {round}: child stopped acking after {} acks: {e}",
                    acks.len()
                );
            }
        }
    }
    child.kill().expect("SIGKILL child");
    child.wait().expect("reap child");
    // Acks printed between our last read and the kill were acknowledged too.
    reader.join().expect("reader thread");
    acks.extend(rx.try_iter().filter_map(|line| parse_ack(&line)));
    acks
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked: BTreeMap<String, Ack> = BTreeMap::new();
    let mut highest: Revision = 0;
    for (round, kill_after) in [1, 60, 250, 15].into_iter().enumerate() {
        let acks = run_round(dir.path(), round, kill_after);
        assert!(
            acks.len() >= kill_after,
            "round {round}: {} acks",
            acks.len()
        );
        let lowest_this_round = acks.iter().map(|(_, a)| a.revision).min().unwrap_or(0);
        assert!(
            lowest_this_round > highest,
            "round {round}: revision went backwards after a crash ({lowest_this_round} <= {highest})"
        );
        eprintln!(
            "round {round}: killed after {kill_after} acks; {} acks read, revisions {lowest_this_round}..",
            acks.len()
        );
        for (key, ack) in acks {
            highest = highest.max(ack.revision);
            assert!(
                acked.insert(key.clone(), ack).is_none(),
                "{key} acknowledged twice"
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = RaftStore::open(dir.path(), 1)
            .await
            .expect("open after crashes");
        let current = store.current_revision().await.expect("revision");
        assert!(
            current >= highest,
            "current revision {current} < acknowledged {highest}"
        );
        for (key, ack) in &acked {
            let kv = store.get(key).await.expect("get");
            let kv = kv.unwrap_or_else(|| panic!("acknowledged write {key} lost: {ack:?}"));
            assert_eq!(String::from_utf8_lossy(&kv.value), ack.value, "{key}");
            assert_eq!(kv.mod_revision, ack.revision, "{key}");
        }
        store.shutdown().await.expect("shutdown");
    });
}
