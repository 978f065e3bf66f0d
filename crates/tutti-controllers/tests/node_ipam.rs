//! Node IPAM against the real API server: nodes get distinct pod CIDRs from the cluster
//! range, keep the one they have, reuse a deleted node's block, and hear about it (an Event)
//! when the range is used up.

use std::collections::BTreeSet;
use std::error::Error;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tutti_controllers::ControllerConfig;

type Res<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);

/// Poll `$cond` (an expression that may `.await` and `?`) until it holds, or fail.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + PATIENCE;
        loop {
            if $cond {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {}", $what).into());
            }
            tokio::time::sleep(POLL).await;
        }
    }};
}

async fn server() -> Res<Client> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    Ok(client)
}

fn start_ipam(client: &Client, cluster_cidr: (Ipv4Addr, u8)) {
    let config = ControllerConfig {
        cluster_cidr,
        ..ControllerConfig::default()
    };
    tutti_controllers::node_ipam::spawn(client.clone(), &config);
}

async fn create_node(client: &Client, name: &str, pod_cidr: Option<&str>) -> Res {
    let spec = match pod_cidr {
        Some(c) => json!({"podCIDR": c, "podCIDRs": [c]}),
        None => json!({}),
    };
    let node: Node = serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec}))?;
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await?;
    Ok(())
}

/// The node's `spec.podCIDR` once set, after checking `spec.podCIDRs` says the same.
async fn pod_cidr(client: &Client, name: &str) -> Res<Option<String>> {
    let node = Api::<Node>::all(client.clone()).get(name).await?;
    let spec = node.spec.unwrap_or_default();
    let Some(cidr) = spec.pod_cidr.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if spec.pod_cidrs != Some(vec![cidr.clone()]) {
        return Err(format!("{name}: podCIDRs {:?} != [{cidr}]", spec.pod_cidrs).into());
    }
    Ok(Some(cidr))
}

const CLUSTER: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 244, 0, 0), 16);

