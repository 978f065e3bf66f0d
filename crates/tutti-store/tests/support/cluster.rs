//! In-process clusters of `RaftStore`s for tests and benchmarks: one cluster CA (tutti-pki),
//! an mTLS server per member on a 127.0.0.1 port serving the member's `raft_router`, and
//! helpers to form a cluster, kill a member (its server and all its connections vanish, its
//! store shuts down) and restart it on the same port and directory, and to partition the
//! network between members and heal it (see [`Network`]).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tutti_pki::{ClusterCa, Lifetime};
use tutti_store::{Bootstrap, RaftStore, RaftStoreConfig};

/// The cluster CA and the TLS configurations members use: one serving certificate for
/// 127.0.0.1, a manager client certificate for callers outside the cluster (`client`), and
/// (from [`Pki::manager_client`]) one client certificate per member, so that a member's server
/// can tell which member dialed it.
pub struct Pki {
    _dir: TempDir,
    ca: ClusterCa,
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificate pem")
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("key pem")
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("pki dir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("cluster CA");
        let ip = "127.0.0.1".parse().expect("ip");
        let serving = ca
            .issue_server(&["localhost".to_string()], &[ip], Lifetime::default())
            .expect("serving certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("ca pem"))
            .expect("ca root");
        let roots = Arc::new(roots);
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
        let client = manager_client(&ca, &provider, &roots, "tutti-manager").0;
        Pki {
            _dir: dir,
            ca,
            provider,
            roots,
            server: Arc::new(server),
            client,
        }
    }

    /// A client configuration with a fresh manager certificate (`common_name`, group
    /// `system:managers`), and that certificate.
    pub fn manager_client(
        &self,
        common_name: &str,
    ) -> (Arc<ClientConfig>, CertificateDer<'static>) {
        manager_client(&self.ca, &self.provider, &self.roots, common_name)
    }
}

fn manager_client(
    ca: &ClusterCa,
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    common_name: &str,
) -> (Arc<ClientConfig>, CertificateDer<'static>) {
    let issued = ca
        .issue_client(common_name, &["system:managers"], Lifetime::default())
        .expect("client certificate");
    let chain = chain(&issued.cert_pem);
    let leaf = chain.first().expect("a client certificate").clone();
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(chain, key(&issued.key_pem))
        .expect("client config");
    (Arc::new(client), leaf)
}

/// The network between members: who can reach whom. Members on different sides of a
/// partition cannot talk; members on the same side, and everyone once it heals, can.
///
/// Every connection between two members has exactly one serving end, the harness's server of
/// the member that was dialed, and it is there that the partition is enforced: the server
/// learns who dialed from the client certificate (each member has its own, see
/// [`Pki::manager_client`]), and while the two are apart it neither reads from nor writes to
/// the connection. Both directions stall, on new connections and on live ones alike (the
/// store's HTTP/2 connections are long-lived and shared, so refusing new ones would not be
/// enough), as if the network dropped every packet: callers see timeouts, not refusals. On
/// heal the connections resume, and what was held back is delivered, as TCP would once its
/// retransmissions get through (unless an end gave up and closed the connection meanwhile).
///
/// One leak, documented rather than hidden: a TLS handshake between members that are apart
/// still completes when the serving member can reach anyone at all, because who dialed is
/// only known once the handshake shows the client certificate; no request or answer crosses.
/// A member that is cut off from every other member stalls all its incoming connections from
/// the first byte, unidentified callers included.
///
/// The partition belongs to the network, not to the members: it survives kills and restarts.
#[derive(Default)]
pub struct Network {
    state: Mutex<Sides>,
}

#[derive(Default)]
struct Sides {
    /// The side each member is on; members not listed are together on side 0.
    side: BTreeMap<u64, usize>,
    /// Every member the harness has started.
    members: BTreeSet<u64>,
    /// A member's client certificate (DER) → the member.
    identities: HashMap<Vec<u8>, u64>,
    /// Connections held back by the partition, woken whenever it changes.
    parked: Vec<Waker>,
}

impl Sides {
    fn apart(&self, a: u64, b: u64) -> bool {
        self.side.get(&a).unwrap_or(&0) != self.side.get(&b).unwrap_or(&0)
    }

