//! Starting a manager: PKI, store, API server, in-process controllers, HTTPS listener, and
//! the admin kubeconfig. `tutti dev` is a manager on 127.0.0.1 with a per-user data dir.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tutti_apiserver::{ApiConfig, ApiServer, Authenticator};
use tutti_pki::{CertifiedKey, ClusterCa, Enrollment, JoinTokens, Lifetime, Role};
use tutti_store::{Bootstrap, RaftStore, RaftStoreConfig};

use crate::join::manager::ManagerJoin;
use crate::kubeconfig;

mod cluster_api;
pub(crate) mod controller_args;
mod leader;
pub(crate) mod tokens;

pub use cluster_api::{AddManager, ClusterSecrets, ManagerInfo};

#[derive(clap::Args)]
pub struct DevArgs {
    /// Where the cluster keeps its state [default: $HOME/.local/share/tutti/dev]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Port of the API server (HTTPS, on 127.0.0.1).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Which runtime driver runs pods (auto: docker when an engine answers, else process).
    #[arg(long, value_enum, default_value_t = crate::node::Runtime::Auto)]
    runtime: crate::node::Runtime,
    #[command(flatten)]
    network: crate::node::NetworkArgs,
    #[command(flatten)]
    controllers: controller_args::ControllerArgs,
}

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Where the manager keeps its state.
    #[arg(long, default_value = "/var/lib/tutti")]
    data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    listen: SocketAddr,
    /// Address clients use to reach this manager (goes into the kubeconfig and certificate).
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Lifetime of the certificates issued to nodes (renewed in their last third): 90d, 2m...
    #[arg(long, default_value = "90d")]
    cert_lifetime: Lifetime,
    /// The key-encryption key sealing the CA key [default: <data-dir>/pki/kek]. Keep it out
    /// of backups of the data directory (see tutti_pki::sealed for what it protects).
    #[arg(long)]
    kek_file: Option<PathBuf>,
    /// Create a new cluster here, refusing if the data directory already holds one (without
    /// it, the first start in an empty data directory creates the cluster too).
    #[arg(long)]
    init: bool,
    /// This manager's name [default: the hostname]
    #[arg(long)]
    name: Option<String>,
    /// Disaster recovery: turn this manager's data into a new one-manager cluster keeping
    /// every write it holds, when a majority of managers is lost for good (see README).
    #[arg(long)]
    force_new_cluster: bool,
    #[command(flatten)]
    network: crate::node::NetworkArgs,
    #[command(flatten)]
    controllers: controller_args::ControllerArgs,
}

pub async fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
            PathBuf::from(home).join(".local/share/tutti/dev")
        }
    };
    let listen = SocketAddr::from(([127, 0, 0, 1], args.port));
    run(Settings {
        data_dir,
        listen,
        advertise: listen.ip(),
        cluster: "tutti-dev",
        name: crate::node::hostname(),
        node: Some(args.runtime),
        cert_lifetime: Lifetime::default(),
        kek_file: None,
        force_new_cluster: false,
        join: None,
        network: args.network,
        controllers: args.controllers,
    })
    .await
}

pub async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let ca = args.data_dir.join("pki").join("ca.crt");
    if args.init && ca.exists() {
        anyhow::bail!(
            "--init: {} already holds a cluster (its CA is {}); start without --init to run it",
            args.data_dir.display(),
            ca.display()
        );
    }
    let advertise = args
        .advertise_address
        .unwrap_or(if args.listen.ip().is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            args.listen.ip()
        });
    run(Settings {
        data_dir: args.data_dir,
        listen: args.listen,
        advertise,
        cluster: "tutti",
        name: args.name.unwrap_or_else(crate::node::hostname),
        node: None,
        cert_lifetime: args.cert_lifetime,
        kek_file: args.kek_file,
        force_new_cluster: args.force_new_cluster,
        join: None,
        network: args.network,
        controllers: args.controllers,
    })
    .await
}

pub(crate) struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub advertise: IpAddr,
    pub cluster: &'static str,
    /// The manager's name (its certificate says `system:manager:<name>`).
    pub name: String,
    /// Rewrite the store as a new one-voter cluster before starting.
    pub force_new_cluster: bool,
    /// The cluster's pod and service ranges (and, for `dev`, whether its node joins them).
    pub network: crate::node::NetworkArgs,
    /// The leader's controllers' flags (`--event-ttl`).
    pub controllers: controller_args::ControllerArgs,
    /// Set when this manager joins an existing cluster (`tutti join --manager`).
    pub join: Option<ManagerJoin>,
    /// Also run a node agent here (`tutti dev`), with this runtime choice.
    pub node: Option<crate::node::Runtime>,
    /// Lifetime of node certificates.
    pub cert_lifetime: Lifetime,
    /// Where the CA key's key-encryption key lives (None: `<pki>/kek`).
    pub kek_file: Option<PathBuf>,
}

