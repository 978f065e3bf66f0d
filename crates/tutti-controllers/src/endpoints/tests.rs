//! The pure parts: which pods are targets, how ports resolve, and the Endpoints subsets.

use k8s_openapi::api::core::v1::{EndpointSubset, Pod, Service};
use serde_json::{Value, json};

use super::subsets::{self, subsets};
use super::targets::{self, Family, targets};

pub(super) fn service(spec: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid",
            "labels": {"app.kubernetes.io/name": "web"}},
        "spec": spec,
    }))
    .unwrap()
}

pub(super) fn web_service() -> Service {
    service(
        json!({"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}),
    )
}

/// A pod `name` labelled `app=web` on node n1 with address `ip`, Ready as given.
pub(super) fn pod(name: &str, ip: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
            "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x",
            "ports": [{"name": "metrics", "containerPort": 9100}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    }))
    .unwrap()
}

pub(super) fn terminating(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = serde_json::from_value(json!("2025-06-01T12:00:00Z")).ok();
    p
}

/// Subsets as (ready IPs, (port name, number)) for comparison.
type Shape<'a> = Vec<(Vec<&'a str>, Vec<(String, i32)>)>;

fn ips(list: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>) -> Vec<&str> {
    list.iter().flatten().map(|a| a.ip.as_str()).collect()
}

fn ports(subset: &EndpointSubset) -> Vec<(String, i32)> {
    subset
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port))
        .collect()
}

#[test]
fn targets_are_selected_running_pods_with_an_address() {
    let svc = web_service();
    let mut other_ns = pod("elsewhere", "10.244.0.9", true);
    other_ns.metadata.namespace = Some("prod".into());
    let mut unlabelled = pod("other", "10.244.0.8", true);
    unlabelled.metadata.labels = None;
    let mut no_ip = pod("pending", "", false);
    no_ip.status.as_mut().unwrap().pod_ips = None;
    no_ip.status.as_mut().unwrap().pod_ip = None;
    let mut done = pod("done", "10.244.0.7", false);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let mut v6 = pod("v6", "fd00::5", true);
    v6.status.as_mut().unwrap().pod_ip = Some("fd00::5".into());
    let list = [
        pod("b", "10.244.0.3", true),
        pod("a", "10.244.0.2", false),
        other_ns,
        unlabelled,
        no_ip,
        done,
        v6,
        terminating(pod("c", "10.244.0.4", true)),
    ];
    let found = targets(&svc, &list);
    let names: Vec<&str> = found
        .iter()
        .map(|t| t.pod.name.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        found
            .iter()
            .map(|t| (t.serving, t.terminating))
            .collect::<Vec<_>>(),
        [(false, false), (true, false), (true, true)]
    );
    let b = &found[1];
    assert_eq!(b.node_name.as_deref(), Some("n1"));
    assert_eq!(b.pod.kind.as_deref(), Some("Pod"));
    assert_eq!(b.pod.uid.as_deref(), Some("uid-b"));
    assert_eq!(b.ports[0].port, 8080);
    assert_eq!(b.hostname, None);
}

#[test]
fn selectorless_and_external_name_services_are_not_managed() {
    assert!(targets::is_managed(&web_service()));
    let manual = service(json!({"ports": [{"port": 80}]}));
    assert!(!targets::is_managed(&manual));
    assert!(targets(&manual, &[pod("a", "10.244.0.2", true)]).is_empty());
    let empty = service(json!({"selector": {}, "ports": [{"port": 80}]}));
    assert!(!targets::is_managed(&empty));
    let external = service(
        json!({"type": "ExternalName", "externalName": "db.example.com", "selector": {"app": "web"}}),
    );
    assert!(!targets::is_managed(&external));
}

