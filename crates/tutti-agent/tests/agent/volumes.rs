//! Volumes prepared on the host and mounted into containers.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn config_maps_and_secrets_become_files() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "site"}, "data": {"index.html": "<h1>hi</h1>"}}),
    )?;
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await?;
    create_pod(&client, "web", json!({"containers": [{"name": "app", "image": "x", "volumeMounts": [
            {"name": "site", "mountPath": "/usr/share/nginx/html"},
            {"name": "tls", "mountPath": "/etc/tls"}]}],
        "volumes": [{"name": "site", "configMap": {"name": "site"}},
                    {"name": "tls", "secret": {"secretName": "tls", "items": [{"key": "key", "path": "tls.key", "mode": 0o400}]}}]}))
    .await?;
    // The Secret does not exist yet: the pod waits, with a FailedMount event.
    let pod = wait_pod(&client, "web", "ContainerCreating", 10, |p| {
        waiting_reason(p, "app").as_deref() == Some("ContainerCreating")
    })
    .await?;
    assert_eq!(phase(&pod), "Pending");
    let events = wait_for("FailedMount", 10, || async {
        let e = event_reasons(&client, "web").await.ok()?;
        e.iter().any(|(r, _)| r == "FailedMount").then_some(e)
    })
    .await?;
    assert!(
        events.contains(&(
            "FailedMount".into(),
            "MountVolume.SetUp failed for volume \"tls\" : secret \"tls\" not found".into()
        )),
        "{events:?}"
    );

    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "tls"}, "stringData": {"key": "PRIVATE"}}),
    )?;
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await?;
    let pod = wait_pod(&client, "web", "Running", 15, |p| phase(p) == "Running").await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mounts = fake.starts_of("web", "app")[0].spec.mounts.clone();
    let site = mounts
        .iter()
        .find(|m| m.container_path == "/usr/share/nginx/html")
        .cloned()
        .unwrap_or_else(|| panic!("{mounts:?}"));
    assert!(site.read_only);
    assert_eq!(
        std::fs::read_to_string(site.host_path.join("index.html"))?,
        "<h1>hi</h1>"
    );
    let tls = mounts
        .iter()
        .find(|m| m.container_path == "/etc/tls")
        .cloned()
        .unwrap_or_else(|| panic!("{mounts:?}"));
    assert!(
        tls.host_path.starts_with(dir.path().join("shm").join(&uid)),
        "secrets live on tmpfs: {}",
        tls.host_path.display()
    );
    let key = tls.host_path.join("tls.key");
    assert_eq!(std::fs::read_to_string(&key)?, "PRIVATE");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o400);
    agent.stop().await;
    Ok(())
}