/// Load or create the admin's client certificate and bearer token.
fn admin_credentials(ca: &ClusterCa, pki: &Path) -> anyhow::Result<(CertifiedKey, String)> {
    let cert = match CertifiedKey::load(pki, "admin")? {
        Some(c) => c,
        None => {
            let c = ca.issue_client(
                "admin",
                &["system:masters"],
                Lifetime(std::time::Duration::from_secs(365 * 24 * 3600)),
            )?;
            c.save(pki, "admin")?;
            c
        }
    };
    let token_path = pki.join("admin.token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) => t.trim().to_string(),
        Err(_) => {
            let t = tutti_pki::random_token();
            write_private(&token_path, &t)?;
            t
        }
    };
    Ok((cert, token))
}

pub(crate) async fn run(s: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating {}", s.data_dir.display()))?;
    let pki = s.data_dir.join("pki");
    let kek = s.kek_file.clone().unwrap_or_else(|| pki.join("kek"));
    let ca = Arc::new(ClusterCa::load_or_create_with_kek(&pki, &kek)?);
    let enrollment = Enrollment::new(ca.clone(), &pki, s.cert_lifetime)?;
    let (admin, token) = admin_credentials(&ca, &pki)?;
    let mut ips = vec![IpAddr::from([127, 0, 0, 1]), s.advertise];
    if !s.listen.ip().is_unspecified() {
        ips.push(s.listen.ip());
    }
    ips.dedup();
    let hostname = crate::node::hostname();
    let mut dns = vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
    ];
    if !hostname.is_empty() {
        dns.push(hostname);
    }
    let serving = ca.issue_server(&dns, &ips, Lifetime::default())?;

    // The port is ours before anything is announced: peers and the kubeconfig need it.
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("listening on {}", s.listen))?;
    let addr = listener.local_addr()?;
    let server_url = format!("https://{}:{}", fmt_host(s.advertise), addr.port());

    let store_dir = s.data_dir.join("store");
    let joining = s.join.is_some() && !store_dir.join("raft.redb").exists();
    let node_id = node_id(&s.data_dir, joining)?;
    if s.force_new_cluster {
        let revision = RaftStore::force_new_cluster(&store_dir, node_id)
            .await
            .context("--force-new-cluster")?;
        println!(
            "tutti: forced a new one-manager cluster from {} at revision {revision}; \
             add managers again with `tutti join --manager` (wipe their old data first)",
            store_dir.display()
        );
    }
    let own = manager_certificate(&ca, &pki, &s.name)?;
    let peer_tls = tutti_apiserver::handlers::log::agent_client_config(
        ca.cert_pem(),
        &own.cert_pem,
        &own.key_pem,
    )
    .map_err(|e| anyhow::anyhow!("manager client TLS: {e}"))?;
    let config = RaftStoreConfig {
        advertise_addr: server_url.clone(),
        peer_tls: Some(peer_tls.clone()),
        bootstrap: if joining {
            Bootstrap::Join
        } else {
            Bootstrap::NewCluster
        },
        ..RaftStoreConfig::default()
    };
    let store = RaftStore::open_with_config(&store_dir, node_id, config)
        .await
        .context("opening the store")?;
    // The API server calls node agents (logs) with the manager's client certificate.
    let api = ApiServer::new(
        Arc::new(store.clone()),
        ApiConfig {
            agent_tls: Some(peer_tls),
            join: Some(Arc::new(enrollment)),
            service_cidr: (s.network.service_cidr.addr, s.network.service_cidr.prefix),
            ..ApiConfig::default()
        },
        Authenticator {
            admin_token: Some(token.clone()),
        },
    );
    let internal = tutti_apiserver::client::in_process_client(&api);
    let cluster_api = cluster_api::ClusterApi {
        store: store.clone(),
        ca: ca.clone(),
        pki: pki.clone(),
        admin_token: token,
        client: internal.clone(),
    };
    let router = api
        .router()
        .merge(tutti_apiserver::serve::only_groups(
            store.raft_router(),
            &["system:managers"],
        ))
        .merge(cluster_api.router());
    let tls =
        tutti_apiserver::serve::tls_config(ca.cert_pem(), &serving.cert_pem, &serving.key_pem)?;
    let serve = tokio::spawn(tutti_apiserver::serve::serve_tls(listener, tls, router));

    if joining && let Some(join) = &s.join {
        join.ask_to_be_added(node_id, &s.name, &server_url).await?;
    }
    bootstrap_api(&api).await?;
    let controllers = s.controllers.config(&s.network);
    leader::spawn(store.clone(), api.clone(), controllers);
    tokio::spawn(record_own_name(internal.clone(), node_id, s.name.clone()));
    // Created before the API serves joins, so the first start has tokens to share.
    let (tokens, first_start) = JoinTokens::load_or_create(&pki)?;
    tokio::spawn(tokens::mirror(internal.clone(), pki.clone()));

    if let Some(runtime) = s.node {
        let node_ip = "127.0.0.1";
        let serving = ca.issue_server(
            &[crate::node::hostname()],
            &[IpAddr::from([127, 0, 0, 1])],
            Lifetime::default(),
        )?;
        let settings = crate::node::NodeSettings {
            node_name: crate::node::hostname(),
            node_ip: node_ip.to_string(),
            data_dir: s.data_dir.join("agent"),
            runtime,
            log_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: Some(crate::node::AgentTls {
                ca_pem: ca.cert_pem().to_string(),
                cert_pem: serving.cert_pem,
                key_pem: serving.key_pem,
            }),
            network: s.network.agent_config(),
        };
        let described = crate::node::start(internal.clone(), settings).await?;
        println!("tutti: runtime {described}");
    }

    let kubeconfig_path = std::path::absolute(s.data_dir.join("kubeconfig.yaml"))?;
    kubeconfig::write(
        &kubeconfig_path,
        s.cluster,
        &server_url,
        ca.cert_pem(),
        &admin.cert_pem,
        &admin.key_pem,
    )?;
    tracing::info!(url = %server_url, node_id, elapsed_ms = started.elapsed().as_millis() as u64, "API server ready");
    println!(
        "tutti: API server ready at {server_url} in {} ms",
        started.elapsed().as_millis()
    );
    if first_start {
        let digest = tutti_pki::ca_digest(ca.cert_pem())?;
        let addr = format!("{}:{}", fmt_host(s.advertise), addr.port());
        let worker = tokens.token(Role::Worker, &digest);
        println!("tutti: join workers with: tutti join {addr} --token {worker}");
        if s.node.is_none() {
            let manager = tokens.token(Role::Manager, &digest);
            println!("tutti: join managers with: tutti join {addr} --manager --token {manager}");
        }
    }
    println!("export KUBECONFIG={}", kubeconfig_path.display());

    tokio::select! {
        r = serve => { r??; }
        _ = shutdown_signal() => { tracing::info!("shutting down"); }
    }
    store.shutdown().await?;
    Ok(())
}

