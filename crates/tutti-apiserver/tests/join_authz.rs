//! Joining and authorization by identity, through the real router: the join endpoints with a
//! real CA and token store, and what a node's identity may do with real objects.

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tutti_apiserver::{ApiConfig, ApiServer, Authenticator, Identity};
use tutti_pki::{CertInfo, ClusterCa, Enrollment, JoinTokens, Lifetime, NodeCsr, Role};

fn node(name: &str) -> Identity {
    Identity::User {
        name: format!("system:node:{name}"),
        groups: vec!["system:nodes".into()],
    }
}

async fn call(
    api: &Arc<ApiServer>,
    who: Option<Identity>,
    method: Method,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/json")
        .body(Body::from(if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        }))
        .unwrap();
    if let Some(id) = who {
        req.extensions_mut().insert(id);
    }
    let resp = api.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn pod(name: &str, node: &str, secret: &str, cm: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "nodeName": node,
        "containers": [{"name": "c", "image": "busybox",
            "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]}],
        "volumes": [{"name": "v", "configMap": {"name": cm}}]
    }})
}

/// Admin-created objects: pods on w1 and w2, each referencing its own secret and configmap.
async fn cluster() -> Arc<ApiServer> {
    let (api, _) = tutti_apiserver::client::test_server().await.unwrap();
    let admin = Some(Identity::Internal);
    let ns = "/api/v1/namespaces/default";
    for s in ["s-w1", "s-w2", "s-none"] {
        let obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s}, "data": {"k": "eA=="}});
        let (code, _) = call(
            &api,
            admin.clone(),
            Method::POST,
            &format!("{ns}/secrets"),
            obj,
        )
        .await;
        assert_eq!(code, StatusCode::CREATED);
    }
    for c in ["cm-w1", "cm-w2"] {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": c}});
        let (code, _) = call(
            &api,
            admin.clone(),
            Method::POST,
            &format!("{ns}/configmaps"),
            obj,
        )
        .await;
        assert_eq!(code, StatusCode::CREATED);
    }
    for (p, n) in [("p1", "w1"), ("p2", "w2")] {
        let obj = pod(p, n, &format!("s-{n}"), &format!("cm-{n}"));
        let (code, body) = call(
            &api,
            admin.clone(),
            Method::POST,
            &format!("{ns}/pods"),
            obj,
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    api
}

#[tokio::test]
async fn a_node_reads_only_what_its_pods_need() {
    let api = cluster().await;
    let w1 = || Some(node("w1"));
    let ns = "/api/v1/namespaces/default";
    let cases: &[(Method, String, StatusCode, &str)] = &[
        (
            Method::GET,
            format!("{ns}/secrets/s-w1"),
            StatusCode::OK,
            "its pod's secret",
        ),
        (
            Method::GET,
            format!("{ns}/configmaps/cm-w1"),
            StatusCode::OK,
            "its pod's configmap",
        ),
        (
            Method::GET,
            format!("{ns}/secrets/s-w2"),
            StatusCode::FORBIDDEN,
            "another node's secret",
        ),
        (
            Method::GET,
            format!("{ns}/configmaps/cm-w2"),
            StatusCode::FORBIDDEN,
            "another node's configmap",
        ),
        (
            Method::GET,
            format!("{ns}/secrets/s-none"),
            StatusCode::FORBIDDEN,
            "an unreferenced secret",
        ),
        (
            Method::GET,
            format!("{ns}/secrets"),
            StatusCode::FORBIDDEN,
            "listing secrets",
        ),
        (
            Method::GET,
            "/api/v1/secrets".into(),
            StatusCode::FORBIDDEN,
            "listing all secrets",
        ),
        (
            Method::GET,
            format!("{ns}/pods/p1"),
            StatusCode::OK,
            "its own pod",
        ),
        (
            Method::GET,
            format!("{ns}/pods/p2"),
            StatusCode::FORBIDDEN,
            "another node's pod",
        ),
        (
            Method::GET,
            format!("{ns}/pods/gone"),
            StatusCode::NOT_FOUND,
            "a pod that is gone",
        ),
        (
            Method::GET,
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dw1".into(),
            StatusCode::OK,
            "its pods",
        ),
        (
            Method::GET,
            "/api/v1/pods".into(),
            StatusCode::FORBIDDEN,
            "all pods",
        ),
        (
            Method::GET,
            "/api/v1/nodes".into(),
            StatusCode::OK,
            "the node list",
        ),
        (
            Method::DELETE,
            format!("{ns}/pods/p2"),
            StatusCode::FORBIDDEN,
            "deleting another node's pod",
        ),
        (
            Method::GET,
            "/apis/apps/v1/deployments".into(),
            StatusCode::FORBIDDEN,
            "deployments",
        ),
        (
            Method::GET,
            "/api/v1/namespaces".into(),
            StatusCode::FORBIDDEN,
            "namespaces",
        ),
        (Method::GET, "/api".into(), StatusCode::OK, "discovery"),
    ];
    for (method, uri, want, what) in cases {
        let (code, body) = call(&api, w1(), method.clone(), uri, Value::Null).await;
        assert_eq!(code, *want, "{what}: {method} {uri}: {body}");
        if *want == StatusCode::FORBIDDEN {
            assert_eq!(body["reason"], "Forbidden", "{what}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains(r#"User "system:node:w1" cannot"#),
                "{message}"
            );
        }
    }
    let (_, body) = call(&api, w1(), Method::GET, "/api/v1/pods", Value::Null).await;
    assert_eq!(
        body["message"],
        r#"pods is forbidden: User "system:node:w1" cannot list resource "pods" in API group "" at the cluster scope: a node may only list pods with fieldSelector spec.nodeName=w1"#
    );
    let (code, _) = call(
        &api,
        w1(),
        Method::POST,
        "/apis/apps/v1/namespaces/default/deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a node creates no deployment");
}

#[tokio::test]
async fn a_node_registers_only_itself() {
    let api = cluster().await;
    let node_obj = |n: &str| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}});
    let (code, body) = call(
        &api,
        Some(node("w1")),
        Method::POST,
        "/api/v1/nodes",
        node_obj("w1"),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, _) = call(
        &api,
        Some(node("w1")),
        Method::POST,
        "/api/v1/nodes",
        node_obj("w2"),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "registering another node");
    let (code, _) = call(&api, None, Method::POST, "/api/v1/nodes", node_obj("w3")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let patch = json!({"metadata": {"labels": {"a": "b"}}});
    let (code, _) = call(
        &api,
        Some(node("w2")),
        Method::PATCH,
        "/api/v1/nodes/w1",
        patch,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "patching another node");
    let lease = |n: &str| json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": n}});
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let (code, body) = call(&api, Some(node("w1")), Method::POST, leases, lease("w1")).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, _) = call(&api, Some(node("w1")), Method::POST, leases, lease("w2")).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "another node's lease");
    // A certificate with another name gets nothing but discovery.
    let eve = Identity::User {
        name: "eve".into(),
        groups: vec![],
    };
    let (code, _) = call(
        &api,
        Some(eve.clone()),
        Method::GET,
        "/api/v1/nodes",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = call(&api, Some(eve), Method::GET, "/apis", Value::Null).await;
    assert_eq!(code, StatusCode::OK);
}

