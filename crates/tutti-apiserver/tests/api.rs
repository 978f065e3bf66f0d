//! The API as kube-rs (and so kubectl) sees it: typed CRUD, conflicts, selectors, paging,
//! patches, validation errors, authentication, and watches that survive compaction.

mod common;

use std::time::Duration;

use common::TestServer;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn pod(name: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
    }))
    .unwrap()
}

fn deployment(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "3600"]}
                ]}
            }
        }
    })
}

#[tokio::test]
async fn typed_pod_lifecycle() {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(srv.client().await);
    let created = pods
        .create(&PostParams::default(), &pod("web", json!({"app": "web"})))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    // Defaults are visible, as on a real cluster.
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );

    let got = pods.get("web").await.unwrap();
    assert_eq!(got.metadata.uid, meta.uid);
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    let patched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(patched.metadata.labels.as_ref().unwrap()["app"], "web");
    assert_ne!(patched.metadata.resource_version, meta.resource_version);

    pods.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("web").await.unwrap().is_none());
    let err = pods.get("web").await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404 && s.reason == "NotFound"));
}

#[tokio::test]
async fn stale_updates_conflict_and_duplicates_are_refused() {
    let srv = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(srv.client().await);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "1"}})).unwrap();
    let first = cms.create(&PostParams::default(), &cm).await.unwrap();
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"));

    let mut a = first.clone();
    a.data = Some([("k".to_string(), "2".to_string())].into());
    cms.replace("c", &PostParams::default(), &a).await.unwrap();
    // `first` still carries the old resourceVersion: the write must be refused.
    let mut b = first.clone();
    b.data = Some([("k".to_string(), "3".to_string())].into());
    let err = cms
        .replace("c", &PostParams::default(), &b)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"));
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn generate_name_selectors_and_paging() {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(srv.client().await);
    for i in 0..7 {
        let mut p = pod(
            "",
            json!({"app": "web", "n": i.to_string(), "tier": if i % 2 == 0 { "even" } else { "odd" }}),
        );
        p.metadata.name = None;
        p.metadata.generate_name = Some("web-".into());
        let created = pods.create(&PostParams::default(), &p).await.unwrap();
        let name = created.metadata.name.unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    }
    let even = pods
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    let set = pods
        .list(&ListParams::default().labels("n in (1,2,3),tier!=odd"))
        .await
        .unwrap();
    assert_eq!(set.items.len(), 1);
    let none = pods
        .list(&ListParams::default().labels("!app"))
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let by_phase = pods
        .list(&ListParams::default().fields("status.phase=Pending"))
        .await
        .unwrap();
    assert_eq!(by_phase.items.len(), 7);

    // Pages of 3 at one revision, even while writes go on.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = pods.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        if pages == 1 {
            pods.create(&PostParams::default(), &pod("zzz-late", json!({})))
                .await
                .unwrap();
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 7, "a paged list is a snapshot: {names:?}");
}

#[tokio::test]
async fn strategic_merge_keeps_other_containers_and_scale_works() {
    let srv = TestServer::start().await;
    let client = srv.client().await;
    let deps: Api<Deployment> = Api::default_namespaced(client);
    let d: Deployment = serde_json::from_value(deployment("web")).unwrap();
    let created = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}});
    let patched = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let containers = &patched
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers;
    assert_eq!(containers.len(), 2, "strategic merge keeps the sidecar");
    assert_eq!(containers[0].image.as_deref(), Some("nginx:1.28"));
    assert_eq!(containers[0].ports.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        patched.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );

    // Label-only changes do not.
    let labelled = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));

    let scale = deps.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    assert_eq!(
        deps.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );

    // JSON patch too.
    let jp = json!([{"op": "replace", "path": "/spec/replicas", "value": 2}]);
    let out = srv
        .raw(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web",
            "application/json-patch+json",
            &jp.to_string(),
        )
        .await;
    assert_eq!(out.0, 200, "{}", out.1);
    assert_eq!(out.1["spec"]["replicas"], 2);
}

