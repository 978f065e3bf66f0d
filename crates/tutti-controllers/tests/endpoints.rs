//! The endpoints controller against the real API server (in-memory store, in process). No
//! scheduler or agent runs: pods are bound to a made-up node at creation, and tests report
//! their address and readiness by patching `pods/status` as an agent would.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{EndpointSubset, Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tower::ServiceExt;

type Res<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);
/// How long "nothing is written" must hold.
const QUIET: Duration = Duration::from_millis(1500);

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

/// Check `$cond` repeatedly for [`QUIET`]; fail the first time it does not hold.
macro_rules! steadily {
    ($what:expr, $cond:expr) => {{
        let until = Instant::now() + QUIET;
        while Instant::now() < until {
            if !$cond {
                return Err(format!("no longer true: {}", $what).into());
            }
            tokio::time::sleep(POLL).await;
        }
    }};
}

async fn start() -> Res<Client> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::endpoints::spawn(client.clone());
    Ok(client)
}

async fn create_service(client: &Client, name: &str, spec: Value) -> Res<Service> {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"tier": "front"}}, "spec": spec}))?;
    let api: Api<Service> = Api::default_namespaced(client.clone());
    Ok(api.create(&PostParams::default(), &svc).await?)
}

fn web_spec() -> Value {
    json!({"selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]})
}

/// A pod labelled `app=<app>`, bound to node n1, whose container declares `ports`.
async fn create_pod(client: &Client, name: &str, app: &str, ports: Value) -> Res {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"nodeName": "n1",
            "containers": [{"name": "main", "image": "web:1", "ports": ports}]}}))?;
    Api::<Pod>::default_namespaced(client.clone())
        .create(&PostParams::default(), &pod)
        .await?;
    Ok(())
}

/// What an agent reports for a started pod: Running, its address, and its readiness.
async fn report(client: &Client, pod: &str, ip: &str, ready: bool) -> Res {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    Api::<Pod>::default_namespaced(client.clone())
        .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

async fn running_pod(client: &Client, name: &str, ip: &str, ready: bool) -> Res {
    create_pod(client, name, "web", json!([])).await?;
    report(client, name, ip, ready).await
}

async fn endpoints(client: &Client, name: &str) -> Res<Option<Endpoints>> {
    Ok(Api::<Endpoints>::default_namespaced(client.clone())
        .get_opt(name)
        .await?)
}

async fn slices(client: &Client, service: &str) -> Res<Vec<EndpointSlice>> {
    let mut list = Api::<EndpointSlice>::default_namespaced(client.clone())
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await?
        .items;
    list.sort_by_key(|s| s.name_any());
    Ok(list)
}

/// The subsets as (ready IPs, not-ready IPs, ports) for easy comparison.
type Shape = Vec<(Vec<String>, Vec<String>, Vec<i32>)>;

fn shape(subsets: &[EndpointSubset]) -> Shape {
    let ips = |list: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
        list.iter().flatten().map(|a| a.ip.clone()).collect()
    };
    subsets
        .iter()
        .map(|s| {
            (
                ips(&s.addresses),
                ips(&s.not_ready_addresses),
                s.ports.iter().flatten().map(|p| p.port).collect(),
            )
        })
        .collect()
}

async fn endpoints_shape(client: &Client, name: &str) -> Res<Option<Shape>> {
    Ok(endpoints(client, name)
        .await?
        .map(|ep| shape(ep.subsets.as_deref().unwrap_or_default())))
}

