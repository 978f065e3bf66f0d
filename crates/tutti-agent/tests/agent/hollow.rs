//! Hollow nodes against the real API: registration, leases, pods Running and deleted.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use tutti_agent::hollow::{self, HollowConfig};

use crate::support::*;

#[tokio::test]
async fn hollow_nodes_register_renew_and_run_their_pods() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let cfg = HollowConfig {
        count: 25,
        lease_duration: Duration::from_secs(2),
        ..HollowConfig::default()
    };
    let task = tokio::spawn(hollow::run(client.clone(), cfg));

    let nodes: Api<Node> = Api::all(client.clone());
    wait_for("25 hollow nodes", 20, || async {
        let list = nodes
            .list(&ListParams::default().labels("tutti.dev/hollow=true"))
            .await
            .ok()?;
        (list.items.len() == 25).then_some(())
    })
    .await?;
    let n = nodes.get("hollow-7").await?;
    let ready = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    assert!(
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    // Leases are renewed: renewTime moves.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let first = leases
        .get("hollow-3")
        .await?
        .spec
        .and_then(|s| s.renew_time);
    wait_for("a lease renewal", 10, || async {
        let now = leases.get("hollow-3").await.ok()?.spec?.renew_time;
        (now != first).then_some(())
    })
    .await?;

    // Pods bound to hollow nodes go Running with an address; deleted ones disappear.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("p{i}")},
            "spec": {"nodeName": format!("hollow-{}", i % 3),
                     "containers": [{"name": "c", "image": "nginx"}]}
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
    }
    wait_for("10 pods Running", 20, || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let running = list.items.iter().filter(|p| {
            let s = p.status.as_ref();
            s.and_then(|s| s.phase.as_deref()) == Some("Running")
                && s.and_then(|s| s.pod_ip.as_deref()).is_some()
        });
        (running.count() == 10).then_some(())
    })
    .await?;
    let ips: std::collections::BTreeSet<String> = pods
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 10, "pod addresses are distinct: {ips:?}");

    pods.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    wait_for("every pod gone", 20, || async {
        pods.list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await?;
    assert!(!task.is_finished(), "the hollow nodes stopped: {task:?}");
    task.abort();
    Ok(())
}
