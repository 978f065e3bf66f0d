//! The list of managers on disk and in Endpoints, and failing over between real managers:
//! API servers over one store with serving certificates from one CA, one of them behind a
//! relay that can freeze (a SIGSTOPped or partitioned manager: connections open, no bytes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tutti_apiserver::{ApiConfig, ApiServer, Authenticator};
use tutti_pki::{ClusterCa, Lifetime};

use super::*;

#[test]
fn the_list_survives_a_restart_and_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node").join(FILE);
    assert!(load(&path).unwrap().is_empty(), "no list yet");
    let first = vec!["https://10.0.0.1:6443".to_string()];
    save(&path, &first).unwrap();
    assert_eq!(load(&path).unwrap(), first);
    let three: Vec<String> = [
        "https://10.0.0.1:6443",
        "https://10.0.0.2:6443",
        "https://[fd00::3]:6443",
    ]
    .map(String::from)
    .to_vec();
    save(&path, &three).unwrap();
    assert_eq!(load(&path).unwrap(), three, "the order is kept");
    let files: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, [FILE], "no temporary file is left behind");

    std::fs::write(&path, "{\"managers\": [\"http://10.0.0.1:6443\"]}").unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.contains("managers[0]: expected an https:// URL"),
        "{err}"
    );
    std::fs::write(&path, "not json").unwrap();
    assert!(load(&path).is_err());
}

#[test]
fn endpoints_name_every_manager_at_its_https_port() {
    let endpoints = json!({"subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"name": "metrics", "port": 9090}, {"name": "https", "port": 6443}]},
        {"addresses": [{"ip": "fd00::3"}, {"ip": "10.0.0.1"}], "ports": [{"port": 7443}]},
        {"addresses": [{"ip": "10.0.0.9"}], "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}]},
        {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https", "port": 6443}]}
    ]});
    assert_eq!(
        manager_urls(&endpoints),
        [
            "https://10.0.0.1:6443",
            "https://10.0.0.2:6443",
            "https://[fd00::3]:7443",
            "https://10.0.0.1:7443"
        ]
    );
    assert!(manager_urls(&json!({"metadata": {"name": "kubernetes"}})).is_empty());
    assert!(manager_urls(&json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]})).is_empty());
}

#[test]
fn a_manager_is_replaced_after_repeated_silence_or_one_refused_connection() {
    let silent = Health::Silent;
    assert_eq!(judge(0, &silent, 2), Verdict::Keep { misses: 1 });
    assert_eq!(judge(1, &silent, 2), Verdict::Replace);
    assert_eq!(
        judge(1, &Health::NotReady("503 starting".into()), 2),
        Verdict::Replace
    );
    assert_eq!(judge(1, &Health::Ready, 2), Verdict::Keep { misses: 0 });
    assert_eq!(
        judge(0, &Health::Unreachable("connection refused".into()), 2),
        Verdict::Replace
    );
    assert_eq!(judge(4, &silent, 5), Verdict::Replace);
}

