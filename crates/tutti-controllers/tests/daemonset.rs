//! The DaemonSet controller against the real API. No scheduler or agent runs: the tests
//! bind pods to the node their affinity names and mark them ready, as those would.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tutti_controllers::daemonset::placement::target_node;
use tutti_controllers::daemonset::pod::REVISION_HASH;

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

struct Fixture {
    client: kube::Client,
    nodes: Api<Node>,
    pods: Api<Pod>,
    daemonsets: Api<DaemonSet>,
    _api: std::sync::Arc<tutti_apiserver::ApiServer>,
}

async fn start() -> Result<Fixture> {
    let (api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::daemonset::spawn(client.clone());
    Ok(Fixture {
        nodes: Api::all(client.clone()),
        pods: Api::default_namespaced(client.clone()),
        daemonsets: Api::default_namespaced(client.clone()),
        client,
        _api: api,
    })
}

impl Fixture {
    async fn node(&self, name: &str, role: &str) -> Result {
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"role": role}}}))?;
        self.nodes.create(&PostParams::default(), &node).await?;
        Ok(())
    }

    async fn label(&self, node: &str, role: &str) -> Result {
        let patch = json!({"metadata": {"labels": {"role": role}}});
        self.nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// (node, revision hash) of each live daemon pod, sorted.
    async fn placement(&self) -> Result<Vec<(String, String)>> {
        let pods = self
            .pods
            .list(&ListParams::default().labels("app=agent"))
            .await?
            .items;
        let mut out: Vec<(String, String)> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                let hash = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(REVISION_HASH))
                    .cloned();
                (target_node(p).unwrap_or_default(), hash.unwrap_or_default())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    async fn wait_nodes(&self, want: &[&str]) -> Result<Vec<(String, String)>> {
        eventually(&format!("pods on {want:?}"), || async {
            let p = self.placement().await?;
            let nodes: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
            Ok((nodes == want).then_some(p))
        })
        .await
    }

    /// Play the agent: pods being deleted on a node are stopped and go away.
    async fn finish_deletions(&self) -> Result {
        for pod in self
            .pods
            .list(&ListParams::default().labels("app=agent"))
            .await?
            .items
        {
            if pod.metadata.deletion_timestamp.is_some() {
                let name = pod.metadata.name.clone().unwrap_or_default();
                let _ = self
                    .pods
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
            }
        }
        Ok(())
    }

    /// Play the scheduler and the agent: bind every pod to its node, mark it running and
    /// ready; finish deletions.
    async fn run_all(&self) -> Result {
        self.finish_deletions().await?;
        for pod in self
            .pods
            .list(&ListParams::default().labels("app=agent"))
            .await?
            .items
        {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = pod.metadata.name.clone().unwrap_or_default();
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            if !bound && let Some(node) = target_node(&pod) {
                let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                     "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
                self.pods
                    .create_subresource::<Value, Value>(
                        "binding",
                        &name,
                        &PostParams::default(),
                        &binding,
                    )
                    .await?;
            }
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if !ready {
                let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
                self.pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
            }
        }
        Ok(())
    }

    async fn status(&self) -> Result<k8s_openapi::api::apps::v1::DaemonSetStatus> {
        Ok(self
            .daemonsets
            .get("agent")
            .await?
            .status
            .unwrap_or_default())
    }
}

fn daemonset(image: &str) -> Result<DaemonSet> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"role": "worker"},
                    "containers": [{"name": "agent", "image": image}],
                },
            },
        },
    }))?)
}

#[tokio::test]
async fn one_pod_per_eligible_node_following_node_changes() -> Result {
    let f = start().await?;
    f.node("n1", "worker").await?;
    f.node("n2", "worker").await?;
    f.node("n3", "edge").await?;
    f.daemonsets
        .create(&PostParams::default(), &daemonset("agent:1")?)
        .await?;
    f.wait_nodes(&["n1", "n2"]).await?;
    f.run_all().await?;
    let status = eventually("status", || async {
        let s = f.status().await?;
        Ok((s.number_ready == 2).then_some(s))
    })
    .await?;
    assert_eq!(status.desired_number_scheduled, 2);
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.number_available, Some(2));
    assert_eq!(status.updated_number_scheduled, Some(2));
    assert_eq!(status.number_misscheduled, 0);
    assert_eq!(status.observed_generation, Some(1));

    // A node joins the pool, another leaves it.
    f.label("n3", "worker").await?;
    f.wait_nodes(&["n1", "n2", "n3"]).await?;
    f.label("n1", "edge").await?;
    f.wait_nodes(&["n2", "n3"]).await?;
    f.nodes.delete("n2", &Default::default()).await?;
    f.wait_nodes(&["n3"]).await?;

    let events: Api<Event> = Api::default_namespaced(f.client.clone());
    let reasons: Vec<(String, String)> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("agent"))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect();
    let created = reasons
        .iter()
        .filter(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: agent-"))
        .count();
    let deleted = reasons
        .iter()
        .filter(|(r, m)| r == "SuccessfulDelete" && m.starts_with("Deleted pod: agent-"))
        .count();
    assert_eq!((created, deleted), (3, 2));
    Ok(())
}

#[tokio::test]
async fn rolling_update_replaces_one_node_at_a_time() -> Result {
    let f = start().await?;
    for n in ["n1", "n2", "n3"] {
        f.node(n, "worker").await?;
    }
    f.daemonsets
        .create(&PostParams::default(), &daemonset("agent:1")?)
        .await?;
    let before = f.wait_nodes(&["n1", "n2", "n3"]).await?;
    let old = before[0].1.clone();
    f.run_all().await?;
    eventually("all available", || async {
        Ok((f.status().await?.number_available == Some(3)).then_some(()))
    })
    .await?;

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}});
    f.daemonsets
        .patch("agent", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let status = eventually("first node updated", || async {
        f.finish_deletions().await?;
        let s = f.status().await?;
        Ok(
            (s.observed_generation == Some(2) && s.updated_number_scheduled == Some(1))
                .then_some(s),
        )
    })
    .await?;
    assert_eq!(status.number_available, Some(2), "one node down at a time");
    let placement = f.placement().await?;
    assert_eq!(
        placement.iter().filter(|(_, h)| *h == old).count(),
        2,
        "the others wait: {placement:?}"
    );

    // As each new pod becomes ready, the next node is rolled.
    let done = eventually("rollout finished", || async {
        f.run_all().await?;
        let s = f.status().await?;
        Ok((s.updated_number_scheduled == Some(3) && s.number_available == Some(3)).then_some(()))
    })
    .await;
    done?;
    let placement = f.placement().await?;
    assert_eq!(placement.len(), 3);
    assert!(placement.iter().all(|(_, h)| *h != old));
    Ok(())
}