#[tokio::test]
async fn server_side_apply_creates_then_updates() {
    let srv = TestServer::start().await;
    let deps: Api<Deployment> = Api::default_namespaced(srv.client().await);
    let pp = PatchParams::apply("tester").force();
    let first = deps
        .patch("web", &pp, &Patch::Apply(deployment("web")))
        .await
        .unwrap();
    assert_eq!(first.spec.as_ref().unwrap().replicas, Some(3));
    let mut changed = deployment("web");
    changed["spec"]["replicas"] = json!(4);
    let second = deps
        .patch("web", &pp, &Patch::Apply(changed))
        .await
        .unwrap();
    assert_eq!(second.spec.unwrap().replicas, Some(4));
    assert_eq!(second.metadata.uid, first.metadata.uid);
    let managers: Vec<String> = second
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"tester".to_string()));
    // Applying the same thing again writes nothing.
    let mut same = deployment("web");
    same["spec"]["replicas"] = json!(4);
    let third = deps.patch("web", &pp, &Patch::Apply(same)).await.unwrap();
    assert_eq!(
        third.metadata.resource_version,
        second.metadata.resource_version
    );
}

#[tokio::test]
async fn server_side_apply_removes_dropped_fields_and_refuses_conflicts() {
    let srv = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(srv.client().await);
    let cm = |data: Value, labels: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "ssa", "labels": labels}, "data": data})
    };
    let alice = PatchParams::apply("alice");
    cms.patch(
        "ssa",
        &alice,
        &Patch::Apply(cm(json!({"k": "one", "j": "x"}), json!({"a": "b"}))),
    )
    .await
    .unwrap();
    // Re-applied without `j` and the label: both go, as with kubectl against Kubernetes.
    let got = cms
        .patch(
            "ssa",
            &alice,
            &Patch::Apply(cm(json!({"k": "one"}), json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(got.data.unwrap().keys().collect::<Vec<_>>(), vec!["k"]);
    assert!(got.metadata.labels.unwrap_or_default().is_empty());
    // Another applier setting alice's field to another value conflicts, naming both.
    let bob = PatchParams::apply("bob");
    let err = cms
        .patch(
            "ssa",
            &bob,
            &Patch::Apply(cm(json!({"k": "two"}), json!({}))),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("conflict with \"alice\": .data.k"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a 409, got {other}"),
    }
    assert_eq!(cms.get("ssa").await.unwrap().data.unwrap()["k"], "one");
    // Forced, bob takes the field over; alice dropping it later no longer removes it.
    cms.patch(
        "ssa",
        &bob.clone().force(),
        &Patch::Apply(cm(json!({"k": "two"}), json!({}))),
    )
    .await
    .unwrap();
    let got = cms
        .patch(
            "ssa",
            &alice,
            &Patch::Apply(cm(json!({"other": "1"}), json!({}))),
        )
        .await
        .unwrap();
    let data = got.data.unwrap();
    assert_eq!(data["k"], "two");
    assert_eq!(data["other"], "1");
}

#[tokio::test]
async fn invalid_objects_are_refused_with_field_paths_and_not_stored() {
    let srv = TestServer::start().await;
    let cases = [
        (
            "missing image",
            {
                let mut d = deployment("a");
                d["spec"]["template"]["spec"]["containers"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("image");
                d
            },
            "spec.template.spec.containers[0].image",
        ),
        (
            "bad name",
            {
                let mut d = deployment("a");
                d["metadata"]["name"] = json!("Foo_Bar");
                d
            },
            "metadata.name",
        ),
        (
            "selector does not match",
            {
                let mut d = deployment("a");
                d["spec"]["selector"]["matchLabels"]["app"] = json!("other");
                d
            },
            "spec.template.metadata.labels",
        ),
        (
            "wrong type",
            {
                let mut d = deployment("a");
                d["spec"]["replicas"] = json!("three");
                d
            },
            "spec.replicas",
        ),
    ];
    for (what, body, field) in cases {
        let (code, status) = srv
            .raw(
                "POST",
                "/apis/apps/v1/namespaces/default/deployments",
                "application/json",
                &body.to_string(),
            )
            .await;
        assert_eq!(code, 422, "{what}: {status}");
        assert_eq!(status["reason"], "Invalid", "{what}");
        let causes = status["details"]["causes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            causes.iter().any(|c| c["field"] == field),
            "{what}: want a cause for {field}, got {status}"
        );
    }
    // Unknown fields: refused under Strict, accepted with a warning otherwise.
    let mut d = deployment("strict");
    d["spec"]["replicaz"] = json!(2);
    let (code, status) = srv
        .raw(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
            "application/json",
            &d.to_string(),
        )
        .await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("spec.replicaz"),
        "{status}"
    );
    let deps: Api<Deployment> = Api::default_namespaced(srv.client().await);
    assert!(
        deps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing may be stored"
    );
    let (code, _) = srv
        .raw(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            "application/json",
            &d.to_string(),
        )
        .await;
    assert_eq!(code, 200);
    // Undecodable bodies are 400s.
    let (code, _) = srv
        .raw(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{\"metadata\":",
        )
        .await;
    assert_eq!(code, 400);
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "1");
    let (code, _) = srv
        .raw(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            &deep,
        )
        .await;
    assert_eq!(code, 400);
    // Creating in a namespace that does not exist is a 404.
    let (code, _) = srv
        .raw(
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            r#"{"metadata":{"name":"x"}}"#,
        )
        .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn only_health_endpoints_are_open_without_credentials() {
    let srv = TestServer::start().await;
    // A kube client with no credentials at all.
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut config = kube::Config::new(srv.url.parse().unwrap());
    config.root_cert = Some(vec![
        CertificateDer::from_pem_slice(srv.ca_pem.as_bytes())
            .unwrap()
            .to_vec(),
    ]);
    let anon = kube::Client::try_from(config).unwrap();
    let health = anon
        .request_text(http::Request::get("/readyz").body(vec![]).unwrap())
        .await
        .unwrap();
    assert_eq!(health, "ok");
    let err = Api::<Pod>::default_namespaced(anon.clone())
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 401),
        "listing without credentials must be refused"
    );
    let err = anon
        .request_text(http::Request::get("/api/v1").body(vec![]).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 401));
}

type Events = futures::stream::BoxStream<'static, Result<watcher::Event<Pod>, watcher::Error>>;

/// The next event; a 410 Gone is passed over (and counted): kube's watcher reports it, then relists.
async fn next(stream: &mut Events, gone: &mut usize) -> watcher::Event<Pod> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("watch event")
            .unwrap()
        {
            Ok(ev) => return ev,
            Err(watcher::Error::WatchError(s)) if s.code == 410 => *gone += 1,
            Err(e) => panic!("watch failed: {e}"),
        }
    }
}