#[test]
fn startup_tries_the_join_address_then_the_saved_list() {
    let saved = ["https://b:1", "https://a:1", "https://c:1"].map(String::from);
    assert_eq!(
        startup_order("https://a:1", &saved),
        ["https://a:1", "https://b:1", "https://c:1"]
    );
    assert_eq!(startup_order("https://a:1", &[]), ["https://a:1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_manager_is_replaced_by_the_next_ready_one_and_its_watch_ends() {
    let cluster = Cluster::new().await;
    let a = cluster.manager().await;
    let b = cluster.manager().await;
    let relay = Relay::start(&a).await;
    let gone = nobody().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let managers = Managers::start_with(dir.path(), &relay.url, cluster.node("w1"), timing())
        .await
        .unwrap();
    assert_eq!(managers.current(), relay.url);
    assert_eq!(
        load(&path).unwrap(),
        [relay.url.as_str()],
        "the join address is kept"
    );

    cluster.publish(&[&relay.url, &gone, &b]).await;
    managers.refresh().await.unwrap();
    assert_eq!(
        load(&path).unwrap(),
        [relay.url.clone(), gone.clone(), b.clone()],
        "the published list is kept, in its order"
    );

    let services: Api<Service> = Api::default_namespaced(managers.client());
    let mut events = services
        .watch(&WatchParams::default().fields("metadata.name=s1"), "0")
        .await
        .unwrap()
        .boxed();
    cluster.service("s1").await;
    assert_added(&mut events, "s1").await;

    relay.freeze();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut misses = 0;
    while managers.current() == relay.url {
        assert!(
            Instant::now() < deadline,
            "no failover from a silent manager"
        );
        misses = managers.check(misses).await;
    }
    assert_eq!(
        managers.current(),
        b,
        "the manager refusing connections is skipped"
    );

    let ended = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the watch on the silent manager still hangs after the failover");
    assert!(matches!(ended, None | Some(Err(_))), "{ended:?}");
    let listed = services
        .list(&ListParams::default().fields("metadata.name=s1"))
        .await
        .unwrap();
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("s1"));
    assert_eq!(managers.check(0).await, 0, "the new manager is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_keeps_a_watch_in_flight_and_failover_ends_it() {
    let cluster = Cluster::new().await;
    let a = cluster.manager().await;
    let dir = tempfile::tempdir().unwrap();
    let managers = Managers::start_with(dir.path(), &a, cluster.node("w1"), timing())
        .await
        .unwrap();
    let services: Api<Service> = Api::default_namespaced(managers.client());
    let mut events = services
        .watch(&WatchParams::default().fields("metadata.name=s1"), "0")
        .await
        .unwrap()
        .boxed();

    let fresh = cluster.node("w1");
    assert_eq!(managers.renewed(&fresh).await.unwrap(), a);
    cluster.service("s1").await;
    assert_added(&mut events, "s1").await;
    assert_eq!(
        managers.check(0).await,
        0,
        "checks use the renewed certificate"
    );

    managers
        .shared
        .client
        .fail_over(fresh.client(&a).await.unwrap());
    let ended = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("a failover leaves the old watch running");
    assert!(matches!(ended, None | Some(Err(_))), "{ended:?}");
    assert_eq!(
        services
            .list(&ListParams::default().fields("metadata.name=s1"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_the_joined_manager_is_stopped_uses_a_saved_one() {
    let cluster = Cluster::new().await;
    let a = cluster.manager().await;
    let b = cluster.manager().await;
    let relay = Relay::start(&a).await;
    relay.freeze();
    let gone = nobody().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let saved = vec![gone.clone(), b.clone()];
    save(&path, &saved).unwrap();

    let managers = Managers::start_with(dir.path(), &relay.url, cluster.node("w1"), timing())
        .await
        .unwrap();
    assert_eq!(managers.current(), b);
    let services: Api<Service> = Api::default_namespaced(managers.client());
    services
        .list(&ListParams::default().fields("metadata.name=s1"))
        .await
        .unwrap();
    assert_eq!(
        load(&path).unwrap(),
        saved,
        "the saved list is left as it was"
    );
}

fn timing() -> Timing {
    Timing {
        health_every: Duration::from_millis(100),
        ..Timing::default()
    }
}

/// Managers of one cluster: API servers over one store, serving certificates from one CA.
struct Cluster {
    ca: ClusterCa,
    store: Arc<dyn tutti_store::Store>,
    admin: kube::Client,
    _pki: tempfile::TempDir,
}

impl Cluster {
    async fn new() -> Cluster {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pki = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(pki.path()).unwrap();
        let store: Arc<dyn tutti_store::Store> = Arc::new(tutti_store::MemoryStore::new());
        let api = ApiServer::new(
            store.clone(),
            ApiConfig::default(),
            Authenticator::default(),
        );
        api.start().await.unwrap();
        let admin = tutti_apiserver::client::in_process_client(&api);
        Cluster {
            ca,
            store,
            admin,
            _pki: pki,
        }
    }

    /// Start another manager on 127.0.0.1; its URL.
    async fn manager(&self) -> String {
        let api = ApiServer::new(
            self.store.clone(),
            ApiConfig::default(),
            Authenticator::default(),
        );
        api.start().await.unwrap();
        let serving = self
            .ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                Lifetime::default(),
            )
            .unwrap();
        let tls = tutti_apiserver::serve::tls_config(
            self.ca.cert_pem(),
            &serving.cert_pem,
            &serving.key_pem,
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(tutti_apiserver::serve::serve_tls(
            listener,
            tls,
            api.router(),
        ));
        url
    }

    /// A node's credentials, as `tutti join` leaves them.
    fn node(&self, name: &str) -> NodeCredentials {
        NodeCredentials {
            ca_pem: self.ca.cert_pem().to_string(),
            cert: self
                .ca
                .issue_client(
                    &format!("system:node:{name}"),
                    &["system:nodes"],
                    Lifetime::default(),
                )
                .unwrap(),
        }
    }

    /// Publish the managers' URLs as the leader does (one subset each: they share an IP).
    async fn publish(&self, urls: &[&str]) {
        let subsets: Vec<Value> = urls
            .iter()
            .map(|u| {
                let addr: SocketAddr = u.trim_start_matches("https://").parse().unwrap();
                json!({"addresses": [{"ip": addr.ip().to_string()}],
                       "ports": [{"name": "https", "port": addr.port(), "protocol": "TCP"}]})
            })
            .collect();
        let endpoints: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "kubernetes"}, "subsets": subsets}))
                .unwrap();
        Api::<Endpoints>::namespaced(self.admin.clone(), "default")
            .create(&PostParams::default(), &endpoints)
            .await
            .unwrap();
    }

    async fn service(&self, name: &str) {
        let service: Service = serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}),
        )
        .unwrap();
        Api::<Service>::default_namespaced(self.admin.clone())
            .create(&PostParams::default(), &service)
            .await
            .unwrap();
    }
}

async fn assert_added<S>(events: &mut S, name: &str)
where
    S: Stream<Item = kube::Result<WatchEvent<Service>>> + Unpin,
{
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("no watch event");
    match event {
        Some(Ok(WatchEvent::Added(s))) => assert_eq!(s.metadata.name.as_deref(), Some(name)),
        other => panic!("expected {name} added, got {other:?}"),
    }
}

/// A URL where nothing listens.
async fn nobody() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!("https://{}", listener.local_addr().unwrap())
}

/// A TCP relay in front of a manager; frozen, it keeps every connection open and accepts
/// new ones, but passes no bytes.
struct Relay {
    url: String,
    frozen: watch::Sender<bool>,
}

impl Relay {
    async fn start(to: &str) -> Relay {
        let upstream = to.trim_start_matches("https://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
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
        Relay { url, frozen }
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
