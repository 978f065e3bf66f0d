//! The eviction subresource as `kubectl drain` uses it: `POST pods/<name>/eviction` deletes a
//! pod no budget protects, refuses with 429 while its PodDisruptionBudget allows no
//! disruption, and takes one disruption from the budget when it allows some. No disruption
//! controller runs here: the tests write the budgets' status themselves.

mod common;

use common::TestServer;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{Eviction, PodDisruptionBudget};
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

type Res<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An admin client that reports a 429 at once: kube-rs retries 429s for minutes by default,
/// while kubectl (client-go) only retries those that carry a `Retry-After` header.
async fn client(srv: &TestServer) -> Res<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(&srv.kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

/// `POST` a raw body: (HTTP status, body as JSON).
async fn post(client: &kube::Client, path: &str, body: &str) -> Res<(u16, Value)> {
    let req = http::Request::post(path)
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())?;
    match client.request_text(req).await {
        Ok(text) => Ok((200, serde_json::from_str(&text)?)),
        Err(kube::Error::Api(s)) => Ok((s.code, serde_json::to_value(&*s)?)),
        Err(e) => Err(e.into()),
    }
}

/// A Running, Ready pod with `app=<app>` (as its node agent would report it).
async fn running_pod(pods: &Api<Pod>, name: &str, app: &str) -> Res {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// A budget over `app=<app>` with the status a disruption controller would have written.
async fn budget(
    pdbs: &Api<PodDisruptionBudget>,
    app: &str,
    allowed: i32,
) -> Res<PodDisruptionBudget> {
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": app},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": app}}},
    }))?;
    pdbs.create(&PostParams::default(), &pdb).await?;
    let status = json!({"status": {"disruptionsAllowed": allowed, "currentHealthy": 2 + allowed,
        "desiredHealthy": 2, "expectedPods": 2 + allowed, "observedGeneration": 1}});
    Ok(pdbs
        .patch_status(app, &PatchParams::default(), &Patch::Merge(&status))
        .await?)
}

fn kube_status(err: kube::Error) -> Res<Value> {
    match err {
        kube::Error::Api(s) => Ok(serde_json::to_value(&*s)?),
        other => Err(other.into()),
    }
}

#[tokio::test]
async fn eviction_without_a_budget_deletes_the_pod() -> Res {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(client(&srv).await?);
    running_pod(&pods, "lonely", "lonely").await?;
    pods.evict("lonely", &EvictParams::default()).await?;
    assert!(
        pods.get_opt("lonely").await?.is_none(),
        "an unbound pod is deleted at once"
    );
    Ok(())
}

#[tokio::test]
async fn a_budget_with_no_disruptions_left_refuses_with_429() -> Res {
    let srv = TestServer::start().await;
    let client = client(&srv).await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client.clone());
    running_pod(&pods, "web-0", "web").await?;
    running_pod(&pods, "web-1", "web").await?;
    budget(&pdbs, "web", 0).await?;

    let err = pods
        .evict("web-0", &EvictParams::default())
        .await
        .err()
        .ok_or("the eviction should have been refused")?;
    let status = kube_status(err)?;
    assert_eq!(status["code"], 429);
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(
        status["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    // The raw Status carries the cause kubectl prints.
    let (code, raw) = post(
        &client,
        "/api/v1/namespaces/default/pods/web-0/eviction",
        r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-0","namespace":"default"}}"#,
    )
    .await?;
    assert_eq!(code, 429);
    assert_eq!(
        raw["details"]["causes"][0],
        json!({"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"})
    );
    assert!(
        pods.get_opt("web-0").await?.is_some(),
        "the pod is still there"
    );

    // A pod that is not running may always go.
    let pending = json!({"status": {"phase": "Pending", "conditions": []}});
    pods.patch_status("web-1", &PatchParams::default(), &Patch::Merge(&pending))
        .await?;
    pods.evict("web-1", &EvictParams::default()).await?;
    assert!(pods.get_opt("web-1").await?.is_none());

    // An unready pod costs a met budget nothing (unhealthyPodEvictionPolicy IfHealthyBudget).
    running_pod(&pods, "web-2", "web").await?;
    let unready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    pods.patch_status("web-2", &PatchParams::default(), &Patch::Merge(&unready))
        .await?;
    pods.evict("web-2", &EvictParams::default()).await?;
    assert!(pods.get_opt("web-2").await?.is_none());
    let status = pdbs.get("web").await?.status.ok_or("no status")?;
    assert_eq!(status.disruptions_allowed, 0);
    assert!(
        status.disrupted_pods.is_none(),
        "the budget was not charged"
    );
    Ok(())
}

#[tokio::test]
async fn an_allowed_eviction_deletes_and_takes_one_disruption() -> Res {
    let srv = TestServer::start().await;
    let client = client(&srv).await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client);
    for i in 0..3 {
        running_pod(&pods, &format!("web-{i}"), "web").await?;
    }
    running_pod(&pods, "other", "other").await?;
    budget(&pdbs, "web", 1).await?;

    // Pods the budget does not select are not its business.
    pods.evict("other", &EvictParams::default()).await?;
    assert_eq!(
        pdbs.get("web").await?.status.map(|s| s.disruptions_allowed),
        Some(1)
    );

    pods.evict("web-0", &EvictParams::default()).await?;
    assert!(pods.get_opt("web-0").await?.is_none());
    let status = pdbs.get("web").await?.status.ok_or("no status")?;
    assert_eq!(status.disruptions_allowed, 0);
    assert!(
        status
            .disrupted_pods
            .unwrap_or_default()
            .contains_key("web-0"),
        "the eviction is recorded for the disruption controller"
    );
    let cond = status.conditions.unwrap_or_default();
    assert_eq!(
        cond.first().map(|c| c.reason.as_str()),
        Some("InsufficientPods")
    );

    // The budget is spent: the next eviction is refused.
    let err = pods
        .evict("web-1", &EvictParams::default())
        .await
        .err()
        .ok_or("refused")?;
    assert_eq!(kube_status(err)?["code"], 429);
    Ok(())
}