#[tokio::test]
async fn nodes_get_distinct_blocks() -> Res {
    let client = server().await?;
    start_ipam(&client, CLUSTER);
    create_node(&client, "n1", None).await?;
    create_node(&client, "n2", None).await?;
    eventually!(
        "both nodes allocated",
        pod_cidr(&client, "n1").await?.is_some() && pod_cidr(&client, "n2").await?.is_some()
    );
    let got: BTreeSet<String> = [
        pod_cidr(&client, "n1").await?,
        pod_cidr(&client, "n2").await?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let expected: BTreeSet<String> = ["10.244.0.0/24", "10.244.1.0/24"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(got, expected);
    Ok(())
}

#[tokio::test]
async fn a_deleted_nodes_block_is_reused() -> Res {
    let client = server().await?;
    start_ipam(&client, CLUSTER);
    create_node(&client, "n1", None).await?;
    eventually!("n1 allocated", pod_cidr(&client, "n1").await?.is_some());
    create_node(&client, "n2", None).await?;
    eventually!("n2 allocated", pod_cidr(&client, "n2").await?.is_some());
    let freed = pod_cidr(&client, "n1").await?;
    assert_eq!(freed.as_deref(), Some("10.244.0.0/24"));

    Api::<Node>::all(client.clone())
        .delete("n1", &DeleteParams::default())
        .await?;
    eventually!(
        "n1 gone",
        Api::<Node>::all(client.clone())
            .get_opt("n1")
            .await?
            .is_none()
    );
    create_node(&client, "n3", None).await?;
    eventually!("n3 allocated", pod_cidr(&client, "n3").await?.is_some());
    assert_eq!(pod_cidr(&client, "n3").await?, freed);
    assert_eq!(
        pod_cidr(&client, "n2").await?.as_deref(),
        Some("10.244.1.0/24")
    );
    Ok(())
}

#[tokio::test]
async fn a_node_keeps_its_block_and_nobody_else_gets_it() -> Res {
    let client = server().await?;
    // Allocated before this allocator started (say, by the previous leader).
    create_node(&client, "old", Some("10.244.0.0/24")).await?;
    create_node(&client, "manual", Some("10.244.1.0/24")).await?;
    start_ipam(&client, CLUSTER);
    create_node(&client, "new", None).await?;
    eventually!("new allocated", pod_cidr(&client, "new").await?.is_some());
    assert_eq!(
        pod_cidr(&client, "new").await?.as_deref(),
        Some("10.244.2.0/24")
    );
    assert_eq!(
        pod_cidr(&client, "old").await?.as_deref(),
        Some("10.244.0.0/24")
    );
    assert_eq!(
        pod_cidr(&client, "manual").await?.as_deref(),
        Some("10.244.1.0/24")
    );
    Ok(())
}

#[tokio::test]
async fn a_used_up_range_is_reported_on_the_node() -> Res {
    let client = server().await?;
    // Room for two /24s only.
    start_ipam(&client, (Ipv4Addr::new(10, 244, 0, 0), 23));
    for name in ["n1", "n2"] {
        create_node(&client, name, None).await?;
        eventually!(
            format!("{name} allocated"),
            pod_cidr(&client, name).await?.is_some()
        );
    }
    create_node(&client, "n3", None).await?;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually!("a CIDRNotAvailable event for n3", {
        events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.involved_object.name.as_deref() == Some("n3")
                    && e.involved_object.kind.as_deref() == Some("Node")
                    && e.reason.as_deref() == Some("CIDRNotAvailable")
                    && e.message.as_deref() == Some("Node n3 status is now: CIDRNotAvailable")
            })
    });
    assert_eq!(pod_cidr(&client, "n3").await?, None);

    // A node leaves; the waiting node gets its block at its next update (an agent heartbeat).
    Api::<Node>::all(client.clone())
        .delete("n1", &DeleteParams::default())
        .await?;
    eventually!(
        "n1 gone",
        Api::<Node>::all(client.clone())
            .get_opt("n1")
            .await?
            .is_none()
    );
    let heartbeat = json!({"metadata": {"labels": {"heartbeat": "1"}}});
    Api::<Node>::all(client.clone())
        .patch("n3", &PatchParams::default(), &Patch::Merge(&heartbeat))
        .await?;
    eventually!("n3 allocated", pod_cidr(&client, "n3").await?.is_some());
    assert_eq!(
        pod_cidr(&client, "n3").await?.as_deref(),
        Some("10.244.0.0/24")
    );
    Ok(())
}

/// Many nodes registering at once (as hollow nodes or a fleet booting do): the allocator reads
/// its cache, which lags its own writes, and must still hand out every block once.
#[tokio::test]
async fn a_burst_of_nodes_gets_distinct_blocks() -> Res {
    let client = server().await?;
    // Room for exactly 64 nodes: every block is used, none twice.
    start_ipam(&client, (Ipv4Addr::new(10, 244, 0, 0), 18));
    let names: Vec<String> = (0..64).map(|i| format!("burst-{i}")).collect();
    let creates = names.iter().map(|n| create_node(&client, n, None));
    for r in futures::future::join_all(creates).await {
        r?;
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let allocated = || async {
        let list = nodes.list(&ListParams::default()).await?;
        Res::Ok(
            list.items
                .iter()
                .filter_map(|n| n.spec.as_ref()?.pod_cidr.clone())
                .collect::<Vec<String>>(),
        )
    };
    eventually!("all 64 nodes allocated", allocated().await?.len() == 64);
    let blocks: BTreeSet<String> = allocated().await?.into_iter().collect();
    assert_eq!(blocks.len(), 64, "a block was handed out twice: {blocks:?}");
    assert!(
        blocks
            .iter()
            .all(|b| b.starts_with("10.244.") && b.ends_with("/24"))
    );
    Ok(())
}
