//! The ReplicaSet controller against the real API server (in-memory store, in process).
//! No scheduler or agent runs: pods stay unassigned, and tests mark them Running/Ready.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

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

async fn start() -> Res<(std::sync::Arc<tutti_apiserver::ApiServer>, Client)> {
    let (api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::replicaset::spawn(client.clone());
    Ok((api, client))
}

fn replica_set(name: &str, replicas: i32, min_ready: i32) -> Res<ReplicaSet> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))?)
}

/// Pods with `app=<app>` that are not terminating, by name.
async fn pods(client: &Client, app: &str) -> Res<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut list: Vec<Pod> = api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    list.sort_by_key(|p| p.name_any());
    Ok(list)
}

/// What an agent would report for a started, ready pod.
async fn mark_ready(client: &Client, pod: &str) -> Res {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": Time(Timestamp::now())}]}});
    api.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn rs_status(
    client: &Client,
    name: &str,
) -> Res<k8s_openapi::api::apps::v1::ReplicaSetStatus> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    Ok(api.get(name).await?.status.unwrap_or_default())
}

async fn event_messages(client: &Client, object: &str) -> Res<Vec<(String, String)>> {
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(object))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}

async fn scale(client: &Client, name: &str, replicas: i32) -> Res {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn creates_owned_pods_and_replaces_a_deleted_one() -> Res {
    let (_api, client) = start().await?;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replica_set("web", 3, 0)?)
        .await?;
    eventually!("3 pods", pods(&client, "web").await?.len() == 3);
    for pod in pods(&client, "web").await? {
        assert!(pod.name_any().starts_with("web-"), "{}", pod.name_any());
        assert_eq!(pod.labels().get("tier").map(String::as_str), Some("web"));
        let owner = &pod.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ReplicaSet", "web")
        );
        assert_eq!(owner.uid, rs.uid().unwrap_or_default());
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
    }
    eventually!(
        "status.replicas 3",
        rs_status(&client, "web").await?.replicas == 3
    );
    let events = event_messages(&client, "web").await?;
    assert!(
        events
            .iter()
            .any(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: web-")),
        "{events:?}"
    );

    let victim = pods(&client, "web").await?[0].name_any();
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    pod_api.delete(&victim, &DeleteParams::default()).await?;
    eventually!("a replacement pod", {
        let now = pods(&client, "web").await?;
        now.len() == 3 && now.iter().all(|p| p.name_any() != victim)
    });
    Ok(())
}

#[tokio::test]
async fn scales_up_and_down_keeping_ready_pods() -> Res {
    let (_api, client) = start().await?;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("api", 2, 1)?)
        .await?;
    eventually!("2 pods", pods(&client, "api").await?.len() == 2);
    scale(&client, "api", 5).await?;
    eventually!("5 pods", pods(&client, "api").await?.len() == 5);

    let keep: Vec<String> = pods(&client, "api").await?[..2]
        .iter()
        .map(|p| p.name_any())
        .collect();
    for name in &keep {
        mark_ready(&client, name).await?;
    }
    eventually!(
        "2 ready",
        rs_status(&client, "api").await?.ready_replicas == Some(2)
    );
    // minReadySeconds: 1 — available only a second after ready.
    eventually!(
        "2 available",
        rs_status(&client, "api").await?.available_replicas == Some(2)
    );

    scale(&client, "api", 2).await?;
    eventually!("2 pods left", pods(&client, "api").await?.len() == 2);
    let left: Vec<String> = pods(&client, "api")
        .await?
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(left, keep, "not-ready pods go first");
    eventually!("status follows", {
        let s = rs_status(&client, "api").await?;
        s.replicas == 2 && s.observed_generation == rss.get("api").await?.metadata.generation
    });
    let deletes = event_messages(&client, "api")
        .await?
        .into_iter()
        .filter(|(r, _)| r == "SuccessfulDelete")
        .count();
    assert_eq!(deletes, 3);
    Ok(())
}

#[tokio::test]
async fn adopts_orphans_releases_relabelled_pods_and_replaces_failed_ones() -> Res {
    let (_api, client) = start().await?;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}
    }))?;
    pod_api.create(&PostParams::default(), &orphan).await?;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("db", 2, 0)?)
        .await?;
    eventually!("the orphan adopted and one pod added", {
        let now = pods(&client, "db").await?;
        now.len() == 2
            && now.iter().all(|p| !p.owner_references().is_empty())
            && now.iter().any(|p| p.name_any() == "orphan")
    });

    // Relabelled out of the selector: released (no owner) and replaced.
    pod_api
        .patch(
            "orphan",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "debug"}}})),
        )
        .await?;
    eventually!(
        "released",
        pod_api.get("orphan").await?.owner_references().is_empty()
    );
    eventually!("replaced", pods(&client, "db").await?.len() == 2);

    // A failed pod does not count; it is deleted and replaced.
    let failed = pods(&client, "db").await?[0].name_any();
    pod_api
        .patch_status(
            &failed,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Failed"}})),
        )
        .await?;
    eventually!("the failed pod gone and replaced", {
        let now = pods(&client, "db").await?;
        now.len() == 2 && now.iter().all(|p| p.name_any() != failed)
    });
    let labels: BTreeMap<String, String> = pod_api.get("orphan").await?.labels().clone();
    assert_eq!(labels.get("app").map(String::as_str), Some("debug"));
    Ok(())
}

