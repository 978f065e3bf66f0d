//! Deleting pods: graceful stop with preStop, cleanup, and the final delete.

use std::sync::Arc;
use std::time::Duration;

use kube::api::DeleteParams;
use serde_json::json;

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn a_deleted_pod_is_stopped_gracefully_and_removed() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(&client, "web", json!({"terminationGracePeriodSeconds": 20, "containers": [
        {"name": "app", "image": "x", "lifecycle": {"preStop": {"exec": {"command": ["true"]}}}},
        {"name": "cache", "image": "x", "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
        "volumes": [{"name": "scratch", "emptyDir": {}}]})).await?;
    let pod = wait_pod(&client, "web", "Running", 10, |p| phase(p) == "Running").await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let scratch = dir
        .path()
        .join("data/pods")
        .join(&uid)
        .join("volumes/empty-dir/scratch");
    assert!(
        scratch.is_dir(),
        "emptyDir prepared at {}",
        scratch.display()
    );
    let ids: Vec<String> = fake.containers_of(&uid).into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2);

    pods(&client)
        .delete("web", &DeleteParams::default())
        .await?;
    wait_for("the pod to be gone", 10, || async {
        pods(&client)
            .get_opt("web")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await?;
    let stops = fake.stops();
    for id in &ids {
        let (_, grace) = stops
            .iter()
            .find(|(s, _)| s == id)
            .cloned()
            .unwrap_or_default();
        assert!(
            grace > Duration::from_secs(15) && grace <= Duration::from_secs(20),
            "{id} stopped with {grace:?}"
        );
        assert!(!fake.exists(id), "{id} removed");
    }
    assert!(!fake.has_sandbox(&uid));
    let pod_dir = dir.path().join("data/pods").join(&uid);
    let left: Vec<_> = std::fs::read_dir(&pod_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(!pod_dir.exists(), "pod directory removed: {left:?}");
    let events = event_reasons(&client, "web").await?;
    assert!(
        events.contains(&("Killing".into(), "Stopping container app".into())),
        "{events:?}"
    );
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_pod_removed_outright_is_cleaned_up() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let pod = create_pod(
        &client,
        "forced",
        json!({"containers": [{"name": "app", "image": "x"}]}),
    )
    .await?;
    wait_pod(&client, "forced", "Running", 10, |p| phase(p) == "Running").await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    pods(&client)
        .delete("forced", &DeleteParams::default().grace_period(0))
        .await?;
    wait_for("its containers to be removed", 10, || async {
        (fake.containers_of(&uid).is_empty() && !fake.has_sandbox(&uid)).then_some(())
    })
    .await?;
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn finished_pods_keep_their_containers_until_deleted() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let pod = create_pod(
        &client,
        "job",
        json!({"restartPolicy": "Never",
        "containers": [{"name": "app", "image": "x", "command": ["exit", "0"]}]}),
    )
    .await?;
    wait_pod(&client, "job", "Succeeded", 10, |p| phase(p) == "Succeeded").await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.containers_of(&uid).len(), 1, "kept for logs");
    pods(&client)
        .delete("job", &DeleteParams::default())
        .await?;
    wait_for("its container to be removed", 10, || async {
        fake.containers_of(&uid).is_empty().then_some(())
    })
    .await?;
    agent.stop().await;
    Ok(())
}