#[tokio::test]
async fn watcher_sees_changes_in_order_and_relists_after_compaction() {
    let srv = TestServer::start().await;
    let client = srv.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    // Short server-side timeouts make the watcher re-watch from its last resourceVersion often.
    let mut stream = watcher(pods.clone(), watcher::Config::default().timeout(1)).boxed();
    let mut gone = 0;
    assert!(matches!(
        next(&mut stream, &mut gone).await,
        watcher::Event::Init
    ));
    assert!(matches!(
        next(&mut stream, &mut gone).await,
        watcher::Event::InitDone
    ));

    pods.create(&PostParams::default(), &pod("w1", json!({"app": "w"})))
        .await
        .unwrap();
    match next(&mut stream, &mut gone).await {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.labels.unwrap()["app"], "w"),
        other => panic!("expected ADDED, got {other:?}"),
    }
    pods.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "w2"}}})),
    )
    .await
    .unwrap();
    match next(&mut stream, &mut gone).await {
        watcher::Event::Apply(p) => assert_eq!(p.metadata.labels.unwrap()["app"], "w2"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }

    // Move the store on and compact everything the watcher has seen.
    for i in 0..20 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let rev = srv.store.current_revision().await.unwrap();
    srv.store.compact(rev).await.unwrap();

    // The watcher's next re-watch gets 410 Gone and relists: Init, InitApply(w1), InitDone.
    let mut relisted = false;
    for _ in 0..10 {
        match next(&mut stream, &mut gone).await {
            watcher::Event::Init => {}
            watcher::Event::InitApply(p) => assert_eq!(p.metadata.name.as_deref(), Some("w1")),
            watcher::Event::InitDone => {
                relisted = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(relisted, "the watcher must relist after compaction");
    assert_eq!(gone, 1, "the relist must come from a 410 Gone");
    pods.delete("w1", &DeleteParams::default()).await.unwrap();
    loop {
        match next(&mut stream, &mut gone).await {
            watcher::Event::Delete(p) => {
                assert_eq!(p.metadata.name.as_deref(), Some("w1"));
                break;
            }
            // A relist may race the delete; anything else is a bug.
            watcher::Event::Init | watcher::Event::InitDone | watcher::Event::InitApply(_) => {}
            other => panic!("expected DELETED, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn tables_and_discovery_serve_kubectl() {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(srv.client().await);
    pods.create(&PostParams::default(), &pod("web", json!({})))
        .await
        .unwrap();
    let client = srv.client().await;
    let req = http::Request::get("/api/v1/namespaces/default/pods")
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(vec![])
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(table["kind"], "Table");
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], &["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "web");

    let res: serde_json::Value = client
        .request(http::Request::get("/apis/apps/v1").body(vec![]).unwrap())
        .await
        .unwrap();
    let names: Vec<&str> = res["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"deployments")
            && names.contains(&"deployments/scale")
            && names.contains(&"deployments/status")
    );
    let oa: serde_json::Value = client
        .request(
            http::Request::get("/openapi/v3/apis/apps/v1")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap();
    // OpenAPI v2 exists (kubectl validates a v1 List against it), with no schemas to skip.
    let (code, v2) = srv.raw("GET", "/openapi/v2", "application/json", "").await;
    assert_eq!(code, 200, "{v2}");
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(v2["definitions"], json!({}));
    let patch = &oa["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
}

#[tokio::test]
async fn binding_status_and_deletecollection() {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(srv.client().await);
    for i in 0..3 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("p{i}"), json!({"batch": "x"})),
        )
        .await
        .unwrap();
    }
    // Watchers see the binding as one change: bound and PodScheduled together, as in
    // Kubernetes (a watcher never sees a pod bound but not yet scheduled).
    let rv = pods
        .get("p0")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dp0&resourceVersion={rv}&timeoutSeconds=1"
    ))
    .body(vec![])
    .unwrap();
    let watch_client = srv.client().await;
    let mut changes = Box::pin(
        watch_client
            .request_events::<serde_json::Value>(req)
            .await
            .unwrap(),
    );
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p0"}, "target": {"kind": "Node", "name": "node-1"}});
    let (code, body) = srv
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/p0/binding",
            "application/json",
            &binding.to_string(),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let mut seen = Vec::new();
    while let Some(event) = changes.next().await {
        if let kube::api::WatchEvent::Modified(obj) = event.unwrap() {
            seen.push(obj);
        }
    }
    assert_eq!(seen.len(), 1, "one change for the binding: {seen:?}");
    assert_eq!(seen[0]["spec"]["nodeName"], "node-1");
    assert!(
        seen[0]["status"]["conditions"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["type"] == "PodScheduled" && c["status"] == "True")),
        "{}",
        seen[0]
    );
    let p0 = pods.get("p0").await.unwrap();
    assert_eq!(p0.spec.unwrap().node_name.as_deref(), Some("node-1"));
    let conds = p0.status.unwrap().conditions.unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    // A second binding is a conflict: the scheduler must never move a pod.
    let (code, _) = srv
        .raw(
            "POST",
            "/api/v1/namespaces/default/pods/p0/binding",
            "application/json",
            &binding.to_string(),
        )
        .await;
    assert_eq!(code, 409);
    let bound = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert_eq!(bound.items.len(), 1);

    // Status is written only through /status; the main resource ignores it.
    let status = json!({"status": {"phase": "Running", "podIP": "10.244.0.5"}});
    pods.patch_status("p1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let ignored = json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"seen": "yes"}}});
    pods.patch("p1", &PatchParams::default(), &Patch::Merge(&ignored))
        .await
        .unwrap();
    let p1 = pods.get("p1").await.unwrap();
    assert_eq!(p1.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(p1.metadata.labels.unwrap()["seen"], "yes");

    // A pod bound to a node terminates gracefully: it waits for its node (gracePeriod 0 finishes it).
    pods.delete("p0", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("p0").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    pods.delete(
        "p0",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(pods.get_opt("p0").await.unwrap().is_none());

    pods.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("batch=x"),
    )
    .await
    .unwrap();
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn raw_watch_streams_bookmarks_and_gone() {
    let srv = TestServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(srv.client().await);
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    let created = cms.create(&PostParams::default(), &c).await.unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let client = srv.client().await;
    // From a revision: only what came after it.
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
    ))
    .body(vec![])
    .unwrap();
    let mut lines = Box::pin(
        client
            .request_events::<serde_json::Value>(req)
            .await
            .unwrap(),
    );
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "v"}})),
    )
    .await
    .unwrap();
    match lines.next().await.unwrap().unwrap() {
        kube::api::WatchEvent::Modified(obj) => assert_eq!(obj["data"]["k"], "v"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    // timeoutSeconds ends the stream.
    let end = tokio::time::timeout(Duration::from_secs(5), lines.next())
        .await
        .expect("the watch must end on its timeout");
    assert!(end.is_none());

    // After compaction, an old revision gets an ERROR event with 410.
    for i in 0..5 {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("x{i}")}})).unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    srv.store
        .compact(srv.store.current_revision().await.unwrap())
        .await
        .unwrap();
    let req = http::Request::get(format!(
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
    ))
    .body(vec![])
    .unwrap();
    let mut lines = Box::pin(
        client
            .request_events::<serde_json::Value>(req)
            .await
            .unwrap(),
    );
    match lines.next().await.unwrap().unwrap() {
        kube::api::WatchEvent::Error(status) => assert_eq!(status.code, 410),
        other => panic!("expected ERROR 410, got {other:?}"),
    }
}