#[tokio::test]
async fn a_namespace_being_deleted_is_no_create_failure() -> Res {
    let (_api, client) = start().await?;
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "closing"}}))?,
    )
    .await?;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "closing");
    let mut rs = replica_set("web", 2, 0)?;
    rs.metadata.namespace = Some("closing".into());
    rss.create(&PostParams::default(), &rs).await?;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "closing");
    let live = || async {
        Ok::<_, kube::Error>(
            pod_api
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| p.name_any())
                .collect::<Vec<_>>(),
        )
    };
    eventually!("2 pods", live().await?.len() == 2);
    eventually!(
        "status.replicas 2",
        rss.get("web").await?.status.unwrap_or_default().replicas == 2
    );

    // No namespace controller runs here: the namespace stays Terminating.
    nss.delete("closing", &DeleteParams::default()).await?;
    let refused = pod_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
            "metadata": {"name": "late"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))?,
        )
        .await
        .expect_err("a create in a terminating namespace is refused");
    assert!(
        tutti_controllers::pod_creation::namespace_terminating(&refused),
        "{refused:?}"
    );

    // A pod goes; the ReplicaSet sees one missing, cannot replace it, and says nothing failed.
    pod_api
        .delete(&live().await?[0], &DeleteParams::default())
        .await?;
    eventually!(
        "status.replicas 1",
        rss.get("web").await?.status.unwrap_or_default().replicas == 1
    );
    let status = rss.get("web").await?.status.unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    assert!(
        conditions.iter().all(|c| c.type_ != "ReplicaFailure"),
        "{conditions:?}"
    );
    assert_eq!(live().await?.len(), 1);
    Ok(())
}

/// Every pod with `app=<app>` the API reports from now on, by uid: a watch in the background.
fn pods_ever_seen(
    client: &Client,
    app: &str,
) -> std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>> {
    use futures::StreamExt;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let config = kube::runtime::watcher::Config::default().labels(&format!("app={app}"));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut events = kube::runtime::watcher(api, config).boxed();
        while let Some(Ok(event)) = events.next().await {
            if let kube::runtime::watcher::Event::Apply(p)
            | kube::runtime::watcher::Event::InitApply(p) = event
                && let Ok(mut seen) = record.lock()
            {
                seen.insert(p.uid().unwrap_or_default());
            }
        }
    });
    seen
}

/// The controller with a pod feed that passes every pod change on `lag` late, as a busy
/// manager's watch would.
async fn start_lagging(lag: Duration) -> Res<(std::sync::Arc<tutti_apiserver::ApiServer>, Client)> {
    use futures::StreamExt;
    let (api, client) = tutti_apiserver::client::test_server().await?;
    let feed = tutti_controllers::pod_feed::PodFeed::default();
    tutti_controllers::replicaset::spawn_with(client.clone(), &feed);
    // Changes are stamped as they arrive (in a task of their own), then each is passed on
    // once its time has come.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watch =
        kube::runtime::watcher(Api::<Pod>::all(client.clone()), Default::default()).boxed();
    tokio::spawn(async move {
        while let Some(change) = watch.next().await {
            if tx
                .send((tokio::time::Instant::now() + lag, change))
                .is_err()
            {
                break;
            }
        }
    });
    let changes = futures::stream::unfold(rx, |mut rx| async move {
        let (due, change) = rx.recv().await?;
        tokio::time::sleep_until(due).await;
        Some((change, rx))
    });
    feed.follow(changes);
    Ok((api, client))
}

#[tokio::test]
async fn a_large_replica_set_creates_and_deletes_each_pod_once() -> Res {
    // 1,500 replicas take three syncs of at most 500 creates, each acting on the pod cache
    // while the previous creates are still arriving there (late by 300 ms): a sync that did
    // not wait for them would create too many (and delete the surplus later).
    let (_api, client) = start_lagging(Duration::from_millis(300)).await?;
    let seen = pods_ever_seen(&client, "big");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("big", 1500, 0)?)
        .await?;
    eventually!(
        "status.replicas 1500",
        rs_status(&client, "big").await?.replicas == 1500
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let created = seen.lock().map(|s| s.len()).unwrap_or_default();
    assert_eq!(created, 1500, "pods created for 1,500 replicas");
    assert_eq!(pods(&client, "big").await?.len(), 1500);

    // Down to 100: 1,400 deletions over three syncs, none replaced by a new pod.
    scale(&client, "big", 100).await?;
    eventually!(
        "status.replicas 100",
        rs_status(&client, "big").await?.replicas == 100
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pods(&client, "big").await?.len(), 100);
    let created = seen.lock().map(|s| s.len()).unwrap_or_default();
    assert_eq!(created, 1500, "no pod recreated while scaling down");

    // 2,900 creates and deletes, but Events about one object come in a burst of 25 (then
    // one per 5 minutes), as in Kubernetes: the rest would swamp `kubectl describe`.
    let events = event_messages(&client, "big").await?;
    let creates = events
        .iter()
        .filter(|(r, _)| r == "SuccessfulCreate")
        .count();
    assert!(
        creates > 0 && events.len() <= 26,
        "{} events: {events:?}",
        events.len()
    );
    Ok(())
}
