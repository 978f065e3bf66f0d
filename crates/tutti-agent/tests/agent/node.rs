//! Node registration, status heartbeat and lease.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn registers_the_node_and_renews_its_lease() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let mut cfg = config(Arc::new(FakeDriver::default()), dir.path());
    cfg.labels.insert("zone".into(), "a".into());
    let agent = start(&client, cfg);

    let nodes: Api<Node> = Api::all(client.clone());
    let node = wait_for("node to be Ready", 10, || async {
        let n = nodes.get_opt(NODE).await.ok().flatten()?;
        let ready = n.status.as_ref()?.conditions.as_ref()?.iter().any(|c| {
            c.type_ == "Ready" && c.status == "True" && c.reason.as_deref() == Some("KubeletReady")
        });
        ready.then_some(n)
    })
    .await?;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("kubernetes.io/hostname").map(String::as_str),
        Some(NODE)
    );
    assert_eq!(
        labels.get("kubernetes.io/os").map(String::as_str),
        Some("linux")
    );
    assert_eq!(
        labels.get("beta.kubernetes.io/os").map(String::as_str),
        Some("linux")
    );
    assert!(labels.contains_key("kubernetes.io/arch"));
    assert_eq!(labels.get("zone").map(String::as_str), Some("a"));
    let status = node.status.clone().unwrap_or_default();
    let capacity = status.capacity.clone().unwrap_or_default();
    assert!(capacity["cpu"].0.parse::<u32>()? >= 1);
    assert!(capacity["memory"].0.ends_with("Ki"));
    assert_eq!(capacity["pods"].0, "110");
    assert_eq!(status.allocatable, status.capacity);
    let info = status.node_info.clone().unwrap_or_default();
    assert!(info.kubelet_version.starts_with("v1.33.0-tutti."));
    assert_eq!(info.container_runtime_version, "fake://1.0");
    assert_eq!(info.operating_system, "linux");
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port);
    assert_eq!(port, Some(10250));
    let addresses = status.addresses.unwrap_or_default();
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == "InternalIP" && a.address == "127.0.0.1")
    );
    let conditions = status.conditions.unwrap_or_default();
    for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == t && c.status == "False"),
            "{t}"
        );
    }

    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let first = wait_for("the node lease", 10, || async {
        leases.get_opt(NODE).await.ok().flatten()?.spec?.renew_time
    })
    .await?;
    let lease = leases.get(NODE).await?;
    let spec = lease.spec.clone().unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some(NODE));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    wait_for("the lease to be renewed", 10, || async {
        let t = leases
            .get_opt(NODE)
            .await
            .ok()
            .flatten()?
            .spec?
            .renew_time?;
        (t.0 > first.0).then_some(())
    })
    .await?;
    // The heartbeat moves on too.
    let beat = |n: &Node| {
        n.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .last_heartbeat_time
            .clone()
    };
    // The node lifecycle controller lengthens leases in a large cluster: the agent keeps
    // renewing and leaves the duration it was given alone.
    let patch = serde_json::json!({"spec": {"leaseDurationSeconds": 3}});
    let lengthened = leases
        .patch(NODE, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let at = lengthened
        .spec
        .and_then(|s| s.renew_time)
        .ok_or_else(|| anyhow::anyhow!("no renewTime"))?;
    let renewed = wait_for("a renewal after the duration changed", 10, || async {
        let l = leases.get_opt(NODE).await.ok().flatten()?;
        let t = l.spec.as_ref()?.renew_time.as_ref()?;
        (t.0 > at.0).then_some(l)
    })
    .await?;
    assert_eq!(renewed.spec.and_then(|s| s.lease_duration_seconds), Some(3));

    let before = beat(&node);
    wait_for("a newer node heartbeat", 10, || async {
        let n = nodes.get_opt(NODE).await.ok().flatten()?;
        (beat(&n) > before).then_some(())
    })
    .await?;
    agent.stop().await;
    Ok(())
}
