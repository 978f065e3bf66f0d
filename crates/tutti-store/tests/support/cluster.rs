//! In-process clusters of `RaftStore`s for tests and benchmarks: one cluster CA (tutti-pki),
//! an mTLS server per member on a 127.0.0.1 port serving the member's `raft_router`, and
//! helpers to form a cluster, kill a member (its server and all its connections vanish, its
//! store shuts down) and restart it on the same port and directory.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tutti_pki::{ClusterCa, Lifetime};
use tutti_store::{Bootstrap, RaftStore, RaftStoreConfig};

/// The cluster CA and the TLS configurations every member uses (one serving certificate for
/// 127.0.0.1, one manager client certificate).
pub struct Pki {
    _dir: TempDir,
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("pki dir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("cluster CA");
        let ip = "127.0.0.1".parse().expect("ip");
        let serving = ca
            .issue_server(&["localhost".to_string()], &[ip], Lifetime::default())
            .expect("serving certificate");
        let client = ca
            .issue_client("tutti-manager", &["system:managers"], Lifetime::default())
            .expect("client certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("ca pem"))
            .expect("ca root");
        let roots = Arc::new(roots);
        let chain = |pem: &str| -> Vec<CertificateDer<'static>> {
            CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("certificate pem")
        };
        let key = |pem: &str| PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("key pem");
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .expect("client verifier");
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain(&serving.cert_pem), key(&serving.key_pem))
            .expect("server config");
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain(&client.cert_pem), key(&client.key_pem))
            .expect("client config");
        Pki {
            _dir: dir,
            server: Arc::new(server),
            client: Arc::new(client),
        }
    }
}

/// Accept mTLS connections and serve `router` on each; aborting the task closes the listener
/// and every connection (a killed manager).
async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, router: Router) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let router = router.clone();
                connections.spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn listen(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("reuseaddr");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("bind 127.0.0.1");
    socket.listen(1024).expect("listen")
}

/// One manager: its directory and port outlive kills and restarts.
pub struct Member {
    pub id: u64,
    pub port: u16,
    pub dir: PathBuf,
    pub store: Option<RaftStore>,
    server: Option<JoinHandle<()>>,
}

impl Member {
    pub fn addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

pub struct Cluster {
    pub pki: Pki,
    root: TempDir,
    /// Options every member opens with (address, TLS and bootstrap are filled in per member).
    pub config: RaftStoreConfig,
    pub members: Vec<Member>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(server) = member.server.take() {
                server.abort();
            }
        }
    }
}

impl Cluster {
    pub fn new(config: RaftStoreConfig) -> Cluster {
        Cluster::new_in(&std::env::temp_dir(), config)
    }

    /// A cluster whose members keep their data under `parent`.
    pub fn new_in(parent: &Path, config: RaftStoreConfig) -> Cluster {
        Cluster {
            pki: Pki::new(),
            root: tempfile::tempdir_in(parent).expect("cluster dir"),
            config,
            members: Vec::new(),
        }
    }

    /// A cluster of `size` voters: member 1 creates it, the others join as learners and are
    /// promoted.
    pub async fn form(size: u64, config: RaftStoreConfig) -> Cluster {
        Cluster::form_in(&std::env::temp_dir(), size, config).await
    }

    pub async fn form_in(parent: &Path, size: u64, config: RaftStoreConfig) -> Cluster {
        let mut cluster = Cluster::new_in(parent, config);
        cluster.start(1, Bootstrap::NewCluster).await;
        let first = cluster.store(1).clone();
        for id in 2..=size {
            cluster.start(id, Bootstrap::Join).await;
            let addr = cluster.member(id).addr();
            first.add_learner(id, &addr).await.expect("add learner");
            first.promote(id).await.expect("promote");
        }
        cluster
    }

    pub fn member(&self, id: u64) -> &Member {
        self.members.iter().find(|m| m.id == id).expect("member")
    }

    fn member_mut(&mut self, id: u64) -> &mut Member {
        self.members
            .iter_mut()
            .find(|m| m.id == id)
            .expect("member")
    }

    pub fn store(&self, id: u64) -> &RaftStore {
        self.member(id).store.as_ref().expect("member is running")
    }

    /// Ids of running members.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| m.store.is_some())
            .map(|m| m.id)
            .collect()
    }

    /// Start (or restart, same port and directory) member `id`.
    pub async fn start(&mut self, id: u64, bootstrap: Bootstrap) -> RaftStore {
        let listener = match self.members.iter().find(|m| m.id == id) {
            Some(member) => listen(member.port),
            None => {
                let listener = listen(0);
                let port = listener.local_addr().expect("local addr").port();
                let dir = self.root.path().join(format!("member-{id}"));
                self.members.push(Member {
                    id,
                    port,
                    dir,
                    store: None,
                    server: None,
                });
                listener
            }
        };
        let (port, dir) = {
            let m = self.member(id);
            (m.port, m.dir.clone())
        };
        let config = RaftStoreConfig {
            advertise_addr: format!("https://127.0.0.1:{port}"),
            peer_tls: Some(self.pki.client.clone()),
            bootstrap,
            ..self.config.clone()
        };
        let store = RaftStore::open_with_config(&dir, id, config)
            .await
            .expect("open member");
        let server = tokio::spawn(serve(
            listener,
            self.pki.server.clone(),
            store.raft_router(),
        ));
        let member = self.member_mut(id);
        member.store = Some(store.clone());
        member.server = Some(server);
        store
    }

    /// Kill member `id`: its network vanishes first, then its store shuts down.
    pub async fn kill(&mut self, id: u64) {
        let member = self.member_mut(id);
        if let Some(server) = member.server.take() {
            server.abort();
            let _ = server.await;
        }
        if let Some(store) = member.store.take() {
            store.shutdown().await.expect("shutdown");
        }
    }

    /// The member every running member agrees leads, waiting up to `within`.
    pub async fn leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(id) = self.agreed_leader() {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A running member that leads and that every running member names as leader.
    pub fn agreed_leader(&self) -> Option<u64> {
        let running = self.running();
        let first = self.store(*running.first()?).leader()?.0;
        let agreed = running
            .iter()
            .all(|&id| self.store(id).leader().map(|(l, _)| l) == Some(first));
        (agreed && running.contains(&first)).then_some(first)
    }

    /// A running member that is not the leader.
    pub async fn follower(&self) -> u64 {
        let leader = self.leader(Duration::from_secs(10)).await;
        self.running()
            .into_iter()
            .find(|&id| id != leader)
            .expect("a follower")
    }

    /// Wait until every running member applied everything the leader has.
    pub async fn converged(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let indexes: Vec<Option<u64>> = self
                .running()
                .iter()
                .map(|&id| self.store(id).stats().last_applied_index)
                .collect();
            let last = self
                .running()
                .iter()
                .filter_map(|&id| self.store(id).stats().last_log_index)
                .max();
            if indexes.iter().all(|&i| i == last) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "members did not converge: {indexes:?} vs {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
