//! API write benchmark: starts a real `tutti dev` (release binary next to this example),
//! measures time to /readyz, idle RSS, then durable creates/s through the HTTPS API with 1
//! and 64 concurrent writers (p50/p99 latency). Prints a table and writes JSON.
//!
//! `cargo run --release -p tutti --example api_bench -- [--quick] [--out FILE]`

#[path = "support/proc_stats.rs"]
mod proc_stats;
use proc_stats::{cpu_secs, rss_kib};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let per_run = if quick { 400 } else { 4000 };
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("tutti"))
        .ok_or_else(|| anyhow::anyhow!("no binary dir"))?;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args(["dev", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env("TUTTI_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let kubeconfig = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("tutti dev exited"))??;
        if let Some(p) = line.strip_prefix("export KUBECONFIG=") {
            break PathBuf::from(p);
        }
    };
    let kubeconfig_written = started.elapsed();
    std::thread::spawn(move || for _ in lines {});
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?,
    )?;
    // Ready: the first `GET /readyz` that answers ok (the client's own set-up is included).
    let ready = loop {
        let req = http::Request::get("/readyz").body(Vec::new())?;
        if client.request_text(req).await.is_ok() {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("tutti dev not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(child.id());
    // CPU while idle: what an unused `tutti dev` costs the machine.
    let idle_window = if quick { 2.0 } else { 10.0 };
    let c0 = cpu_secs(child.id());
    tokio::time::sleep(Duration::from_secs_f64(idle_window)).await;
    let idle_cpu = (cpu_secs(child.id()) - c0) / idle_window;
    let binary_bytes = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);

    let mut rows = Vec::new();
    for writers in [1usize, 64] {
        let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
        let lat = Arc::new(std::sync::Mutex::new(Vec::with_capacity(per_run)));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let cms = cms.clone();
            let lat = lat.clone();
            let n = per_run / writers;
            tasks.push(tokio::spawn(async move {
                for i in 0..n {
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": format!("b{writers}-{w}-{i}")}, "data": {"k": "v"}
                    }))
                    .expect("configmap");
                    let t = Instant::now();
                    if cms.create(&PostParams::default(), &cm).await.is_ok() {
                        lat.lock().expect("lock").push(t.elapsed());
                    }
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let elapsed = t0.elapsed();
        let mut l = lat.lock().expect("lock").clone();
        l.sort();
        rows.push(serde_json::json!({
            "writers": writers,
            "writes": l.len(),
            "writes_per_sec": l.len() as f64 / elapsed.as_secs_f64(),
            "p50_ms": percentile(&l, 0.5).as_secs_f64() * 1000.0,
            "p99_ms": percentile(&l, 0.99).as_secs_f64() * 1000.0,
        }));
    }
    let busy_rss = rss_kib(child.id());
    let _ = child.kill();
    println!(
        "tutti dev: ready in {} ms, idle RSS {:.1} MiB, idle CPU {:.1}% of a core, RSS after writes {:.1} MiB; binary {:.1} MiB",
        ready.as_millis(),
        idle_rss as f64 / 1024.0,
        idle_cpu * 100.0,
        busy_rss as f64 / 1024.0,
        binary_bytes as f64 / 1048576.0
    );
    println!(
        "{:>8} {:>8} {:>12} {:>9} {:>9}",
        "writers", "writes", "writes/s", "p50 ms", "p99 ms"
    );
    for r in &rows {
        println!(
            "{:>8} {:>8} {:>12.0} {:>9.2} {:>9.2}",
            r["writers"].as_u64().unwrap_or(0),
            r["writes"].as_u64().unwrap_or(0),
            r["writes_per_sec"].as_f64().unwrap_or(0.0),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0)
        );
    }
    let result = serde_json::json!({
        "ready_ms": ready.as_millis() as u64,
        "kubeconfig_written_ms": kubeconfig_written.as_millis() as u64,
        "idle_rss_kib": idle_rss,
        "idle_cpu": idle_cpu,
        "rss_after_writes_kib": busy_rss,
        "binary_bytes": binary_bytes,
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        },
        "quick": quick,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "api_writes": rows,
    });
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_string_pretty(&result)?)?;
    }
    Ok(())
}