    /// Whether a connection served by `server` and dialed by `client` (`None`: not known
    /// yet, or not a member) is cut.
    fn cut(&self, server: u64, client: Option<u64>) -> bool {
        match client {
            Some(client) => self.apart(server, client),
            None => {
                let mut others = self.members.iter().filter(|&&m| m != server).peekable();
                others.peek().is_some() && others.all(|&m| self.apart(server, m))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Network {
    /// Split the members into `sides`; members in none of them form one more side together.
    /// Replaces any earlier partition.
    pub fn partition(&self, sides: &[&[u64]]) {
        let mut state = lock(&self.state);
        state.side = sides
            .iter()
            .enumerate()
            .flat_map(|(i, ids)| ids.iter().map(move |&id| (id, i + 1)))
            .collect();
        state.parked.drain(..).for_each(Waker::wake);
    }

    /// Cut member `id` off from every other member.
    pub fn isolate(&self, id: u64) {
        self.partition(&[&[id]]);
    }

    /// Everyone reaches everyone again; held-back connections resume.
    pub fn heal(&self) {
        self.partition(&[]);
    }

    /// Whether members `a` and `b` are on different sides of a partition.
    pub fn apart(&self, a: u64, b: u64) -> bool {
        lock(&self.state).apart(a, b)
    }

    fn register(&self, id: u64, certificate: &CertificateDer<'_>) {
        let mut state = lock(&self.state);
        state.members.insert(id);
        state.identities.insert(certificate.as_ref().to_vec(), id);
    }

    fn identify(&self, certificate: &CertificateDer<'_>) -> Option<u64> {
        lock(&self.state)
            .identities
            .get(certificate.as_ref())
            .copied()
    }

    /// True if the connection is cut; then `waker` is woken when the partition changes.
    fn hold(&self, server: u64, client: Option<u64>, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if !state.cut(server, client) {
            return false;
        }
        if !state.parked.iter().any(|w| w.will_wake(waker)) {
            state.parked.push(waker.clone());
        }
        true
    }
}

/// The serving end of one connection, which stops moving bytes while the partition cuts it.
struct Gated {
    tcp: TcpStream,
    network: Arc<Network>,
    /// The member serving the connection.
    server: u64,
    /// The member that dialed, once its certificate was seen.
    client: Option<u64>,
}

impl Gated {
    fn held(&self, cx: &Context<'_>) -> bool {
        self.network.hold(self.server, self.client, cx.waker())
    }
}

impl AsyncRead for Gated {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

/// Accept mTLS connections for member `id` and serve `router` on each, subject to the
/// partitions of `network`; aborting the task closes the listener and every connection (a
/// killed manager).
async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    id: u64,
    network: Arc<Network>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let network = network.clone();
                connections.spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let gated = Gated { tcp, network: network.clone(), server: id, client: None };
                    let Ok(mut tls) = acceptor.accept(gated).await else { return };
                    let (io, session) = tls.get_mut();
                    io.client = session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| network.identify(leaf));
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
    /// The member's own client certificate, kept across restarts.
    peer_tls: Arc<ClientConfig>,
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
    /// Partitions between members (all connected unless a test says otherwise).
    pub network: Arc<Network>,
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
            network: Arc::default(),
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
                let (peer_tls, certificate) =
                    self.pki.manager_client(&format!("tutti-manager-{id}"));
                self.network.register(id, &certificate);
                self.members.push(Member {
                    id,
                    port,
                    dir,
                    store: None,
                    server: None,
                    peer_tls,
                });
                listener
            }
        };
        let (port, dir, peer_tls) = {
            let m = self.member(id);
            (m.port, m.dir.clone(), m.peer_tls.clone())
        };
        let config = RaftStoreConfig {
            advertise_addr: format!("https://127.0.0.1:{port}"),
            peer_tls: Some(peer_tls),
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
            id,
            self.network.clone(),
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

    /// Cut member `id` off from every other member (see [`Network`]); it keeps running.
    pub fn isolate(&self, id: u64) {
        self.network.isolate(id);
    }

    /// Split the members into `sides` (see [`Network::partition`]).
    pub fn partition(&self, sides: &[&[u64]]) {
        self.network.partition(sides);
    }

    /// Reconnect every member.
    pub fn heal(&self) {
        self.network.heal();
    }

    /// The member every running member agrees leads, waiting up to `within`. While a
    /// partition lasts, use [`Cluster::leader_among`] the majority side instead: an isolated
    /// old leader keeps naming itself.
    pub async fn leader(&self, within: Duration) -> u64 {
        self.leader_among(&self.running(), within).await
    }

    /// The member that leads and that every running member of `ids` names as leader, waiting
    /// up to `within`.
    pub async fn leader_among(&self, ids: &[u64], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(id) = self.agreed_leader_among(ids) {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {ids:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A running member that leads and that every running member names as leader.
    pub fn agreed_leader(&self) -> Option<u64> {
        self.agreed_leader_among(&self.running())
    }

    /// A running member of `ids` that leads and that every running member of `ids` names as
    /// leader.
    pub fn agreed_leader_among(&self, ids: &[u64]) -> Option<u64> {
        let running: Vec<u64> = self
            .running()
            .into_iter()
            .filter(|id| ids.contains(id))
            .collect();
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
