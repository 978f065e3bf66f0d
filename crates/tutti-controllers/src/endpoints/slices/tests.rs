use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;
use crate::endpoints::targets::targets;
use crate::endpoints::tests::{pod, service, terminating, web_service};

/// The plan's creations turned into stored slices (named `web-<n>`), as the API would return them.
fn store(plan: &SlicePlan, first: usize) -> Vec<EndpointSlice> {
    plan.create
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            s.metadata.name = Some(format!("web-{}", first + i));
            s.metadata.generate_name = None;
            s.metadata.resource_version = Some("1".into());
            s
        })
        .collect()
}

fn conditions(e: &Endpoint) -> (bool, bool, bool) {
    let c = e.conditions.clone().unwrap_or_default();
    (
        c.ready.unwrap_or(false),
        c.serving.unwrap_or(false),
        c.terminating.unwrap_or(false),
    )
}

fn addresses(slice: &EndpointSlice) -> Vec<&str> {
    slice
        .endpoints
        .iter()
        .map(|e| e.addresses[0].as_str())
        .collect()
}

fn pods(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            pod(
                &format!("p{i:03}"),
                &format!("10.244.{}.{}", i / 200, i % 200 + 1),
                true,
            )
        })
        .collect()
}

#[test]
fn a_new_service_gets_one_slice_with_conditions_ports_and_owner() {
    let svc = web_service();
    let list = [
        pod("a", "10.244.0.2", true),
        pod("b", "10.244.0.3", false),
        terminating(pod("c", "10.244.0.4", true)),
    ];
    let plan = plan(&svc, &targets(&svc, &list), &[]);
    assert!(plan.update.is_empty() && plan.delete.is_empty());
    assert_eq!(plan.create.len(), 1);
    let slice = &plan.create[0];
    assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(slice.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get(SERVICE_NAME_LABEL).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("web")
    );
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        ("Service", "web", "svc-uid", Some(true))
    );
    assert_eq!(
        slice.ports,
        Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }])
    );
    assert_eq!(addresses(slice), ["10.244.0.2", "10.244.0.3", "10.244.0.4"]);
    let states: Vec<_> = slice.endpoints.iter().map(conditions).collect();
    // (ready, serving, terminating)
    assert_eq!(
        states,
        [
            (true, true, false),
            (false, false, false),
            (false, true, true)
        ]
    );
    let e = &slice.endpoints[0];
    assert_eq!(e.node_name.as_deref(), Some("n1"));
    assert_eq!(
        e.target_ref.as_ref().and_then(|r| r.uid.as_deref()),
        Some("uid-a")
    );
}

#[test]
fn publishing_not_ready_addresses_makes_every_endpoint_ready() {
    let mut svc = web_service();
    svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let list = [
        pod("b", "10.244.0.3", false),
        terminating(pod("c", "10.244.0.4", false)),
    ];
    let plan = plan(&svc, &targets(&svc, &list), &[]);
    let states: Vec<_> = plan.create[0].endpoints.iter().map(conditions).collect();
    assert_eq!(states, [(true, false, false), (true, false, true)]);
}

