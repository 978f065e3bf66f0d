//! `kubectl logs` through the API server: the request reaches the pod's node agent over
//! mutual TLS, and the agent refuses callers without a cluster certificate.

mod common;

use common::TestServer;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tutti_pki::Lifetime;

/// A stand-in for the node agent's log endpoint, served the way the agent is.
async fn fake_agent(srv: &TestServer) -> u16 {
    let serving = srv
        .ca
        .issue_server(&[], &["127.0.0.1".parse().unwrap()], Lifetime::default())
        .unwrap();
    let tls = tutti_apiserver::serve::tls_config_require_client(
        &srv.ca_pem,
        &serving.cert_pem,
        &serving.key_pem,
    )
    .unwrap();
    let router = axum::Router::new().route(
        "/containerLogs/{ns}/{pod}/{container}",
        axum::routing::get(
            |axum::extract::Path((ns, pod, c)): axum::extract::Path<(String, String, String)>,
             axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                format!("log of {ns}/{pod}/{c} query={}\n", q.unwrap_or_default())
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(tutti_apiserver::serve::serve_tls(listener, tls, router));
    port
}

#[tokio::test]
async fn logs_are_proxied_to_the_node_agent() {
    let srv = TestServer::start().await;
    let port = fake_agent(&srv).await;
    let client = srv.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap(),
        )
        .await
        .unwrap();
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }});
    nodes
        .patch_status("n1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod = json!({"metadata": {"name": "web"}, "spec": {"nodeName": "n1", "containers": [{"name": "nginx", "image": "nginx"}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();

    let text = pods
        .logs(
            "web",
            &LogParams {
                tail_lines: Some(5),
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(text.starts_with("log of default/web/nginx"), "{text}");
    assert!(
        text.contains("tailLines=5") && text.contains("previous=true"),
        "{text}"
    );

    // A wrong container name is the client's mistake.
    let err = pods
        .logs(
            "web",
            &LogParams {
                container: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 400));

    // The agent's endpoint refuses anyone without a cluster client certificate.
    let raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    roots
        .add(CertificateDer::from_pem_slice(srv.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let anon = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(anon))
        .connect(name, raw)
        .await;
    let refused = match tls {
        Err(_) => true,
        Ok(mut s) => {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET /containerLogs/default/web/nginx HTTP/1.1\r\nHost: x\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            matches!(s.read_to_end(&mut buf).await, Err(_) | Ok(0))
        }
    };
    assert!(refused, "an unauthenticated caller must not read logs");
}
