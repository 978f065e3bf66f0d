//! Durable write throughput and commit latency of `RaftStore` under 1, 64 and 256 concurrent
//! writers, with the number of fsyncs each write cost (group commit at work).
//!
//! ```text
//! cargo run --release -p tutti-store --example store_bench -- [--seconds 3] [--value-bytes 512] [--dir PATH]
//!     [--voters 3] [--via leader|follower] [--json FILE]
//! ```
//!
//! `--dir` picks the filesystem to measure (default: a temp dir). Each concurrency level gets
//! a fresh store; the time to open it is not measured. `--voters N` runs an N-voter cluster in
//! this process (mTLS over loopback, every member's data in the same filesystem) and writes
//! through the leader or, with `--via follower`, through a follower that forwards; the
//! appends and fsyncs columns are then the leader's.

#[path = "../tests/support/cluster.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tutti_store::{RaftStore, RaftStoreConfig, Store, Txn};

struct Options {
    seconds: f64,
    value_bytes: usize,
    dir: Option<PathBuf>,
    writers: Vec<usize>,
    voters: u64,
    via_follower: bool,
    json: Option<PathBuf>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 3.0,
        value_bytes: 512,
        dir: None,
        writers: vec![1, 64, 256],
        voters: 1,
        via_follower: false,
        json: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--value-bytes" => {
                options.value_bytes = value()?.parse().map_err(|e| format!("{e}"))?
            }
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--writers" => {
                options.writers = value()?
                    .split(',')
                    .map(|w| w.parse().map_err(|e| format!("--writers: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--json" => options.json = Some(PathBuf::from(value()?)),
            "--voters" => options.voters = value()?.parse().map_err(|e| format!("{e}"))?,
            "--via" => {
                options.via_follower = match value()?.as_str() {
                    "leader" => false,
                    "follower" => true,
                    other => return Err(format!("--via leader|follower, not {other}")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

struct Row {
    writers: usize,
    writes: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    log_appends: u64,
    fsyncs: u64,
}

/// The store to write through, the store whose counters are reported, and what keeps them
/// alive.
struct Target {
    writes_to: RaftStore,
    reports: RaftStore,
    _dir: tempfile::TempDir,
    _cluster: Option<support::Cluster>,
}

async fn open(options: &Options) -> Result<Target, Box<dyn std::error::Error>> {
    let base = match &options.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    if options.voters <= 1 {
        let store = RaftStore::open(base.path(), 1).await?;
        return Ok(Target {
            writes_to: store.clone(),
            reports: store,
            _dir: base,
            _cluster: None,
        });
    }
    let config = RaftStoreConfig::default();
    let cluster = support::Cluster::form_in(base.path(), options.voters, config).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let writer = match options.via_follower {
        true => cluster.follower().await,
        false => leader,
    };
    Ok(Target {
        writes_to: cluster.store(writer).clone(),
        reports: cluster.store(leader).clone(),
        _dir: base,
        _cluster: Some(cluster),
    })
}

async fn measure(options: &Options, writers: usize) -> Result<Row, Box<dyn std::error::Error>> {
    let target = open(options).await?;
    let store = target.writes_to.clone();
    let before = target.reports.stats();
    let value = Bytes::from(vec![b'x'; options.value_bytes]);
    let run_for = Duration::from_secs_f64(options.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while start.elapsed() < run_for {
                let key = format!("/bench/{w}/{i}");
                let t = Instant::now();
                store.txn(Txn::put(key, value.clone())).await?;
                latencies.push(t.elapsed());
                i += 1;
            }
            Ok::<_, tutti_store::StoreError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed();
    let after = target.reports.stats();
    store.shutdown().await?;
    latencies.sort_unstable();
    let pct = |p: f64| {
        let idx = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(idx).copied().unwrap_or_default()
    };
    Ok(Row {
        writers,
        writes: latencies.len() as u64,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        log_appends: after.log_appends - before.log_appends,
        fsyncs: after.fsyncs - before.fsyncs,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    println!(
        "RaftStore durable writes: {} voter(s){}, {}s per level, {}-byte values, dir {}",
        options.voters,
        match (options.voters > 1, options.via_follower) {
            (false, _) => "",
            (true, false) => " via the leader",
            (true, true) => " via a follower",
        },
        options.seconds,
        options.value_bytes,
        options
            .dir
            .as_ref()
            .map_or("(temp)".to_string(), |d| d.display().to_string())
    );
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10} {:>12} {:>14}",
        "writers", "writes", "writes/s", "p50 ms", "p99 ms", "appends", "fsyncs/write"
    );
    let mut rows = Vec::new();
    for &writers in &options.writers {
        let row = measure(&options, writers).await?;
        let per_sec = row.writes as f64 / row.elapsed.as_secs_f64();
        let fsyncs_per_write = row.fsyncs as f64 / row.writes.max(1) as f64;
        rows.push(serde_json::json!({
            "writers": row.writers,
            "writes": row.writes,
            "writes_per_sec": per_sec,
            "p50_ms": ms(row.p50),
            "p99_ms": ms(row.p99),
            "log_appends": row.log_appends,
            "fsyncs_per_write": fsyncs_per_write,
        }));
        println!(
            "{:>8} {:>10} {:>12.0} {:>10.3} {:>10.3} {:>12} {:>14.4}",
            row.writers,
            row.writes,
            per_sec,
            ms(row.p50),
            ms(row.p99),
            row.log_appends,
            fsyncs_per_write
        );
    }
    if let Some(path) = &options.json {
        let result = serde_json::json!({
            "voters": options.voters,
            "via": if options.via_follower { "follower" } else { "leader" },
            "seconds_per_level": options.seconds,
            "value_bytes": options.value_bytes,
            "quick": options.seconds < 1.0,
            "machine": {
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            },
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(())
}
