//! Probes: readiness gates Ready, liveness restarts, startup gates both; exec and httpGet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn readiness_and_liveness_probes() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let probe = |flag: &str| json!({"exec": {"command": ["check", flag]}, "periodSeconds": 1, "failureThreshold": 1});
    create_pod(
        &client,
        "probed",
        json!({"containers": [
        {"name": "app", "image": "x", "readinessProbe": probe("ready")}]}),
    )
    .await?;
    let pod = wait_pod(&client, "probed", "Running", 10, |p| phase(p) == "Running").await?;
    assert_eq!(
        condition(&pod, "Ready"),
        Some("False"),
        "not ready before the probe passes"
    );
    fake.set_flag("ready", true);
    wait_pod(&client, "probed", "Ready", 10, |p| {
        condition(p, "Ready") == Some("True")
    })
    .await?;
    fake.set_flag("ready", false);
    let pod = wait_pod(&client, "probed", "not Ready", 10, |p| {
        condition(p, "Ready") == Some("False")
    })
    .await?;
    assert_eq!(
        container_status(&pod, "app").map(|s| s.restart_count),
        Some(0),
        "readiness never restarts"
    );

    fake.set_flag("alive", true);
    create_pod(
        &client,
        "live",
        json!({"containers": [
        {"name": "app", "image": "x", "livenessProbe": probe("alive")}]}),
    )
    .await?;
    wait_pod(&client, "live", "Running", 10, |p| phase(p) == "Running").await?;
    fake.set_flag("alive", false);
    wait_pod(
        &client,
        "live",
        "a restart after the liveness failure",
        10,
        |p| container_status(p, "app").is_some_and(|s| s.restart_count >= 1),
    )
    .await?;
    let events = event_reasons(&client, "live").await?;
    assert!(
        events.contains(&(
            "Unhealthy".into(),
            "Liveness probe failed: alive is not set".into()
        )),
        "{events:?}"
    );
    assert!(events.contains(&(
        "Killing".into(),
        "Container app failed liveness probe, will be restarted".into()
    )));
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_startup_probe_gates_the_others() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let probe = |flag: &str, failures: i32| json!({"exec": {"command": ["check", flag]}, "periodSeconds": 1, "failureThreshold": failures});
    create_pod(
        &client,
        "slow",
        json!({"containers": [{"name": "app", "image": "x",
        "startupProbe": probe("started", 30), "livenessProbe": probe("alive", 1)}]}),
    )
    .await?;
    let pod = wait_pod(&client, "slow", "Running", 10, |p| phase(p) == "Running").await?;
    let s = container_status(&pod, "app").cloned().unwrap_or_default();
    assert_eq!((s.started, s.ready), (Some(false), false));
    // Liveness would fail ("alive" is not set) but does not run before startup passes.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        container_status(&pods(&client).get("slow").await?, "app").map(|s| s.restart_count),
        Some(0)
    );
    fake.set_flag("alive", true);
    fake.set_flag("started", true);
    wait_pod(&client, "slow", "started and Ready", 10, |p| {
        container_status(p, "app").is_some_and(|s| s.started == Some(true) && s.ready)
    })
    .await?;
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn http_readiness_probe() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let code = Arc::new(AtomicU16::new(503));
    let serving = code.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 {} X\r\nContent-Length: 0\r\n\r\n",
                serving.load(Ordering::SeqCst)
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    create_pod(&client, "web", json!({"containers": [{"name": "app", "image": "x",
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {"httpGet": {"host": "127.0.0.1", "port": "http", "path": "/ready"}, "periodSeconds": 1}}]})).await?;
    wait_pod(&client, "web", "Running", 10, |p| phase(p) == "Running").await?;
    let events = wait_for("a failed readiness probe", 10, || async {
        let e = event_reasons(&client, "web").await.ok()?;
        e.iter().any(|(r, _)| r == "Unhealthy").then_some(e)
    })
    .await?;
    assert!(
        events.contains(&(
            "Unhealthy".into(),
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into()
        )),
        "{events:?}"
    );
    code.store(200, Ordering::SeqCst);
    wait_pod(&client, "web", "Ready", 10, |p| {
        condition(p, "Ready") == Some("True")
    })
    .await?;
    agent.stop().await;
    Ok(())
}
