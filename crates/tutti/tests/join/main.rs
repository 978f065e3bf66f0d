//! Bootstrap and join with real processes: `tutti server` creates the cluster and its join
//! tokens, `tutti join` makes a worker of another data directory; refusals (no token, wrong,
//! rotated, foreign CA, plaintext, other CA) and authorization by identity (what a worker's
//! certificate may read and do); certificates renewing under a running pod.

mod failover;
mod harness;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use harness::{Server, eventually, node_client, node_ready};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;
use tutti_pki::CertInfo;

fn forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>, what: &str) {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {
            assert!(
                s.message.contains(r#"User "system:node:w1" cannot"#),
                "{what}: {}",
                s.message
            );
        }
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

fn obj<T: k8s_openapi::serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn pod(name: &str, node: &str, secret: &str) -> Pod {
    obj(json!({"metadata": {"name": name}, "spec": {
        "nodeName": node,
        "containers": [{"name": "c", "image": "busybox",
            "command": ["/bin/sh", "-c", "echo hello from $GREETING; exec sleep 3600"],
            "env": [{"name": "GREETING", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]}]
    }}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joins_and_its_certificate_reads_only_what_its_pods_need() {
    let server = Server::start(&[]);
    let shown = server.tutti(&[
        "token",
        "show",
        "worker",
        "--data-dir",
        server.data().to_str().unwrap(),
    ]);
    assert_eq!(
        shown, server.token,
        "`tutti token show` prints the token of the first start"
    );
    let w1 = server.join("w1", Some(&server.token), &[]);
    w1.line("tutti: node w1 joined");
    let admin = server.admin().await;
    eventually("w1 Ready", Duration::from_secs(60), || {
        node_ready(&admin, "w1")
    })
    .await;

    let secrets: Api<Secret> = Api::default_namespaced(admin.clone());
    for s in ["s-own", "s-other", "s-free"] {
        let secret = obj(json!({"metadata": {"name": s}, "stringData": {"k": s}}));
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    pods.create(&PostParams::default(), &pod("mine", "w1", "s-own"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("theirs", "w9", "s-other"))
        .await
        .unwrap();

    let worker = node_client(&server.dir.path().join("w1"), &server.addr).await;
    let w_secrets: Api<Secret> = Api::default_namespaced(worker.clone());
    let w_pods: Api<Pod> = Api::default_namespaced(worker.clone());
    forbidden(
        Api::<Secret>::all(worker.clone())
            .list(&ListParams::default())
            .await,
        "listing all secrets",
    );
    forbidden(
        w_secrets.list(&ListParams::default()).await,
        "listing secrets",
    );
    forbidden(
        w_secrets.get("s-other").await,
        "another node's pod's secret",
    );
    forbidden(w_secrets.get("s-free").await, "a secret no pod references");
    forbidden(w_pods.get("theirs").await, "another node's pod");
    forbidden(
        Api::<Pod>::all(worker.clone())
            .list(&ListParams::default())
            .await,
        "all pods",
    );
    let deployment = obj(json!({"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}));
    forbidden(
        Api::<Deployment>::default_namespaced(worker.clone())
            .create(&PostParams::default(), &deployment)
            .await,
        "creating a deployment",
    );
    forbidden(
        Api::<Node>::all(worker.clone())
            .delete("w1", &Default::default())
            .await,
        "deleting a node",
    );

    let own = w_secrets.get("s-own").await.expect("its own pod's secret");
    assert_eq!(own.metadata.name.as_deref(), Some("s-own"));
    assert_eq!(
        w_pods.get("mine").await.unwrap().metadata.name.as_deref(),
        Some("mine")
    );
    let mine = ListParams::default().fields("spec.nodeName=w1");
    assert_eq!(
        Api::<Pod>::all(worker.clone())
            .list(&mine)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // The agent itself runs its pod with nothing more than its own identity.
    eventually("the pod on w1 running", Duration::from_secs(60), || async {
        let p = pods.get("mine").await.unwrap();
        p.status.and_then(|s| s.phase).as_deref() == Some("Running")
    })
    .await;
    eventually(
        "the pod's log through the API server",
        Duration::from_secs(30),
        || async {
            pods.logs("mine", &LogParams::default())
                .await
                .is_ok_and(|l| l.contains("hello from s-own"))
        },
    )
    .await;
    // ...while a worker's certificate is refused at an agent's log endpoint (wrong role).
    let node = Api::<Node>::all(admin.clone()).get("w1").await.unwrap();
    let port = node
        .status
        .unwrap()
        .daemon_endpoints
        .unwrap()
        .kubelet_endpoint
        .unwrap()
        .port;
    let agent = node_client(&server.dir.path().join("w1"), &format!("127.0.0.1:{port}")).await;
    let req = http::Request::get("/containerLogs/default/mine/c")
        .body(Vec::new())
        .unwrap();
    match agent.request_text(req).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{}", s.message),
        other => panic!("a worker read logs from an agent: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_without_the_right_token_or_channel_are_refused() {
    let server = Server::start(&[]);
    let data = server.data();
    let data = data.to_str().unwrap();

    let again = std::process::Command::new(harness::BIN)
        .args([
            "server",
            "--init",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success(), "--init over an existing cluster");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a cluster"));

    let err = server.refused("no-token", None, &[]);
    assert!(err.contains("pass --token"), "{err}");

    let wrong = tutti_pki::JoinToken {
        secret: tutti_pki::random_token(),
        ..tutti_pki::JoinToken::parse(&server.token).unwrap()
    }
    .to_string();
    let err = server.refused("wrong-secret", Some(&wrong), &[]);
    assert!(
        err.contains("join token rejected: it is not a current token"),
        "{err}"
    );

    let secret = tutti_pki::JoinToken::parse(&server.token).unwrap().secret;
    let foreign = format!("TUTTI-1-{}-{secret}", "a".repeat(64));
    let err = server.refused("foreign-ca", Some(&foreign), &[]);
    assert!(
        err.contains("the manager's CA does not match the token: refusing to join"),
        "{err}"
    );

    let err = server.refused("as-manager", Some(&server.token), &["--manager"]);
    assert!(
        err.contains("it is a worker token and cannot join a manager"),
        "{err}"
    );

    let rotated = server.tutti(&["token", "rotate", "worker", "--data-dir", data]);
    assert_ne!(rotated, server.token);
    let err = server.refused("rotated", Some(&server.token), &[]);
    assert!(
        err.contains("not a current token"),
        "the old token stops working: {err}"
    );
    server
        .join("fresh", Some(&rotated), &[])
        .line("tutti: node fresh joined");

    // Plain HTTP to the HTTPS port gets no HTTP answer at all.
    for path in ["/api/v1/secrets", "/join/v1/ca"] {
        let mut tcp = std::net::TcpStream::connect(&server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // One write, errors ignored: the server may drop the connection as soon as the first
        // bytes show it is not TLS, and a later write would then fail with a broken pipe.
        let _ = tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer);
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/"),
            "plaintext {path} was answered: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }

    // A certificate from another cluster's CA is refused in the handshake.
    let other = tempfile::tempdir().unwrap();
    let stranger = tutti_pki::ClusterCa::load_or_create(other.path())
        .unwrap()
        .issue_client("admin", &["system:masters"], tutti_pki::Lifetime::default())
        .unwrap();
    let ca = std::fs::read_to_string(server.data().join("pki/ca.crt")).unwrap();
    let yaml = tutti_pki::kubeconfig_yaml(
        "x",
        &format!("https://{}", server.addr),
        &ca,
        &stranger.cert_pem,
        &stranger.key_pem,
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let result = Api::<Secret>::all(client)
        .list(&ListParams::default())
        .await;
    assert!(
        !matches!(result, Ok(_) | Err(kube::Error::Api(_))),
        "a foreign CA's certificate got an HTTP answer: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_renew_before_expiry_without_touching_pods() {
    let mut server = Server::start(&["--cert-lifetime", "20s"]);
    let w1 = server.join("w1", Some(&server.token), &[]);
    w1.line("tutti: node w1 joined");
    let admin = server.admin().await;
    eventually("w1 Ready", Duration::from_secs(60), || {
        node_ready(&admin, "w1")
    })
    .await;
    let cert_path = server.dir.path().join("w1/pki/node.crt");
    let first = std::fs::read_to_string(&cert_path).unwrap();
    let first_info = CertInfo::parse(&first).unwrap();

    let secrets: Api<Secret> = Api::default_namespaced(admin.clone());
    let secret = obj(json!({"metadata": {"name": "s-own"}, "stringData": {"k": "renewal"}}));
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    pods.create(&PostParams::default(), &pod("mine", "w1", "s-own"))
        .await
        .unwrap();
    let container_id = || async {
        let p = pods.get("mine").await.unwrap();
        let s = p
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        s.first()
            .filter(|c| c.ready)
            .map(|c| (c.container_id.clone(), c.restart_count))
    };
    eventually("the pod ready", Duration::from_secs(60), || async {
        container_id().await.is_some()
    })
    .await;
    let before = container_id().await;

    let line = w1.logged("node certificate renewed", Duration::from_secs(40));
    assert!(line.contains("w1"), "{line}");
    let renewed = std::fs::read_to_string(&cert_path).unwrap();
    assert_ne!(renewed, first, "the certificate on disk was replaced");
    let renewed_info = CertInfo::parse(&renewed).unwrap();
    assert_eq!(renewed_info.common_name, "system:node:w1");
    assert!(renewed_info.not_after > first_info.not_after);

    // After the first certificate expired and the manager restarted (so no connection
    // opened with the old certificate survives), the agent still talks to the API server...
    let expired = first_info.not_after + Duration::from_secs(1);
    eventually(
        "the first certificate to expire",
        Duration::from_secs(30),
        || async { SystemTime::now() > expired },
    )
    .await;
    server.restart();
    let admin = server.admin().await;
    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    let container_id = || async {
        let p = pods.get("mine").await.unwrap();
        let s = p
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        s.first()
            .filter(|c| c.ready)
            .map(|c| (c.container_id.clone(), c.restart_count))
    };
    let restarted = SystemTime::now();
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-node-lease");
    eventually(
        "a lease renewal after the old certificate expired",
        Duration::from_secs(30),
        || async {
            let lease = leases.get("w1").await.unwrap();
            let renewed_at = lease.spec.and_then(|s| s.renew_time).map(|t| t.0);
            let restarted_at = k8s_openapi::jiff::Timestamp::try_from(restarted).unwrap();
            renewed_at.is_some_and(|t| t > restarted_at)
        },
    )
    .await;
    // ...the API server still reaches its log endpoint (new serving certificate)...
    let logs = pods.logs("mine", &LogParams::default()).await.unwrap();
    assert!(logs.contains("hello from renewal"), "{logs}");
    // ...and the container was never touched.
    assert_eq!(
        container_id().await,
        before,
        "renewal changed the running container"
    );
}
