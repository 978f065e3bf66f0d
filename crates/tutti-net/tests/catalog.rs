//! The catalog watcher against the real API server (in process, in-memory store): it syncs,
//! then follows Services and Endpoints as they are created, changed and deleted.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use hyper::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::client::Body;
use serde_json::json;
use tokio::sync::watch;
use tutti_net::catalog::{Catalog, Protocol, ServiceKey, Snapshot};

const PATIENCE: Duration = Duration::from_secs(10);

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

/// Wait until a published snapshot satisfies `check`, and return it.
async fn until(
    rx: &mut watch::Receiver<Arc<Snapshot>>,
    what: &str,
    check: impl FnMut(&Arc<Snapshot>) -> bool,
) -> Result<Arc<Snapshot>> {
    let snap = tokio::time::timeout(PATIENCE, rx.wait_for(check))
        .await
        .with_context(|| format!("timed out waiting for {what}"))??;
    Ok(snap.clone())
}

#[tokio::test]
async fn catalog_follows_services_and_endpoints() -> Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");

    let catalog = Catalog::spawn(client);
    tokio::time::timeout(PATIENCE, catalog.synced())
        .await
        .context("catalog never synced")?;
    assert!(catalog.is_synced());
    assert!(
        catalog.current().services.contains_key(&key("kubernetes")),
        "the first snapshot is a full list: {:?}",
        catalog.current().services.keys().collect::<Vec<_>>()
    );
    let mut rx = catalog.subscribe();

    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080}]
        }
    }))?;
    services.create(&PostParams::default(), &svc).await?;
    let snap = until(&mut rx, "the new service", |s| {
        s.services.contains_key(&key("web"))
    })
    .await?;
    let web = &snap.services[&key("web")];
    let vip = web
        .cluster_ip
        .context("the API server allocates a cluster IP")?;
    assert_ne!(vip, Ipv4Addr::UNSPECIFIED);
    assert!(web.endpoints.is_empty());

    let eps: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "subsets": [{
            "addresses": [{"ip": "10.244.0.7"}],
            "notReadyAddresses": [{"ip": "10.244.0.8"}],
            "ports": [{"name": "http", "port": 8080}]
        }]
    }))?;
    endpoints.create(&PostParams::default(), &eps).await?;
    let snap = until(&mut rx, "the endpoints", |s| {
        s.services
            .get(&key("web"))
            .is_some_and(|e| e.endpoints.len() == 2)
    })
    .await?;
    let web = &snap.services[&key("web")];
    let ready: Vec<_> = web.ready().map(|e| e.ip.to_string()).collect();
    assert_eq!(ready, ["10.244.0.7"]);
    assert_eq!(
        web.endpoints[0]
            .ports
            .get(&("http".to_string(), Protocol::Tcp)),
        Some(&8080)
    );

    // A burst of changes ends in the state of the last one.
    for i in 1..=20u8 {
        let patch = json!({"subsets": [{
            "addresses": [{"ip": format!("10.244.1.{i}")}],
            "ports": [{"name": "http", "port": 8080}]
        }]});
        endpoints
            .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    until(&mut rx, "the last endpoints of the burst", |s| {
        s.services.get(&key("web")).is_some_and(|e| {
            e.endpoints.len() == 1 && e.endpoints[0].ip == Ipv4Addr::new(10, 244, 1, 20)
        })
    })
    .await?;

    services.delete("web", &DeleteParams::default()).await?;
    until(&mut rx, "the service to go", |s| {
        !s.services.contains_key(&key("web"))
    })
    .await?;
    assert!(catalog.current().services.contains_key(&key("kubernetes")));
    Ok(())
}

#[tokio::test]
async fn fixed_and_manual_catalogs_are_synced_at_once() -> Result<()> {
    let fixed = Catalog::fixed(Snapshot::default());
    tokio::time::timeout(PATIENCE, fixed.synced()).await?;
    let rx = fixed.subscribe();
    assert!(
        !rx.has_changed()?,
        "the channel of a fixed catalog stays open"
    );

    let (manual, feed) = Catalog::manual(Snapshot::default());
    let mut rx = manual.subscribe();
    let published = feed.update(|s| {
        s.services.clear();
    });
    rx.changed().await?;
    assert!(Arc::ptr_eq(&rx.borrow_and_update(), &published));
    assert!(Arc::ptr_eq(&manual.current(), &feed.current()));
    Ok(())
}

