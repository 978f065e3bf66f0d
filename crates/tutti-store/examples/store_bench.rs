//! Durable write throughput and commit latency of `RaftStore` under 1, 64 and 256 concurrent
//! writers, with the number of fsyncs each write cost (group commit at work).
//!
//! ```text
//! cargo run --release -p tutti-store --example store_bench -- [--seconds 3] [--value-bytes 512] [--dir PATH]
//! ```
//!
//! `--dir` picks the filesystem to measure (default: a temp dir). Each concurrency level gets
//! a fresh store; the time to open it is not measured.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tutti_store::{RaftStore, Store, Txn};

struct Options {
    seconds: f64,
    value_bytes: usize,
    dir: Option<PathBuf>,
    writers: Vec<usize>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 3.0,
        value_bytes: 512,
        dir: None,
        writers: vec![1, 64, 256],
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

async fn measure(options: &Options, writers: usize) -> Result<Row, Box<dyn std::error::Error>> {
    let base = match &options.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let store = RaftStore::open(base.path(), 1).await?;
    let before = store.stats();
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
    let after = store.stats();
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
        "RaftStore durable writes: {}s per level, {}-byte values, dir {}",
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
    for &writers in &options.writers {
        let row = measure(&options, writers).await?;
        let per_sec = row.writes as f64 / row.elapsed.as_secs_f64();
        let fsyncs_per_write = row.fsyncs as f64 / row.writes.max(1) as f64;
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
    Ok(())
}
