//! The log router, served over real HTTP.

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fake::FakeDriver;
use crate::support::*;

/// GET `path` from `port`; returns the status line and the whole response.
pub async fn http_get(port: u16, path: &str) -> Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.lines().next().unwrap_or_default().to_string();
    Ok((status, text))
}

pub async fn serve(logs: tutti_agent::LogState) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, tutti_agent::log_router(logs)).await;
    });
    Ok(port)
}

#[tokio::test]
async fn logs_of_current_and_previous_attempts() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let port = serve(agent.logs.clone()).await?;
    create_pod(
        &client,
        "web",
        json!({"containers": [{"name": "app", "image": "x", "command": ["run", "300", "1"]}]}),
    )
    .await?;
    wait_pod(&client, "web", "a restart", 10, |p| {
        container_status(p, "app").is_some_and(|s| s.restart_count >= 1)
    })
    .await?;
    let (status, body) = http_get(port, "/containerLogs/default/web/app").await?;
    assert!(status.contains("200"), "{body}");
    assert!(body.contains("text/plain"), "{body}");
    assert!(body.contains("hello from app attempt"), "{body}");
    let (status, body) = http_get(port, "/containerLogs/default/web/app?previous=true").await?;
    assert!(
        status.contains("200") && body.contains("hello from app attempt 0"),
        "{body}"
    );
    let (status, _) = http_get(port, "/containerLogs/default/web").await?;
    assert!(status.contains("200"), "the only container is the default");
    let (status, body) = http_get(port, "/containerLogs/default/nope/app").await?;
    assert!(
        status.contains("404") && body.contains("default/nope"),
        "{body}"
    );
    let (status, body) = http_get(port, "/containerLogs/default/web/other").await?;
    assert!(
        status.contains("400") && body.contains("container other is not valid for pod web"),
        "{body}"
    );
    agent.stop().await;
    Ok(())
}
