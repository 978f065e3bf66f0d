//! The agent with the real process driver: host processes, their logs, and re-adoption
//! of a running process by a restarted agent over the same state directory.

use std::path::Path;
use std::sync::Arc;

use kube::api::DeleteParams;
use serde_json::json;
use tutti_runtime::process::ProcessDriver;

use crate::logs::{http_get, serve};
use crate::support::*;

fn process_config(dir: &Path) -> tutti_agent::AgentConfig {
    let driver = Arc::new(ProcessDriver::new(dir.join("process-driver")));
    config(driver, dir)
}

async fn delete_and_wait(client: &kube::Client, name: &str) -> Result {
    pods(client).delete(name, &DeleteParams::default()).await?;
    wait_for("the pod to be gone", 15, || async {
        pods(client)
            .get_opt(name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await
}

#[tokio::test]
async fn a_process_pod_runs_and_its_logs_are_served() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let agent = start(&client, process_config(dir.path()));
    let port = serve(agent.logs.clone()).await?;
    create_pod(&client, "hello", json!({"runtimeClassName": "process", "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "app", "image": "ignored", "command": ["sh", "-c", "echo hello; sleep 3600"],
                        "resources": {"limits": {"memory": "64Mi"}}}]})).await?;
    let pod = wait_pod(&client, "hello", "Running", 15, |p| phase(p) == "Running").await?;
    let status = pod.status.clone().unwrap_or_default();
    assert_eq!(
        status.pod_ip.as_deref(),
        Some("127.0.0.1"),
        "process pods use the node IP"
    );
    let id = container_status(&pod, "app")
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default();
    assert!(id.starts_with("process://"), "{id}");
    assert_eq!(
        condition(&pod, tutti_agent::UNSUPPORTED_CONDITION),
        Some("True"),
        "limits are ignored"
    );
    let body = wait_for("hello in the logs", 10, || async {
        let (status, body) = http_get(port, "/containerLogs/default/hello/app")
            .await
            .ok()?;
        (status.contains("200") && body.contains("hello")).then_some(body)
    })
    .await?;
    assert!(body.contains("hello"));
    delete_and_wait(&client, "hello").await?;
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_restarted_agent_keeps_a_running_process() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let agent = start(&client, process_config(dir.path()));
    create_pod(
        &client,
        "sleeper",
        json!({"runtimeClassName": "process", "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "app", "image": "ignored", "command": ["sleep", "3600"]}]}),
    )
    .await?;
    let before = wait_pod(&client, "sleeper", "Running", 15, |p| phase(p) == "Running").await?;
    let id = container_status(&before, "app").and_then(|s| s.container_id.clone());
    agent.stop().await;

    // A new agent and a new driver over the same state directory.
    let agent = start(&client, process_config(dir.path()));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let after = pods(&client).get("sleeper").await?;
    let s = container_status(&after, "app").cloned().unwrap_or_default();
    assert_eq!(s.container_id, id, "the same process");
    assert_eq!(s.restart_count, 0);
    assert!(s.state.and_then(|st| st.running).is_some(), "still running");
    assert_eq!(phase(&after), "Running");
    delete_and_wait(&client, "sleeper").await?;
    agent.stop().await;
    Ok(())
}
