//! An agent restart re-adopts running containers and removes what belongs to gone pods.

use std::sync::Arc;

use kube::api::DeleteParams;
use serde_json::json;
use tutti_runtime::RuntimeDriver;

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn a_restarted_agent_adopts_running_containers() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let probe = json!({"exec": {"command": ["check", "ready"]}, "periodSeconds": 1});
    fake.set_flag("ready", true);
    create_pod(
        &client,
        "keep",
        json!({"containers": [{"name": "app", "image": "x", "readinessProbe": probe}]}),
    )
    .await?;
    let gone = create_pod(
        &client,
        "gone",
        json!({"containers": [{"name": "app", "image": "x"}]}),
    )
    .await?;
    let done = create_pod(
        &client,
        "done",
        json!({"restartPolicy": "Never",
        "containers": [{"name": "app", "image": "x", "command": ["exit", "0"]}]}),
    )
    .await?;
    let before = wait_pod(&client, "keep", "Ready", 10, |p| {
        condition(p, "Ready") == Some("True")
    })
    .await?;
    wait_pod(&client, "gone", "Running", 10, |p| phase(p) == "Running").await?;
    let id = container_status(&before, "app").and_then(|s| s.container_id.clone());
    wait_pod(&client, "done", "Succeeded", 10, |p| {
        phase(p) == "Succeeded"
    })
    .await?;

    agent.stop().await;
    // A finished pod is never run again, even when its container is gone.
    for c in fake.containers_of(done.metadata.uid.as_deref().unwrap_or_default()) {
        fake.remove_container(&c.id).await?;
    }
    // While the agent is down, one pod is deleted for good.
    pods(&client)
        .delete("gone", &DeleteParams::default().grace_period(0))
        .await?;
    let starts = fake.starts().len();

    let agent = start(&client, config(fake.clone(), dir.path()));
    let gone_uid = gone.metadata.uid.clone().unwrap_or_default();
    wait_for("the gone pod's container to be removed", 10, || async {
        fake.containers_of(&gone_uid).is_empty().then_some(())
    })
    .await?;
    // Nothing should happen to the kept pod: give the new agent several sync periods
    // (100 ms each) to do something wrong before checking that it did not.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = pods(&client).get("keep").await?;
    let s = container_status(&after, "app").cloned().unwrap_or_default();
    assert_eq!(s.container_id, id, "the same container");
    assert_eq!(s.restart_count, 0);
    assert!(s.state.and_then(|st| st.running).is_some());
    assert_eq!(
        condition(&after, "Ready"),
        Some("True"),
        "readiness carried over"
    );
    assert_eq!(fake.starts().len(), starts, "nothing was started again");
    agent.stop().await;
    Ok(())
}
