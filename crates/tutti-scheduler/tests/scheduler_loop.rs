//! The scheduler loop against the real API server (in memory): pods get bound and spread,
//! a pod that fits nowhere says why and is placed once a node that fits appears.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;
use tutti_scheduler::fixtures::{NodeBuilder, PodBuilder};
use tutti_scheduler::{ProfileName, SchedulerConfig, spawn};

const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` until it yields a value, failing the test after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Creates a Ready node; status is written through `nodes/status` as an agent would.
async fn create_node(client: &kube::Client, node: Node) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let name = node.metadata.name.clone().unwrap_or_default();
    let status = json!({"status": node.status});
    let bare = Node {
        status: None,
        ..node
    };
    api.create(&PostParams::default(), &bare).await?;
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn create_pod(client: &kube::Client, pod: Pod) -> anyhow::Result<()> {
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await?;
    Ok(())
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()?
        .node_name
        .clone()
        .filter(|n| !n.is_empty())
}

async fn events_for(client: &kube::Client, pod: &str, reason: &str) -> Vec<Event> {
    let events = Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    events
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod) && e.reason.as_deref() == Some(reason)
        })
        .collect()
}

#[tokio::test]
async fn six_pods_spread_two_per_node_with_scheduled_events() -> anyhow::Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    for i in 1..=3 {
        create_node(
            &client,
            NodeBuilder::new(&format!("node-{i}"))
                .cpu("4")
                .memory("8Gi")
                .build(),
        )
        .await?;
    }
    let scheduler = spawn(
        client.clone(),
        SchedulerConfig {
            profile: ProfileName::Spread,
            seed: Some(1),
        },
    );
    for i in 0..6 {
        create_pod(
            &client,
            PodBuilder::new(&format!("web-{i}"))
                .cpu("500m")
                .memory("512Mi")
                .image("nginx")
                .build(),
        )
        .await?;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let placement = eventually("all six pods bound", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let nodes: Vec<String> = list.items.iter().filter_map(node_of).collect();
        (nodes.len() == 6).then_some(nodes)
    })
    .await;
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for node in placement {
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(
        per_node.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "placement: {per_node:?}"
    );

    let pod = pods.get("web-0").await?;
    let condition = pod
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_ == "PodScheduled"));
    assert_eq!(condition.map(|c| c.status), Some("True".to_string()));
    let node = node_of(&pods.get("web-0").await?).unwrap_or_default();
    let events = eventually("a Scheduled event", || async {
        let e = events_for(&client, "web-0", "Scheduled").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(
        events[0].message.as_deref(),
        Some(format!("Successfully assigned default/web-0 to {node}").as_str())
    );
    assert_eq!(events[0].type_.as_deref(), Some("Normal"));
    scheduler.abort();
    Ok(())
}

#[tokio::test]
async fn a_pod_too_big_for_every_node_says_why_and_is_placed_when_a_big_node_joins()
-> anyhow::Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    for i in 1..=3 {
        create_node(
            &client,
            NodeBuilder::new(&format!("node-{i}"))
                .cpu("4")
                .memory("8Gi")
                .build(),
        )
        .await?;
    }
    let scheduler = spawn(client.clone(), SchedulerConfig::default());
    create_pod(&client, PodBuilder::new("huge").cpu("100").build()).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let expected = "0/3 nodes are available: 3 Insufficient cpu.";

    let condition = eventually("PodScheduled=False", || async {
        let pod = pods.get("huge").await.ok()?;
        pod.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(condition.message.as_deref(), Some(expected));
    assert_eq!(node_of(&pods.get("huge").await?), None);
    let events = eventually("a FailedScheduling event", || async {
        let e = events_for(&client, "huge", "FailedScheduling").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(events[0].message.as_deref(), Some(expected));
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));

    create_node(
        &client,
        NodeBuilder::new("big").cpu("128").memory("512Gi").build(),
    )
    .await?;
    let node = eventually("the pod bound to the big node", || async {
        node_of(&pods.get("huge").await.ok()?)
    })
    .await;
    assert_eq!(node, "big");
    scheduler.abort();
    Ok(())
}

#[tokio::test]
async fn a_waiting_pod_gets_the_room_a_finished_pod_leaves() -> anyhow::Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    create_node(
        &client,
        NodeBuilder::new("only")
            .cpu("2")
            .memory("4Gi")
            .pods(1)
            .build(),
    )
    .await?;
    let scheduler = spawn(client.clone(), SchedulerConfig::default());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pod(&client, PodBuilder::new("job").build()).await?;
    eventually("the job bound", || async {
        node_of(&pods.get("job").await.ok()?)
    })
    .await;

    create_pod(&client, PodBuilder::new("next").build()).await?;
    let message = eventually("the next pod unschedulable", || async {
        let pod = pods.get("next").await.ok()?;
        pod.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?
            .message
    })
    .await;
    assert_eq!(message, "0/1 nodes are available: 1 Too many pods.");

    let done = json!({"status": {"phase": "Succeeded"}});
    pods.patch_status("job", &PatchParams::default(), &Patch::Merge(&done))
        .await?;
    let node = eventually("the next pod bound", || async {
        node_of(&pods.get("next").await.ok()?)
    })
    .await;
    assert_eq!(node, "only");
    scheduler.abort();
    Ok(())
}

#[tokio::test]
async fn pods_running_before_the_scheduler_starts_count_against_their_node() -> anyhow::Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    create_node(
        &client,
        NodeBuilder::new("only").cpu("1").memory("4Gi").build(),
    )
    .await?;
    create_pod(
        &client,
        PodBuilder::new("running")
            .cpu("1")
            .node_name("only")
            .build(),
    )
    .await?;
    create_pod(&client, PodBuilder::new("pending").cpu("1").build()).await?;
    let scheduler = spawn(client.clone(), SchedulerConfig::default());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let message = eventually("the pending pod unschedulable", || async {
        let pod = pods.get("pending").await.ok()?;
        pod.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?
            .message
    })
    .await;
    assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
    assert_eq!(node_of(&pods.get("pending").await?), None);
    scheduler.abort();
    Ok(())
}
