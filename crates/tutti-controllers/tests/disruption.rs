//! The disruption controller against the real API server (in-memory store, in process). No
//! scheduler, agent or workload controller runs: tests create pods (and the controllers that
//! own them) themselves and mark pods Running/Ready as an agent would.

use std::error::Error;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

type Res<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);

async fn start() -> Res<Client> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::disruption::spawn(client.clone());
    Ok(client)
}

/// A pod with `app=<app>`, optionally controlled by `owner` (kind, name, uid).
async fn pod(client: &Client, name: &str, app: &str, owner: Option<(&str, &str, &str)>) -> Res {
    let owners: Vec<Value> = owner
        .into_iter()
        .map(|(kind, name, uid)| json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}))
        .collect();
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}, "ownerReferences": owners},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }))?;
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await?;
    Ok(())
}

/// What an agent reports for a started pod, ready or not.
async fn set_ready(client: &Client, name: &str, ready: bool) -> Res {
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready",
        "status": if ready { "True" } else { "False" }, "lastTransitionTime": Time(Timestamp::now())}]}});
    Api::<Pod>::namespaced(client.clone(), "default")
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn budget(client: &Client, name: &str, bound: Value) -> Res {
    let mut spec = json!({"selector": {"matchLabels": {"app": name}}});
    if let (Some(spec), Some(bound)) = (spec.as_object_mut(), bound.as_object()) {
        spec.extend(bound.clone());
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec}))?;
    Api::<PodDisruptionBudget>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pdb)
        .await?;
    Ok(())
}

/// (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed)
type Counts = (i32, i32, i32, i32);

fn counts(s: &PodDisruptionBudgetStatus) -> Counts {
    (
        s.expected_pods,
        s.desired_healthy,
        s.current_healthy,
        s.disruptions_allowed,
    )
}

/// Wait until the budget's status shows `want`; returns that status.
async fn wait_for(client: &Client, name: &str, want: Counts) -> Res<PodDisruptionBudgetStatus> {
    let api = Api::<PodDisruptionBudget>::namespaced(client.clone(), "default");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = api.get(name).await?.status.unwrap_or_default();
        if counts(&status) == want && status.observed_generation.is_some() {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("budget {name}: wanted {want:?}, status is {status:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn condition(status: &PodDisruptionBudgetStatus) -> (String, String) {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionAllowed")
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn min_available_counts_ready_pods_and_follows_them() -> Res {
    let client = start().await?;
    budget(&client, "web", json!({"minAvailable": 2})).await?;
    for i in 0..3 {
        pod(&client, &format!("web-{i}"), "web", None).await?;
    }
    pod(&client, "other", "other", None).await?;
    set_ready(&client, "other", true).await?;
    // Created pods are Pending: nothing is healthy yet.
    let status = wait_for(&client, "web", (3, 2, 0, 0)).await?;
    assert_eq!(
        condition(&status),
        ("False".into(), "InsufficientPods".into())
    );
    assert_eq!(status.observed_generation, Some(1));
    for i in 0..3 {
        set_ready(&client, &format!("web-{i}"), true).await?;
    }
    let status = wait_for(&client, "web", (3, 2, 3, 1)).await?;
    assert_eq!(condition(&status), ("True".into(), "SufficientPods".into()));

    // One pod stops being ready: no disruption is allowed, and evictions are refused.
    set_ready(&client, "web-1", false).await?;
    wait_for(&client, "web", (3, 2, 2, 0)).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    match pods.evict("web-0", &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429),
        other => return Err(format!("eviction should be refused, got {other:?}").into()),
    }
    // A spec change is seen: observedGeneration follows the generation.
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), "default");
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await?;
    let status = wait_for(&client, "web", (3, 1, 2, 1)).await?;
    assert_eq!(status.observed_generation, Some(2));

    // The allowed eviction goes through; the budget is spent until the pod is counted again.
    pods.evict("web-0", &EvictParams::default()).await?;
    wait_for(&client, "web", (2, 1, 1, 0)).await?;
    Ok(())
}

#[tokio::test]
async fn max_unavailable_uses_the_controllers_scale() -> Res {
    let client = start().await?;
    // A Deployment of 4 whose ReplicaSet has 2 pods so far (no workload controller runs).
    let deploy: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}))?;
    let deploy = Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deploy)
        .await?;
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-abc", "namespace": "default", "ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "Deployment", "name": "web", "uid": deploy.uid(), "controller": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}))?;
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &rs)
        .await?;
    let rs_uid = rs.uid().unwrap_or_default();
    for i in 0..2 {
        let name = format!("web-abc-{i}");
        pod(
            &client,
            &name,
            "web",
            Some(("ReplicaSet", "web-abc", &rs_uid)),
        )
        .await?;
        set_ready(&client, &name, true).await?;
    }
    // 25% of 4 may be unavailable: 3 must be healthy, 2 are.
    budget(&client, "web", json!({"maxUnavailable": "25%"})).await?;
    wait_for(&client, "web", (4, 3, 2, 0)).await?;
    // A bare pod counts as one more expected and healthy pod.
    pod(&client, "web-bare", "web", None).await?;
    set_ready(&client, "web-bare", true).await?;
    wait_for(&client, "web", (5, 3, 3, 0)).await?;
    // A percentage minAvailable rounds up: 50% of 5 is 3.
    Api::<PodDisruptionBudget>::namespaced(client.clone(), "default")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"maxUnavailable": null, "minAvailable": "50%"}})),
        )
        .await?;
    wait_for(&client, "web", (5, 3, 3, 0)).await?;
    pod(&client, "web-bare-2", "web", None).await?;
    set_ready(&client, "web-bare-2", true).await?;
    wait_for(&client, "web", (6, 3, 4, 1)).await?;
    Ok(())
}

#[tokio::test]
async fn disrupted_pods_are_held_back_then_pruned() -> Res {
    let client = start().await?;
    budget(&client, "web", json!({"minAvailable": 1})).await?;
    for i in 0..3 {
        let name = format!("web-{i}");
        pod(&client, &name, "web", None).await?;
        set_ready(&client, &name, true).await?;
    }
    wait_for(&client, "web", (3, 1, 3, 2)).await?;
    // As if an eviction had just been granted for web-0, one long ago for web-1, and one for a
    // pod that is gone.
    let long_ago = Timestamp::now().checked_sub(SignedDuration::from_secs(600))?;
    let status = json!({"status": {"disruptedPods": {
        "web-0": Time(Timestamp::now()), "web-1": Time(long_ago), "gone": Time(Timestamp::now())}}});
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), "default");
    pdbs.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let status = wait_for(&client, "web", (3, 1, 2, 1)).await?;
    let disrupted: Vec<String> = status
        .disrupted_pods
        .unwrap_or_default()
        .into_keys()
        .collect();
    assert_eq!(
        disrupted,
        ["web-0"],
        "only the recent entry for an existing pod stays"
    );
    // Once web-0 is deleted its entry goes too.
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete("web-0", &Default::default())
        .await?;
    let status = wait_for(&client, "web", (2, 1, 2, 1)).await?;
    assert!(status.disrupted_pods.unwrap_or_default().is_empty());
    Ok(())
}