#[tokio::test]
async fn budgets_being_processed_dry_runs_and_conflicting_budgets() -> Res {
    let srv = TestServer::start().await;
    let client = client(&srv).await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client.clone());
    running_pod(&pods, "web-0", "web").await?;
    budget(&pdbs, "web", 1).await?;

    // A dry run changes nothing.
    let dry = EvictParams {
        delete_options: None,
        post_options: PostParams {
            dry_run: true,
            ..Default::default()
        },
    };
    pods.evict("web-0", &dry).await?;
    assert!(pods.get_opt("web-0").await?.is_some());
    assert_eq!(
        pdbs.get("web").await?.status.map(|s| s.disruptions_allowed),
        Some(1)
    );

    // A spec change the controller has not seen yet: retry later.
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await?;
    let status = kube_status(
        pods.evict("web-0", &EvictParams::default())
            .await
            .err()
            .ok_or("refused")?,
    )?;
    assert_eq!(status["code"], 429);
    assert_eq!(status["details"]["retryAfterSeconds"], 10);

    // Two budgets over one pod: Kubernetes does not support that.
    let second: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "all"}, "spec": {"maxUnavailable": 1, "selector": {}}}))?;
    pdbs.create(&PostParams::default(), &second).await?;
    let status = kube_status(
        pods.evict("web-0", &EvictParams::default())
            .await
            .err()
            .ok_or("refused")?,
    )?;
    assert_eq!(status["code"], 500);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("more than one PodDisruptionBudget")
    );

    // The Eviction must name the pod of the URL.
    let body = Eviction {
        metadata: kube::api::ObjectMeta {
            name: Some("someone-else".into()),
            ..Default::default()
        },
        delete_options: None,
    };
    let (code, _) = post(
        &client,
        "/api/v1/namespaces/default/pods/web-0/eviction",
        &serde_json::to_string(&body)?,
    )
    .await?;
    assert_eq!(code, 400);
    Ok(())
}

#[tokio::test]
async fn budgets_are_served_like_kubernetes() -> Res {
    let srv = TestServer::start().await;
    let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(client(&srv).await?);
    let created = budget(&pdbs, "web", 1).await?;
    assert_eq!(created.metadata.generation, Some(1));
    let bad: PodDisruptionBudget = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "bad"}, "spec": {"minAvailable": 1, "maxUnavailable": 1}}))?;
    let status = kube_status(
        pdbs.create(&PostParams::default(), &bad)
            .await
            .err()
            .ok_or("invalid")?,
    )?;
    assert_eq!(status["code"], 422);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("minAvailable and maxUnavailable cannot be both set")
    );
    // Discovery tells kubectl drain that evictions are policy/v1.
    let (_, v1) = srv.raw("GET", "/api/v1", "application/json", "").await;
    let eviction = v1["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "pods/eviction").cloned())
        .ok_or("pods/eviction is not discovered")?;
    assert_eq!(
        (
            eviction["group"].as_str(),
            eviction["version"].as_str(),
            eviction["kind"].as_str()
        ),
        (Some("policy"), Some("v1"), Some("Eviction"))
    );
    let (_, policy) = srv
        .raw("GET", "/apis/policy/v1", "application/json", "")
        .await;
    assert!(policy["resources"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r["name"] == "poddisruptionbudgets" && r["shortNames"] == json!(["pdb"]))
    }));
    Ok(())
}
