//! The node lifecycle controller against the real API: a node whose lease stops being renewed
//! becomes NotReady and tainted, its pods are evicted after the timeout (unless they
//! tolerate the taint forever), and a node whose agent comes back loses the taints.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tutti_controllers::ControllerConfig;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready_condition(status: &str) -> serde_json::Value {
    json!({"type": "Ready", "status": status, "reason": "AgentReady",
           "lastHeartbeatTime": Timestamp::now().to_string(),
           "lastTransitionTime": Timestamp::now().to_string()})
}

async fn create_node(client: &kube::Client, name: &str) -> Result<Api<Node>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    nodes.create(&PostParams::default(), &node).await?;
    post_ready(&nodes, name, "True").await?;
    Ok(nodes)
}

/// What the agent does: post the Ready condition.
async fn post_ready(nodes: &Api<Node>, name: &str, status: &str) -> Result {
    let patch = json!({"status": {"conditions": [ready_condition(status)]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// What the agent does: renew its lease (here, to the given time).
async fn renew(leases: &Api<Lease>, name: &str, at: Timestamp) -> Result {
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": MicroTime(at)},
    }))?;
    if leases.get_opt(name).await?.is_some() {
        let patch = json!({"spec": {"renewTime": MicroTime(at)}});
        leases
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    } else {
        leases.create(&PostParams::default(), &lease).await?;
    }
    Ok(())
}

async fn running_pod(
    pods: &Api<Pod>,
    name: &str,
    node: &str,
    tolerations: serde_json::Value,
) -> Result {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}], "tolerations": tolerations},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

fn taint_keys(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}

fn ready_status(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

async fn events_with_reason(client: &kube::Client, reason: &str) -> Result<Vec<Event>> {
    let events: Api<Event> = Api::all(client.clone());
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect())
}

#[tokio::test]
async fn lost_node_is_tainted_its_pods_evicted_and_recovery_clears_taints() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let nodes = create_node(&client, "n1").await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let an_hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    renew(&leases, "n1", an_hour_ago).await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    running_pod(&pods, "web", "n1", json!([])).await?;
    running_pod(
        &pods,
        "agent",
        "n1",
        json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]),
    )
    .await?;

    tutti_controllers::node_lifecycle::spawn(
        client.clone(),
        ControllerConfig {
            node_monitor_grace: Duration::from_secs(1),
            eviction_timeout: Duration::from_secs(2),
            ..ControllerConfig::default()
        },
    );

    let node = eventually("node NotReady and tainted", || async {
        let n = nodes.get("n1").await?;
        let tainted = taint_keys(&n).len() == 2;
        Ok((ready_status(&n).as_deref() == Some("Unknown") && tainted).then_some(n))
    })
    .await?;
    assert_eq!(
        taint_keys(&node),
        vec![
            "node.kubernetes.io/unreachable:NoExecute",
            "node.kubernetes.io/unreachable:NoSchedule"
        ]
    );
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .ok_or("no Ready condition")?;
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );

    eventually("pods marked not ready", || async {
        let p = pods.get("agent").await?;
        let ready = p
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status);
        Ok((ready.as_deref() == Some("False")).then_some(()))
    })
    .await?;

    eventually("the untolerating pod evicted", || async {
        Ok(pods.get_opt("web").await?.is_none().then_some(()))
    })
    .await?;
    assert!(
        pods.get_opt("agent").await?.is_some(),
        "a pod tolerating the taint without tolerationSeconds stays"
    );
    let evictions = events_with_reason(&client, "TaintManagerEviction").await?;
    assert_eq!(evictions.len(), 1);
    assert_eq!(
        evictions[0].message.as_deref(),
        Some("Marking for deletion Pod default/web")
    );
    let not_ready = events_with_reason(&client, "NodeNotReady").await?;
    assert!(
        not_ready
            .iter()
            .any(|e| e.message.as_deref() == Some("Node n1 status is now: NodeNotReady"))
    );

    // The agent comes back: it renews its lease steadily and posts Ready=True whenever the
    // node does not say so.
    let heart = {
        let (leases, nodes) = (leases.clone(), nodes.clone());
        tokio::spawn(async move {
            loop {
                let _ = renew(&leases, "n1", Timestamp::now()).await;
                if let Ok(n) = nodes.get("n1").await
                    && ready_status(&n).as_deref() != Some("True")
                {
                    let _ = post_ready(&nodes, "n1", "True").await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    eventually("taints removed", || async {
        let n = nodes.get("n1").await?;
        Ok(
            (taint_keys(&n).is_empty() && ready_status(&n).as_deref() == Some("True"))
                .then_some(()),
        )
    })
    .await?;
    heart.abort();
    Ok(())
}

#[tokio::test]
async fn agent_reporting_not_ready_gets_not_ready_taints() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let nodes = create_node(&client, "n2").await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    renew(&leases, "n2", Timestamp::now()).await?;
    tutti_controllers::node_lifecycle::spawn(
        client.clone(),
        ControllerConfig {
            node_monitor_grace: Duration::from_secs(30),
            eviction_timeout: Duration::from_secs(30),
            ..ControllerConfig::default()
        },
    );
    post_ready(&nodes, "n2", "False").await?;
    let node = eventually("not-ready taints", || async {
        let n = nodes.get("n2").await?;
        Ok((!taint_keys(&n).is_empty()).then_some(n))
    })
    .await?;
    assert_eq!(
        taint_keys(&node),
        vec![
            "node.kubernetes.io/not-ready:NoExecute",
            "node.kubernetes.io/not-ready:NoSchedule"
        ]
    );
    assert_eq!(
        ready_status(&node).as_deref(),
        Some("False"),
        "the agent's own report is kept"
    );
    post_ready(&nodes, "n2", "True").await?;
    eventually("taints removed", || async {
        Ok(taint_keys(&nodes.get("n2").await?).is_empty().then_some(()))
    })
    .await?;
    Ok(())
}

/// Beyond the lease renewal budget, leases get longer and so does the grace: nodes whose
/// agents renew at the longer pace stay Ready.
#[tokio::test]
async fn a_cluster_beyond_the_renewal_budget_gets_longer_leases() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let mut nodes = None;
    for name in ["b1", "b2", "b3"] {
        nodes = Some(create_node(&client, name).await?);
        renew(&leases, name, Timestamp::now()).await?;
        // Agents that chose 2 s leases.
        let patch = json!({"spec": {"leaseDurationSeconds": 2}});
        leases
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let nodes = nodes.ok_or("no nodes")?;
    // 3 nodes renewing every quarter of a lease, one renewal a second: 12 s, so 20 s leases.
    tutti_controllers::node_lifecycle::spawn(
        client.clone(),
        ControllerConfig {
            node_monitor_grace: Duration::from_secs(1),
            lease_renewals_per_second: 1,
            ..ControllerConfig::default()
        },
    );
    eventually("every lease lengthened to 20 s", || async {
        let all = leases.list(&ListParams::default()).await?.items;
        let durations: Vec<Option<i32>> = all
            .iter()
            .map(|l| l.spec.as_ref().and_then(|s| s.lease_duration_seconds))
            .collect();
        Ok((durations == vec![Some(20); 3]).then_some(()))
    })
    .await?;
    // Three seconds without a renewal: past the configured 1 s grace, within the 20 s lease.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["b1", "b2", "b3"] {
        let node = nodes.get(name).await?;
        assert_eq!(ready_status(&node).as_deref(), Some("True"), "{name}");
        assert!(taint_keys(&node).is_empty(), "{name}");
    }
    Ok(())
}