#[tokio::test]
async fn services_get_addresses_that_survive_replace() {
    use k8s_openapi::api::core::v1::Service;
    let srv = TestServer::start().await;
    let svcs: Api<Service> = Api::default_namespaced(srv.client().await);
    let body = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let created = svcs
        .create(
            &PostParams::default(),
            &serde_json::from_value(body.clone()).unwrap(),
        )
        .await
        .unwrap();
    let spec = created.spec.clone().unwrap();
    let ip = spec.cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10."), "{ip}");
    let node_port = spec.ports.unwrap()[0].node_port.unwrap();
    // A replace that leaves the addresses out keeps them (kubectl replace sends no clusterIP).
    let mut replace: Service = serde_json::from_value(body).unwrap();
    replace.metadata.resource_version = created.metadata.resource_version.clone();
    let replaced = svcs
        .replace("web", &PostParams::default(), &replace)
        .await
        .unwrap();
    let spec = replaced.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some(ip.as_str()));
    assert_eq!(spec.ports.unwrap()[0].node_port, Some(node_port));
    // The same nodePort cannot be taken twice.
    let clash = json!({"metadata": {"name": "other"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}});
    let err = svcs
        .create(
            &PostParams::default(),
            &serde_json::from_value(clash).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 422),
        "a taken nodePort is invalid"
    );
    // Deleting the service frees its port.
    svcs.delete("web", &DeleteParams::default()).await.unwrap();
    let reuse = json!({"metadata": {"name": "again"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}});
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(reuse).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_terminating_pod_waits_for_its_node_through_status_updates() {
    let srv = TestServer::start().await;
    let pods: Api<Pod> = Api::default_namespaced(srv.client().await);
    let mut p = pod("t", json!({}));
    p.spec.as_mut().unwrap().node_name = Some("n1".into());
    pods.create(&PostParams::default(), &p).await.unwrap();
    pods.delete("t", &DeleteParams::default()).await.unwrap();
    // The agent reports status while it stops the containers: the pod must stay.
    let status = json!({"status": {"phase": "Running"}});
    pods.patch_status("t", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let still = pods.get("t").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    // Its final delete (grace 0) removes it.
    pods.delete(
        "t",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(pods.get_opt("t").await.unwrap().is_none());
}