struct Joinable {
    _dir: tempfile::TempDir,
    api: Arc<ApiServer>,
    worker_token: String,
    ca: Arc<ClusterCa>,
}

async fn joinable() -> Joinable {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let ca = Arc::new(ClusterCa::load_or_create(&pki).unwrap());
    let (tokens, _) = JoinTokens::load_or_create(&pki).unwrap();
    let digest = tutti_pki::ca_digest(ca.cert_pem()).unwrap();
    let enrollment = Enrollment::new(ca.clone(), &pki, Lifetime::default()).unwrap();
    let store: Arc<dyn tutti_store::Store> = Arc::new(tutti_store::MemoryStore::new());
    let api = ApiServer::new(
        store,
        ApiConfig {
            join: Some(Arc::new(enrollment)),
            ..ApiConfig::default()
        },
        Authenticator::default(),
    );
    api.start().await.unwrap();
    Joinable {
        _dir: dir,
        api,
        worker_token: tokens.token(Role::Worker, &digest).to_string(),
        ca,
    }
}

#[tokio::test]
async fn joining_needs_a_current_token_and_renewal_a_node_certificate() {
    let j = joinable().await;
    let (code, body) = call(&j.api, None, Method::GET, "/join/v1/ca", Value::Null).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body.as_str(), Some(j.ca.cert_pem()));
    let join = |token: &str| {
        json!({"token": token, "nodeName": "w1", "role": "worker",
               "csr": NodeCsr::generate("w1").unwrap().csr_pem, "ips": ["127.0.0.1"]})
    };
    let (code, body) = call(
        &j.api,
        None,
        Method::POST,
        "/join/v1/node",
        join(&j.worker_token),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let cert = CertInfo::parse(body["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(cert.common_name, "system:node:w1");
    assert_eq!(cert.organizations, ["system:nodes"]);

    let wrong = tutti_pki::JoinToken {
        secret: tutti_pki::random_token(),
        ..tutti_pki::JoinToken::parse(&j.worker_token).unwrap()
    }
    .to_string();
    for (token, says) in [
        (wrong.as_str(), "not a current token"),
        ("", "not a join token"),
    ] {
        let (code, body) = call(&j.api, None, Method::POST, "/join/v1/node", join(token)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["kind"], "Status");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let mut as_manager = join(&j.worker_token);
    as_manager["role"] = json!("manager");
    let (code, _) = call(&j.api, None, Method::POST, "/join/v1/node", as_manager).await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "a worker token makes no manager"
    );

    let renew = json!({"csr": NodeCsr::generate("w1").unwrap().csr_pem});
    let (code, body) = call(
        &j.api,
        Some(node("w1")),
        Method::POST,
        "/join/v1/renew",
        renew.clone(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _) = call(&j.api, None, Method::POST, "/join/v1/renew", renew.clone()).await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "renewal needs a certificate"
    );
    let admin = Identity::User {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
    };
    let (code, _) = call(&j.api, Some(admin), Method::POST, "/join/v1/renew", renew).await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "only nodes renew node certificates"
    );
}

#[tokio::test]
async fn a_server_without_a_join_authority_admits_no_one() {
    let (api, _) = tutti_apiserver::client::test_server().await.unwrap();
    let (code, _) = call(&api, None, Method::GET, "/join/v1/ca", Value::Null).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