/// Create the default namespaces and mark the API ready. A member of a multi-manager
/// cluster may start before a leader is elected: keep trying until the quorum answers.
async fn bootstrap_api(api: &Arc<ApiServer>) -> anyhow::Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match api.start().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(error = %e, "waiting for the store's quorum to bootstrap the API");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => return Err(anyhow::anyhow!("bootstrapping the cluster: {e}")),
        }
    }
}

/// Record this manager's name under its Raft id (retried until the store takes it).
async fn record_own_name(client: kube::Client, id: u64, name: String) {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match cluster_api::record_name(&client, id, &name).await {
            Ok(()) => return,
            Err(e) => tracing::debug!(error = %e, "recording the manager name"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

/// This manager's Raft id, kept in `<data-dir>/node-id`. A store created before ids were
/// kept is member 1; a new cluster's first manager is 1; a joining manager draws one.
fn node_id(data_dir: &Path, joining: bool) -> anyhow::Result<u64> {
    let path = data_dir.join("node-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a node id", path.display()));
    }
    let id = if joining {
        rand::random::<u64>().max(2)
    } else {
        1
    };
    write_private(&path, &format!("{id}\n"))?;
    Ok(id)
}

/// The manager's client certificate for peer traffic (Raft) and calls to agents:
/// CN `system:manager:<name>`, O `system:managers`.
fn manager_certificate(ca: &ClusterCa, pki: &Path, name: &str) -> anyhow::Result<CertifiedKey> {
    let identity = tutti_pki::NodeIdentity::new(name, Role::Manager)?;
    let (cn, group) = identity.subject();
    if let Some(c) = CertifiedKey::load(pki, "manager")?
        && tutti_pki::CertInfo::parse(&c.cert_pem).is_ok_and(|i| {
            i.common_name == cn
                && i.not_after
                    > std::time::SystemTime::now() + std::time::Duration::from_secs(30 * 24 * 3600)
        })
    {
        return Ok(c);
    }
    let c = ca.issue_client(&cn, &[group], Lifetime::default())?;
    c.save(pki, "manager")?;
    Ok(c)
}

pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn fmt_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