/// Faults injected between the catalog and the API server.
#[derive(Default)]
struct Faults {
    /// Fail this many list requests with a 500.
    failing_lists: AtomicUsize,
    /// Answer the next watch of Services with "410 Gone", forcing a full relist.
    gone: AtomicBool,
    /// Delay list requests, so a relist stays in progress for a while.
    slow_lists: AtomicBool,
    /// List requests for Services seen.
    service_lists: AtomicUsize,
}

const GONE_EVENT: &str = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}
"#;

/// A client whose requests pass through `faults` to the real API server. Watches are
/// shortened to one second, so the watcher reconnects all the time.
fn faulty_client(inner: kube::Client, faults: Arc<Faults>) -> kube::Client {
    let svc = tower::service_fn(move |mut req: Request<Body>| {
        let inner = inner.clone();
        let faults = faults.clone();
        async move {
            let path = req.uri().path().to_string();
            let query = req.uri().query().unwrap_or("").to_string();
            let watch = query.contains("watch=true");
            let services = path.ends_with("/services");
            if watch {
                if services && faults.gone.swap(false, Ordering::SeqCst) {
                    return Response::builder()
                        .status(StatusCode::OK)
                        .header("content-type", "application/json")
                        .body(Body::from(GONE_EVENT.as_bytes().to_vec()))
                        .map_err(|e| -> tower::BoxError { e.into() });
                }
                let short: String = query
                    .split('&')
                    .map(|kv| {
                        if kv.starts_with("timeoutSeconds=") {
                            "timeoutSeconds=1"
                        } else {
                            kv
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                let uri = format!("{path}?{short}")
                    .parse()
                    .map_err(|e: hyper::http::uri::InvalidUri| -> tower::BoxError { e.into() })?;
                *req.uri_mut() = uri;
            } else {
                if services {
                    faults.service_lists.fetch_add(1, Ordering::SeqCst);
                }
                let fail = faults
                    .failing_lists
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    return Response::builder()
                        .status(StatusCode::INTERNAL_SERVER_ERROR)
                        .header("content-type", "application/json")
                        .body(Body::from(
                            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","code":500}"#.to_vec(),
                        ))
                        .map_err(|e| -> tower::BoxError { e.into() });
                }
                if faults.slow_lists.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            inner
                .send(req)
                .await
                .map_err(|e| -> tower::BoxError { e.into() })
        }
    });
    kube::Client::new(svc, "default")
}

#[tokio::test]
async fn catalog_survives_api_errors_and_relists_without_going_empty() -> Result<()> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let faults = Arc::new(Faults {
        failing_lists: AtomicUsize::new(2),
        ..Faults::default()
    });
    let catalog = Catalog::spawn(faulty_client(client, faults.clone()));
    tokio::time::timeout(PATIENCE, catalog.synced())
        .await
        .context("catalog never synced after failed lists")?;
    assert!(catalog.current().services.contains_key(&key("kubernetes")));
    ensure!(
        faults.service_lists.load(Ordering::SeqCst) >= 1,
        "lists went through the faulty client"
    );

    // Watch every snapshot published from now on; none may lack the bootstrap service.
    let mut rx = catalog.subscribe();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            let snap = rx.borrow_and_update().clone();
            seen.push(
                snap.services
                    .keys()
                    .map(|k| k.name.clone())
                    .collect::<Vec<_>>(),
            );
            if snap.services.contains_key(&key("after-relist")) {
                break;
            }
        }
        seen
    });

    let lists_before = faults.service_lists.load(Ordering::SeqCst);
    faults.slow_lists.store(true, Ordering::SeqCst);
    faults.gone.store(true, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while faults.service_lists.load(Ordering::SeqCst) == lists_before {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the watcher never relisted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "after-relist"},
        "spec": {"ports": [{"port": 80}]}
    }))?;
    services.create(&PostParams::default(), &svc).await?;
    let seen = tokio::time::timeout(PATIENCE, watcher)
        .await
        .context("the new service never showed up")??;
    for names in &seen {
        assert!(
            names.iter().any(|n| n == "kubernetes"),
            "a snapshot went missing the existing services: {seen:?}"
        );
    }
    Ok(())
}