/// The service's slice endpoints as (IP, ready, serving, terminating), sorted.
async fn slice_states(client: &Client, service: &str) -> Res<Vec<(String, bool, bool, bool)>> {
    let mut out: Vec<(String, bool, bool, bool)> = slices(client, service)
        .await?
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.addresses.first().cloned().unwrap_or_default(),
                c.ready == Some(true),
                c.serving == Some(true),
                c.terminating == Some(true),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn endpoint_slices_are_discoverable() -> Res {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let resources = client
        .list_api_group_resources("discovery.k8s.io/v1")
        .await?;
    let slices = resources
        .resources
        .iter()
        .find(|r| r.name == "endpointslices")
        .ok_or("endpointslices missing from discovery.k8s.io/v1")?;
    assert_eq!(slices.kind, "EndpointSlice");
    assert!(slices.namespaced);
    Ok(())
}

#[tokio::test]
async fn ready_not_ready_and_terminating_pods() -> Res {
    let client = start().await?;
    let svc = create_service(&client, "web", web_spec()).await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    running_pod(&client, "b", "10.244.0.3", false).await?;
    running_pod(&client, "c", "10.244.0.4", true).await?;
    create_pod(&client, "other", "db", json!([])).await?;
    report(&client, "other", "10.244.0.9", true).await?;
    let all_three = vec![(
        strings(&["10.244.0.2", "10.244.0.4"]),
        strings(&["10.244.0.3"]),
        vec![8080],
    )];
    eventually!(
        "endpoints of a, b and c",
        endpoints_shape(&client, "web").await? == Some(all_three.clone())
    );

    // c is deleted; bound to a node, it terminates until its agent confirms.
    Api::<Pod>::default_namespaced(client.clone())
        .delete("c", &DeleteParams::default())
        .await?;
    let without_c = vec![(
        strings(&["10.244.0.2"]),
        strings(&["10.244.0.3"]),
        vec![8080],
    )];
    eventually!(
        "c out of the Endpoints",
        endpoints_shape(&client, "web").await? == Some(without_c.clone())
    );
    let expected = vec![
        ("10.244.0.2".to_string(), true, true, false),
        ("10.244.0.3".to_string(), false, false, false),
        ("10.244.0.4".to_string(), false, true, true),
    ];
    eventually!(
        "c terminating in the slice",
        slice_states(&client, "web").await? == expected
    );

    let ep = endpoints(&client, "web").await?.ok_or("no Endpoints")?;
    assert_eq!(ep.labels().get("tier").map(String::as_str), Some("front"));
    let address = &ep.subsets.as_deref().unwrap_or_default()[0]
        .addresses
        .clone()
        .unwrap_or_default()[0];
    assert_eq!(address.node_name.as_deref(), Some("n1"));
    let target = address.target_ref.clone().unwrap_or_default();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("a"))
    );

    let list = slices(&client, "web").await?;
    assert_eq!(list.len(), 1);
    let slice = &list[0];
    assert!(slice.name_any().starts_with("web-"), "{}", slice.name_any());
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice
            .labels()
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    let owner = &slice.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        (
            "Service",
            svc.uid().unwrap_or_default().as_str(),
            Some(true)
        )
    );
    let port = &slice.ports.clone().unwrap_or_default()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );
    Ok(())
}

#[tokio::test]
async fn published_not_ready_addresses_are_ready() -> Res {
    let client = start().await?;
    let mut spec = web_spec();
    spec["publishNotReadyAddresses"] = json!(true);
    create_service(&client, "peers", spec).await?;
    running_pod(&client, "a", "10.244.0.2", false).await?;
    running_pod(&client, "b", "10.244.0.3", true).await?;
    let expected = vec![(strings(&["10.244.0.2", "10.244.0.3"]), vec![], vec![8080])];
    eventually!(
        "both pods ready in the Endpoints",
        endpoints_shape(&client, "peers").await? == Some(expected.clone())
    );
    eventually!("both pods ready in the slice", {
        let states = slice_states(&client, "peers").await?;
        states.len() == 2 && states.iter().all(|(_, ready, _, _)| *ready)
    });
    Ok(())
}

#[tokio::test]
async fn a_named_target_port_resolves_per_pod() -> Res {
    let client = start().await?;
    create_service(
        &client,
        "metrics",
        json!({"selector": {"app": "web"},
            "ports": [{"name": "metrics", "port": 9100, "targetPort": "exporter"}]}),
    )
    .await?;
    create_pod(
        &client,
        "a",
        "web",
        json!([{"name": "exporter", "containerPort": 9100}]),
    )
    .await?;
    create_pod(
        &client,
        "b",
        "web",
        json!([{"name": "exporter", "containerPort": 9200}]),
    )
    .await?;
    create_pod(&client, "c", "web", json!([])).await?;
    report(&client, "a", "10.244.0.2", true).await?;
    report(&client, "b", "10.244.0.3", true).await?;
    report(&client, "c", "10.244.0.4", true).await?;
    let expected = vec![
        (strings(&["10.244.0.2"]), vec![], vec![9100]),
        (strings(&["10.244.0.3"]), vec![], vec![9200]),
    ];
    eventually!(
        "one subset per resolved port",
        endpoints_shape(&client, "metrics").await? == Some(expected.clone())
    );
    eventually!("one slice per resolved port", {
        let mut by_port: Vec<(Option<i32>, Vec<String>)> = slices(&client, "metrics")
            .await?
            .iter()
            .map(|s| {
                (
                    s.ports
                        .as_ref()
                        .and_then(|p| p.first())
                        .and_then(|p| p.port),
                    s.endpoints.iter().map(|e| e.addresses[0].clone()).collect(),
                )
            })
            .collect();
        by_port.sort();
        // c offers none of the service's ports: it is listed in a slice without ports.
        by_port
            == vec![
                (None, strings(&["10.244.0.4"])),
                (Some(9100), strings(&["10.244.0.2"])),
                (Some(9200), strings(&["10.244.0.3"])),
            ]
    });
    Ok(())
}

