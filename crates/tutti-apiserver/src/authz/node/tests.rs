//! The node authorizer's rules, request by request.

use axum::http::Method;
use serde_json::json;

use super::*;
use crate::paths;

fn ask(method: Method, group: &str, version: &str, path: &str, query: &str) -> Decision {
    let target = paths::parse(group, version, path).unwrap();
    let params = Params::parse(Some(query));
    let verb = Verb::of(&method, &target, &params);
    decide("w1", verb, &target, &params)
}

fn core(method: Method, path: &str, query: &str) -> Decision {
    ask(method, "", "v1", path, query)
}

fn denied(d: Decision) -> bool {
    matches!(d, Decision::Deny(_))
}

#[test]
fn a_node_manages_only_its_own_node_object() {
    assert_eq!(core(Method::GET, "nodes", ""), Decision::Allow);
    assert_eq!(core(Method::GET, "nodes", "watch=true"), Decision::Allow);
    assert_eq!(core(Method::GET, "nodes/w1", ""), Decision::Allow);
    assert_eq!(core(Method::PATCH, "nodes/w1/status", ""), Decision::Allow);
    assert_eq!(core(Method::PUT, "nodes/w1", ""), Decision::Allow);
    assert_eq!(
        core(Method::POST, "nodes", ""),
        Decision::IfBodyNamedAfterNode
    );
    assert!(denied(core(Method::GET, "nodes/w2", "")));
    assert!(denied(core(Method::PATCH, "nodes/w2/status", "")));
    assert!(denied(core(Method::DELETE, "nodes/w1", "")));
    assert!(denied(core(Method::DELETE, "nodes", "")));
}

#[test]
fn a_node_uses_only_its_own_lease() {
    let lease = |m: Method, p: &str| ask(m, "coordination.k8s.io", "v1", p, "");
    let ns = "namespaces/kube-node-lease/leases";
    assert_eq!(lease(Method::GET, &format!("{ns}/w1")), Decision::Allow);
    assert_eq!(lease(Method::PATCH, &format!("{ns}/w1")), Decision::Allow);
    assert_eq!(lease(Method::PUT, &format!("{ns}/w1")), Decision::Allow);
    assert_eq!(lease(Method::POST, ns), Decision::IfBodyNamedAfterNode);
    assert!(denied(lease(Method::PATCH, &format!("{ns}/w2"))));
    assert!(denied(lease(Method::GET, ns)));
    assert!(denied(lease(Method::POST, "namespaces/kube-system/leases")));
}

#[test]
fn a_node_lists_only_its_own_pods() {
    assert_eq!(
        core(Method::GET, "pods", "fieldSelector=spec.nodeName%3Dw1"),
        Decision::Allow
    );
    assert_eq!(
        core(
            Method::GET,
            "pods",
            "watch=1&fieldSelector=spec.nodeName%3D%3Dw1,status.phase%3DRunning"
        ),
        Decision::Allow
    );
    assert!(denied(core(Method::GET, "pods", "")));
    assert!(denied(core(Method::GET, "namespaces/default/pods", "")));
    assert!(denied(core(
        Method::GET,
        "pods",
        "fieldSelector=spec.nodeName%3Dw2"
    )));
    assert!(denied(core(
        Method::GET,
        "pods",
        "fieldSelector=spec.nodeName!%3Dw1"
    )));
    assert!(denied(core(
        Method::GET,
        "pods",
        "fieldSelector=spec.nodeName%3Dw1x"
    )));
}

#[test]
fn pod_reads_and_writes_depend_on_the_binding() {
    let p = "namespaces/default/pods/web";
    for (m, path) in [
        (Method::GET, p.to_string()),
        (Method::GET, format!("{p}/status")),
        (Method::PATCH, format!("{p}/status")),
        (Method::PUT, format!("{p}/status")),
        (Method::DELETE, p.to_string()),
    ] {
        assert_eq!(
            core(m.clone(), &path, ""),
            Decision::IfPodOnNode,
            "{m} {path}"
        );
    }
    assert!(
        denied(core(Method::PATCH, p, "")),
        "only status is a node's"
    );
    assert!(denied(core(Method::POST, "namespaces/default/pods", "")));
    assert!(denied(core(Method::GET, &format!("{p}/log"), "")));
    assert!(denied(core(Method::DELETE, "namespaces/default/pods", "")));
}