#[test]
fn ipv6_services_take_ipv6_addresses() {
    let svc = service(
        json!({"selector": {"app": "web"}, "ipFamilies": ["IPv6"], "ports": [{"port": 80}]}),
    );
    assert_eq!(targets::family(&svc), Family::V6);
    let mut dual = pod("a", "10.244.0.2", true);
    dual.status.as_mut().unwrap().pod_ips =
        serde_json::from_value(json!([{"ip": "10.244.0.2"}, {"ip": "fd00::2"}])).ok();
    let found = targets(&svc, &[dual, pod("b", "10.244.0.3", true)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ip, "fd00::2");
}

#[test]
fn named_target_ports_resolve_per_pod_and_protocol() {
    let svc = service(json!({"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9100, "targetPort": "exporter", "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"}]}));
    let with = |name: &str, ip: &str, port: i32, protocol: &str| {
        let mut p = pod(name, ip, true);
        p.spec.as_mut().unwrap().containers[0].ports = serde_json::from_value(
            json!([{"name": "exporter", "containerPort": port, "protocol": protocol}]),
        )
        .ok();
        p
    };
    let found = targets(
        &svc,
        &[
            with("a", "10.244.0.2", 9100, "TCP"),
            with("b", "10.244.0.3", 9200, "TCP"),
            with("c", "10.244.0.4", 9100, "UDP"),
        ],
    );
    let resolved: Vec<Vec<(String, i32)>> = found
        .iter()
        .map(|t| t.ports.iter().map(|p| (p.name.clone(), p.port)).collect())
        .collect();
    assert_eq!(
        resolved,
        [
            vec![
                ("http".into(), 8080),
                ("metrics".into(), 9100),
                ("dns".into(), 53)
            ],
            vec![
                ("http".into(), 8080),
                ("metrics".into(), 9200),
                ("dns".into(), 53)
            ],
            // Port names match only with the service port's protocol.
            vec![("http".into(), 8080), ("dns".into(), 53)],
        ]
    );

    // A sidecar (restartable init container) may declare the port too.
    let mut sidecar = pod("d", "10.244.0.5", true);
    sidecar.spec.as_mut().unwrap().init_containers = serde_json::from_value(json!([
        {"name": "exp", "image": "x", "restartPolicy": "Always",
         "ports": [{"name": "exporter", "containerPort": 9300}]}]))
    .ok();
    let port = &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[1];
    assert_eq!(targets::resolve_port(port, &sidecar), Some(9300));
}

#[test]
fn ready_not_ready_and_terminating_addresses() {
    let svc = web_service();
    let list = [
        pod("b", "10.244.0.3", true),
        pod("a", "10.244.0.2", true),
        pod("c", "10.244.0.4", false),
        terminating(pod("d", "10.244.0.5", true)),
    ];
    let got = subsets(&svc, &targets(&svc, &list));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(ips(&got[0].addresses), ["10.244.0.2", "10.244.0.3"]);
    assert_eq!(ips(&got[0].not_ready_addresses), ["10.244.0.4"]);
    assert_eq!(ports(&got[0]), [("http".to_string(), 8080)]);
    let address = &got[0].addresses.as_ref().unwrap()[0];
    assert_eq!(address.node_name.as_deref(), Some("n1"));
    assert_eq!(
        address.target_ref.as_ref().and_then(|r| r.name.as_deref()),
        Some("a")
    );
    let port = &got[0].ports.as_ref().unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));

    // Publishing not-ready addresses: everyone with an address is ready, terminating or not.
    let mut publish = web_service();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let got = subsets(&publish, &targets(&publish, &list));
    assert_eq!(
        ips(&got[0].addresses),
        ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5"]
    );
    assert_eq!(got[0].not_ready_addresses, None);
}

#[test]
fn pods_with_different_resolved_ports_get_different_subsets() {
    let svc = service(json!({"selector": {"app": "web"}, "ports": [
        {"name": "metrics", "port": 9100, "targetPort": "exporter", "protocol": "TCP"}]}));
    let with = |name: &str, ip: &str, port: i32| {
        let mut p = pod(name, ip, true);
        p.spec.as_mut().unwrap().containers[0].ports =
            serde_json::from_value(json!([{"name": "exporter", "containerPort": port}])).ok();
        p
    };
    let list = [
        with("a", "10.244.0.2", 9100),
        with("b", "10.244.0.3", 9200),
        with("c", "10.244.0.4", 9100),
        pod("lacking", "10.244.0.5", true),
    ];
    let got = subsets(&svc, &targets(&svc, &list));
    let shape: Shape = got.iter().map(|s| (ips(&s.addresses), ports(s))).collect();
    assert_eq!(
        shape,
        [
            (
                vec!["10.244.0.2", "10.244.0.4"],
                vec![("metrics".to_string(), 9100)]
            ),
            (vec!["10.244.0.3"], vec![("metrics".to_string(), 9200)]),
        ]
    );
}

#[test]
fn addresses_offering_the_same_ports_share_a_subset() {
    // http reaches every pod; metrics only the pods declaring it, on their own number.
    let svc = service(json!({"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]}));
    let mut plain = pod("c", "10.244.0.4", true);
    plain.spec.as_mut().unwrap().containers[0].ports = None;
    let list = [
        pod("a", "10.244.0.2", true),
        pod("b", "10.244.0.3", true),
        plain,
    ];
    let got = subsets(&svc, &targets(&svc, &list));
    let shape: Shape = got.iter().map(|s| (ips(&s.addresses), ports(s))).collect();
    assert_eq!(
        shape,
        [
            (
                vec!["10.244.0.2", "10.244.0.3"],
                vec![("metrics".to_string(), 9100)]
            ),
            (
                vec!["10.244.0.2", "10.244.0.3", "10.244.0.4"],
                vec![("http".to_string(), 8080)]
            ),
        ]
    );
}

#[test]
fn headless_services_without_ports_list_bare_addresses_and_hostnames() {
    let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
    let mut named = pod("web-0", "10.244.0.2", true);
    let spec = named.spec.as_mut().unwrap();
    spec.hostname = Some("web-0".into());
    spec.subdomain = Some("web".into());
    let mut elsewhere = pod("web-1", "10.244.0.3", true);
    let spec = elsewhere.spec.as_mut().unwrap();
    spec.hostname = Some("web-1".into());
    spec.subdomain = Some("other".into());
    let got = subsets(&svc, &targets(&svc, &[named, elsewhere]));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].ports, None);
    let hostnames: Vec<Option<&str>> = got[0]
        .addresses
        .iter()
        .flatten()
        .map(|a| a.hostname.as_deref())
        .collect();
    assert_eq!(hostnames, [Some("web-0"), None]);

    let labels = subsets::labels(&svc);
    assert_eq!(
        labels
            .get("service.kubernetes.io/headless")
            .map(String::as_str),
        Some("")
    );
    // A service with a cluster IP and no ports (not valid, but stored before) gets nothing.
    let odd = service(json!({"selector": {"app": "web"}, "clusterIP": "10.96.0.5"}));
    assert!(subsets(&odd, &targets(&odd, &[pod("a", "10.244.0.2", true)])).is_empty());
}

#[test]
fn endpoints_carry_the_service_labels_and_are_compared_by_content() {
    let svc = web_service();
    let list = [pod("a", "10.244.0.2", true)];
    let desired = subsets::desired(&svc, &targets(&svc, &list));
    assert_eq!(desired.metadata.name.as_deref(), Some("web"));
    let labels = desired.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/skip-mirror")
            .map(String::as_str),
        Some("true")
    );
    // What the API stores and returns (plus server-set metadata) is current.
    let mut stored = desired.clone();
    stored.metadata.resource_version = Some("42".into());
    stored.metadata.uid = Some("ep-uid".into());
    assert!(subsets::is_current(&stored, &desired));
    let flipped = subsets::desired(&svc, &targets(&svc, &[pod("a", "10.244.0.2", false)]));
    assert!(!subsets::is_current(&stored, &flipped));
    // No pods: no subsets, whether stored as absent or empty.
    let empty = subsets::desired(&svc, &[]);
    assert_eq!(empty.subsets, None);
    let mut stored_empty = empty.clone();
    stored_empty.subsets = Some(Vec::new());
    assert!(subsets::is_current(&stored_empty, &empty));
}