#[test]
fn a_stored_slice_that_matches_is_left_alone() {
    let svc = web_service();
    let t = targets(&svc, &pods(3));
    let stored = store(&plan(&svc, &t, &[]), 0);
    let again = plan(&svc, &t, &stored);
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn changes_update_the_slice_in_place() {
    let svc = web_service();
    let mut list = pods(3);
    let stored = store(&plan(&svc, &targets(&svc, &list), &[]), 0);
    list[1] = pod("p001", "10.244.0.2", false);
    list.remove(2);
    let next = plan(&svc, &targets(&svc, &list), &stored);
    assert!(next.create.is_empty() && next.delete.is_empty(), "{next:?}");
    assert_eq!(next.update.len(), 1);
    let updated = &next.update[0];
    assert_eq!(updated.metadata.name.as_deref(), Some("web-0"));
    assert_eq!(updated.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(addresses(updated), ["10.244.0.1", "10.244.0.2"]);
    assert_eq!(conditions(&updated.endpoints[1]), (false, false, false));
}

#[test]
fn slices_hold_at_most_a_hundred_endpoints_and_stay_put() {
    let svc = web_service();
    let list = pods(250);
    let first = plan(&svc, &targets(&svc, &list), &[]);
    let sizes: Vec<usize> = first.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let stored = store(&first, 0);

    // Ten more pods fill the slice with room; nothing else changes.
    let more = pods(260);
    let next = plan(&svc, &targets(&svc, &more), &stored);
    assert!(next.create.is_empty() && next.delete.is_empty());
    assert_eq!(next.update.len(), 1);
    assert_eq!(next.update[0].metadata.name.as_deref(), Some("web-2"));
    assert_eq!(next.update[0].endpoints.len(), 60);

    // Losing every pod of one slice deletes it; the others are untouched.
    let in_first: Vec<String> = stored[0]
        .endpoints
        .iter()
        .filter_map(|e| e.target_ref.as_ref()?.name.clone())
        .collect();
    let fewer: Vec<Pod> = list
        .into_iter()
        .filter(|p| !in_first.contains(p.metadata.name.as_ref().unwrap()))
        .collect();
    let next = plan(&svc, &targets(&svc, &fewer), &stored);
    assert_eq!(next.delete, ["web-0"]);
    assert!(next.create.is_empty() && next.update.is_empty(), "{next:?}");
}

#[test]
fn pods_offering_different_ports_get_different_slices() {
    let svc = service(json!({"selector": {"app": "web"}, "ports": [
        {"name": "metrics", "port": 9100, "targetPort": "exporter", "protocol": "TCP"}]}));
    let with = |name: &str, ip: &str, port: i32| {
        let mut p = pod(name, ip, true);
        p.spec.as_mut().unwrap().containers[0].ports =
            serde_json::from_value(json!([{"name": "exporter", "containerPort": port}])).ok();
        p
    };
    let list = [with("a", "10.244.0.2", 9100), with("b", "10.244.0.3", 9200)];
    let plan = plan(&svc, &targets(&svc, &list), &[]);
    let shape: Vec<(Vec<&str>, Option<i32>)> = plan
        .create
        .iter()
        .map(|s| (addresses(s), s.ports.as_ref().and_then(|p| p[0].port)))
        .collect();
    assert_eq!(
        shape,
        [
            (vec!["10.244.0.2"], Some(9100)),
            (vec!["10.244.0.3"], Some(9200))
        ]
    );
}

#[test]
fn no_endpoints_means_one_placeholder() {
    let svc = web_service();
    let first = plan(&svc, &[], &[]);
    assert_eq!(first.create.len(), 1);
    assert!(first.create[0].endpoints.is_empty() && first.create[0].ports.is_none());
    let stored = store(&first, 0);
    assert!(plan(&svc, &[], &stored).is_empty());

    // Pods appear: the placeholder becomes their slice.
    let with_pods = plan(&svc, &targets(&svc, &pods(2)), &stored);
    assert!(with_pods.create.is_empty() && with_pods.delete.is_empty());
    assert_eq!(with_pods.update[0].endpoints.len(), 2);

    // Pods go: one slice turns back into the placeholder, the other goes.
    let two = store(&plan(&svc, &targets(&svc, &pods(150)), &[]), 0);
    let emptied = plan(&svc, &[], &two);
    assert_eq!(emptied.delete, ["web-1"]);
    assert_eq!(emptied.update.len(), 1);
    assert!(emptied.update[0].endpoints.is_empty() && emptied.update[0].ports.is_none());
}

#[test]
fn slices_of_another_owner_or_address_type_are_replaced() {
    let svc = web_service();
    let t = targets(&svc, &pods(1));
    let mut stale = store(&plan(&svc, &t, &[]), 0);
    stale[0].metadata.owner_references.as_mut().unwrap()[0].uid = "old-uid".into();
    let mut v6 = store(&plan(&svc, &t, &[]), 1);
    v6[0].address_type = "IPv6".into();
    stale.extend(v6);
    let next = plan(&svc, &t, &stale);
    assert_eq!(next.delete, ["web-0", "web-1"]);
    assert_eq!(next.create.len(), 1);
}

#[test]
fn a_new_target_port_reuses_the_slice() {
    let svc = web_service();
    let stored = store(&plan(&svc, &targets(&svc, &pods(2)), &[]), 0);
    let moved = service(
        json!({"selector": {"app": "web"}, "clusterIP": "10.96.0.20",
        "ports": [{"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"}]}),
    );
    let next = plan(&moved, &targets(&moved, &pods(2)), &stored);
    assert!(next.create.is_empty() && next.delete.is_empty(), "{next:?}");
    assert_eq!(next.update.len(), 1);
    assert_eq!(next.update[0].metadata.name.as_deref(), Some("web-0"));
    let port = next.update[0].ports.as_ref().and_then(|p| p[0].port);
    assert_eq!(port, Some(9090));
    assert_eq!(next.update[0].endpoints.len(), 2);
}

#[test]
fn headless_services_mark_their_slices() {
    let svc = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
    let plan = plan(&svc, &targets(&svc, &pods(1)), &[]);
    let slice = &plan.create[0];
    assert_eq!(slice.ports, None);
    assert_eq!(
        slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(HEADLESS_LABEL))
            .map(String::as_str),
        Some("")
    );
}