#[test]
fn secrets_and_configmaps_only_by_name_and_reference() {
    for kind in ["secrets", "configmaps"] {
        assert_eq!(
            core(Method::GET, &format!("namespaces/default/{kind}/s1"), ""),
            Decision::IfReferencedByPodOnNode
        );
        assert!(denied(core(
            Method::GET,
            &format!("namespaces/default/{kind}"),
            ""
        )));
        assert!(denied(core(Method::GET, kind, "")));
        assert!(denied(core(
            Method::GET,
            &format!("namespaces/default/{kind}/s1"),
            "watch=true"
        )));
        assert!(denied(core(
            Method::PUT,
            &format!("namespaces/default/{kind}/s1"),
            ""
        )));
    }
}

#[test]
fn events_services_and_nothing_else() {
    assert_eq!(
        core(Method::POST, "namespaces/default/events", ""),
        Decision::Allow
    );
    assert_eq!(
        core(Method::PATCH, "namespaces/default/events/e1", ""),
        Decision::Allow
    );
    assert_eq!(core(Method::GET, "services", "watch=1"), Decision::Allow);
    assert_eq!(core(Method::GET, "endpoints", ""), Decision::Allow);
    assert!(denied(core(Method::GET, "namespaces/default/events", "")));
    assert!(denied(core(
        Method::POST,
        "namespaces/default/services",
        ""
    )));
    assert!(denied(core(Method::GET, "namespaces", "")));
    assert!(denied(ask(
        Method::POST,
        "apps",
        "v1",
        "namespaces/default/deployments",
        ""
    )));
    assert!(denied(ask(Method::GET, "apps", "v1", "deployments", "")));
}

#[test]
fn a_node_reads_but_never_writes_the_managers_endpoints() {
    let managers = "namespaces/default/endpoints/kubernetes";
    assert_eq!(core(Method::GET, managers, ""), Decision::Allow);
    assert_eq!(
        core(
            Method::GET,
            "namespaces/default/endpoints",
            "watch=true&fieldSelector=metadata.name%3Dkubernetes"
        ),
        Decision::Allow
    );
    for m in [Method::PUT, Method::PATCH, Method::DELETE] {
        assert!(denied(core(m.clone(), managers, "")), "{m}");
    }
    assert!(denied(core(
        Method::POST,
        "namespaces/default/endpoints",
        ""
    )));
}

#[test]
fn references_cover_volumes_env_and_pull_secrets() {
    let pod = json!({"spec": {
        "nodeName": "w1",
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-vol"}},
            {"name": "b", "secret": {"secretName": "s-vol"}},
            {"name": "c", "projected": {"sources": [
                {"configMap": {"name": "cm-proj"}}, {"secret": {"name": "s-proj"}}]}}
        ],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s-init"}}]}],
        "containers": [{"name": "c",
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "k"}}},
                    {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}}],
            "envFrom": [{"configMapRef": {"name": "cm-from"}}]}]
    }});
    let (cms, secrets) = references(&pod);
    assert_eq!(
        cms.into_iter().collect::<Vec<_>>(),
        ["cm-env", "cm-from", "cm-proj", "cm-vol"]
    );
    assert_eq!(
        secrets.into_iter().collect::<Vec<_>>(),
        ["pull", "s-env", "s-init", "s-proj", "s-vol"]
    );
    assert_eq!(node_of(&pod), Some("w1"));
    assert_eq!(node_of(&json!({"spec": {"nodeName": ""}})), None);
}

#[test]
fn field_selectors_name_the_node_exactly() {
    assert!(selects_node("spec.nodeName=w1", "w1"));
    assert!(selects_node("metadata.name=x, spec.nodeName==w1", "w1"));
    assert!(!selects_node("spec.nodeName!=w1", "w1"));
    assert!(!selects_node("spec.nodeName=w2", "w1"));
    assert!(!selects_node("", "w1"));
    assert!(!selects_node("spec.nodeName", "w1"));
}