#[tokio::test]
async fn services_without_a_selector_are_left_alone() -> Res {
    let client = start().await?;
    create_service(&client, "external-db", json!({"ports": [{"port": 5432}]})).await?;
    let manual: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "external-db"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}))?;
    let manual = Api::<Endpoints>::default_namespaced(client.clone())
        .create(&PostParams::default(), &manual)
        .await?;
    // Pods that would match an empty selector exist, and the controller is demonstrably busy.
    running_pod(&client, "a", "10.244.0.2", true).await?;
    create_service(&client, "web", web_spec()).await?;
    eventually!(
        "the selector service's Endpoints",
        endpoints_shape(&client, "web")
            .await?
            .is_some_and(|s| !s.is_empty())
    );
    steadily!("the hand-written Endpoints unchanged", {
        let now = endpoints(&client, "external-db").await?;
        now.as_ref()
            .and_then(|e| e.metadata.resource_version.clone())
            == manual.metadata.resource_version
    });
    assert!(slices(&client, "external-db").await?.is_empty());
    // The API's own service has no selector either: no Endpoints or slices are made for it.
    assert!(endpoints(&client, "kubernetes").await?.is_none());
    assert!(slices(&client, "kubernetes").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn external_name_services_get_no_endpoints() -> Res {
    let client = start().await?;
    create_service(
        &client,
        "search",
        json!({"type": "ExternalName", "externalName": "search.example.com",
            "selector": {"app": "web"}}),
    )
    .await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    // The controller is demonstrably busy with the same pod.
    create_service(&client, "web", web_spec()).await?;
    eventually!(
        "the selector service's Endpoints",
        endpoints_shape(&client, "web")
            .await?
            .is_some_and(|s| !s.is_empty())
    );
    steadily!(
        "no endpoints for the ExternalName service",
        endpoints(&client, "search").await?.is_none()
            && slices(&client, "search").await?.is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn deleting_the_service_removes_endpoints_and_slices() -> Res {
    let client = start().await?;
    create_service(&client, "web", web_spec()).await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    eventually!(
        "Endpoints and a slice",
        endpoints(&client, "web").await?.is_some() && !slices(&client, "web").await?.is_empty()
    );
    Api::<Service>::default_namespaced(client.clone())
        .delete("web", &DeleteParams::default())
        .await?;
    eventually!(
        "Endpoints and slices gone",
        endpoints(&client, "web").await?.is_none() && slices(&client, "web").await?.is_empty()
    );

    // A service of the same name made again gets fresh ones.
    create_service(&client, "web", web_spec()).await?;
    let expected = vec![(strings(&["10.244.0.2"]), vec![], vec![8080])];
    eventually!(
        "Endpoints of the new service",
        endpoints_shape(&client, "web").await? == Some(expected.clone())
    );
    Ok(())
}

#[tokio::test]
async fn a_readiness_flip_updates_both_objects() -> Res {
    let client = start().await?;
    create_service(&client, "web", web_spec()).await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    running_pod(&client, "b", "10.244.0.3", true).await?;
    let both = vec![(strings(&["10.244.0.2", "10.244.0.3"]), vec![], vec![8080])];
    eventually!(
        "both ready",
        endpoints_shape(&client, "web").await? == Some(both.clone())
    );

    report(&client, "b", "10.244.0.3", false).await?;
    let flipped = vec![(
        strings(&["10.244.0.2"]),
        strings(&["10.244.0.3"]),
        vec![8080],
    )];
    eventually!(
        "b not ready in the Endpoints",
        endpoints_shape(&client, "web").await? == Some(flipped.clone())
    );
    eventually!(
        "b not ready in the slice",
        slice_states(&client, "web").await?
            == vec![
                ("10.244.0.2".to_string(), true, true, false),
                ("10.244.0.3".to_string(), false, false, false)
            ]
    );

    report(&client, "b", "10.244.0.3", true).await?;
    eventually!(
        "b ready again",
        endpoints_shape(&client, "web").await? == Some(both.clone())
    );
    eventually!("b ready again in the slice", {
        let states = slice_states(&client, "web").await?;
        states.len() == 2 && states.iter().all(|(_, ready, _, _)| *ready)
    });
    Ok(())
}

#[tokio::test]
async fn a_relabelled_pod_leaves_its_service() -> Res {
    let client = start().await?;
    create_service(&client, "web", web_spec()).await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    running_pod(&client, "b", "10.244.0.3", true).await?;
    eventually!(
        "both pods listed",
        slice_states(&client, "web").await?.len() == 2
    );
    let relabel = json!({"metadata": {"labels": {"app": "debug"}}});
    Api::<Pod>::default_namespaced(client.clone())
        .patch("b", &PatchParams::default(), &Patch::Merge(&relabel))
        .await?;
    let only_a = vec![(strings(&["10.244.0.2"]), vec![], vec![8080])];
    eventually!(
        "b out of the Endpoints",
        endpoints_shape(&client, "web").await? == Some(only_a.clone())
    );
    eventually!(
        "b out of the slice",
        slice_states(&client, "web").await?.len() == 1
    );
    Ok(())
}

/// Requests the controller's client made: GETs of `default/web` (one per reconcile) and
/// writes to Endpoints or EndpointSlices.
#[derive(Default)]
struct Requests {
    service_reads: AtomicUsize,
    endpoint_writes: AtomicUsize,
}

/// An in-process client (as the manager builds one) that counts its requests into `counts`.
fn counting_client(api: &Arc<tutti_apiserver::ApiServer>, counts: Arc<Requests>) -> Client {
    let svc = api
        .router()
        .map_request(move |req: axum::http::Request<kube::client::Body>| {
            let path = req.uri().path();
            if req.method() == axum::http::Method::GET
                && path == "/api/v1/namespaces/default/services/web"
            {
                counts.service_reads.fetch_add(1, Ordering::SeqCst);
            }
            if req.method() != axum::http::Method::GET && path.contains("/endpoints") {
                counts.endpoint_writes.fetch_add(1, Ordering::SeqCst);
            }
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut()
                .insert(tutti_apiserver::Identity::Internal);
            req
        });
    Client::new(svc, "default")
}

#[tokio::test]
async fn a_reconcile_without_changes_writes_nothing() -> Res {
    let (api, client) = tutti_apiserver::client::test_server().await?;
    let counts = Arc::new(Requests::default());
    tutti_controllers::endpoints::spawn(counting_client(&api, counts.clone()));
    create_service(&client, "web", web_spec()).await?;
    running_pod(&client, "a", "10.244.0.2", true).await?;
    running_pod(&client, "b", "10.244.0.3", false).await?;
    let expected = vec![(
        strings(&["10.244.0.2"]),
        strings(&["10.244.0.3"]),
        vec![8080],
    )];
    eventually!(
        "the endpoints of a and b",
        slice_states(&client, "web").await?.len() == 2
            && endpoints_shape(&client, "web").await? == Some(expected.clone())
    );
    let writes = counts.endpoint_writes.load(Ordering::SeqCst);

    // Events that make the controller look again without changing what it would write.
    // Reconciles of one service never overlap, so once the reconcile after the last event
    // has begun, the ones before it are complete.
    let note = |n: u32| json!({"metadata": {"annotations": {"note": format!("look {n}")}}});
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let services: Api<Service> = Api::default_namespaced(client.clone());
    for n in 0..3 {
        let reads = counts.service_reads.load(Ordering::SeqCst);
        if n == 1 {
            services
                .patch("web", &PatchParams::default(), &Patch::Merge(&note(n)))
                .await?;
        } else {
            pods.patch("a", &PatchParams::default(), &Patch::Merge(&note(n)))
                .await?;
        }
        eventually!(
            format!("a reconcile after event {n}"),
            counts.service_reads.load(Ordering::SeqCst) > reads
        );
    }
    assert_eq!(counts.endpoint_writes.load(Ordering::SeqCst), writes);
    Ok(())
}
