//! A worker failing over between managers without touching its pods. The worker joins
//! through a relay in front of the manager, and learns the manager's own address from the
//! Endpoints `default/kubernetes` (which the Raft leader publishes). Freezing the relay (a
//! SIGSTOPped or partitioned manager: connections open, no bytes) moves the agent to the
//! published address, and restarting the agent while the relay stays frozen starts there.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::harness::{Proc, Server, eventually, node_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_moves_to_another_manager_when_its_manager_stops_answering() {
    let server = Server::start(&[]);
    let relay = Relay::start(&server.addr).await;
    let data = server.dir.path().join("w1");
    let join = |token: Option<&str>| {
        let mut args = vec![
            "join",
            &relay.addr,
            "--node-name",
            "w1",
            "--runtime",
            "process",
            "--log-port",
            "0",
            "--data-dir",
            data.to_str().unwrap(),
        ];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        Proc::spawn(&args)
    };
    let w1 = join(Some(&server.token));
    w1.line(&format!("tutti: node w1 joined https://{}", relay.addr));
    let admin = server.admin().await;
    eventually("w1 Ready", Duration::from_secs(60), || {
        node_ready(&admin, "w1")
    })
    .await;

    let direct = format!("https://{}", server.addr);
    let saved = data.join("managers.json");
    eventually(
        "the manager's published address saved",
        Duration::from_secs(60),
        || async { std::fs::read_to_string(&saved).is_ok_and(|s| s.contains(&direct)) },
    )
    .await;

    let pods: Api<Pod> = Api::default_namespaced(admin.clone());
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "steady"}, "spec": {
        "nodeName": "w1",
        "containers": [{"name": "c", "image": "busybox",
            "command": ["/bin/sh", "-c", "exec sleep 3600"]}]
    }}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let container = || async {
        let p = pods.get("steady").await.unwrap();
        let s = p
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        s.first()
            .filter(|c| c.ready)
            .map(|c| (c.container_id.clone(), c.restart_count))
    };
    eventually("the pod ready", Duration::from_secs(60), || async {
        container().await.is_some()
    })
    .await;
    let before = container().await;

    relay.freeze();
    let line = w1.logged(
        &format!("switching to manager {direct}"),
        Duration::from_secs(60),
    );
    assert!(line.contains("WARN"), "{line}");
    let switched = k8s_openapi::jiff::Timestamp::try_from(SystemTime::now()).unwrap();
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-node-lease");
    eventually(
        "a lease renewal through the other manager",
        Duration::from_secs(60),
        || async {
            let lease = leases.get("w1").await.unwrap();
            let renewed = lease.spec.and_then(|s| s.renew_time).map(|t| t.0);
            renewed.is_some_and(|t| t > switched)
        },
    )
    .await;
    assert!(node_ready(&admin, "w1").await, "w1 stayed Ready");
    assert_eq!(
        container().await,
        before,
        "the failover touched the running container"
    );

    // Restarted while the address it joined with is still silent, the agent starts with the
    // saved manager.
    drop(w1);
    let again = join(None);
    again.line(&format!("tutti: node w1 joined {direct}"));
}

/// A TCP relay in front of a manager; frozen, it keeps every connection open and accepts
/// new ones, but passes no bytes.
struct Relay {
    addr: String,
    frozen: watch::Sender<bool>,
}

impl Relay {
    async fn start(to: &str) -> Relay {
        let upstream = to.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let frozen = watch::Sender::new(false);
        let gate = frozen.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pump(client_read, server_write, gate.clone()));
                    pump(server_read, client_write, gate).await;
                });
            }
        });
        Relay { addr, frozen }
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut gate: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if gate.wait_for(|frozen| !*frozen).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
