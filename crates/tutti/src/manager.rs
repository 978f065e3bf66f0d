//! Starting a manager: PKI, store, API server, in-process controllers, HTTPS listener, and
//! the admin kubeconfig. `tutti dev` is a manager on 127.0.0.1 with a per-user data dir.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tutti_apiserver::{ApiConfig, ApiServer, Authenticator};
use tutti_pki::{CertifiedKey, ClusterCa, Enrollment, JoinTokens, Lifetime, Role};
use tutti_store::raft::RaftStore;

use crate::kubeconfig;

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
        node: Some(args.runtime),
        cert_lifetime: Lifetime::default(),
        kek_file: None,
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
        node: None,
        cert_lifetime: args.cert_lifetime,
        kek_file: args.kek_file,
    })
    .await
}

struct Settings {
    data_dir: PathBuf,
    listen: SocketAddr,
    advertise: IpAddr,
    cluster: &'static str,
    /// Also run a node agent here (`tutti dev`), with this runtime choice.
    node: Option<crate::node::Runtime>,
    /// Lifetime of node certificates.
    cert_lifetime: Lifetime,
    /// Where the CA key's key-encryption key lives (None: `<pki>/kek`).
    kek_file: Option<PathBuf>,
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
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&token_path)?;
            f.write_all(t.as_bytes())?;
            f.sync_all()?;
            t
        }
    };
    Ok((cert, token))
}

async fn run(s: Settings) -> anyhow::Result<()> {
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
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut dns = vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
    ];
    if !hostname.is_empty() {
        dns.push(hostname);
    }
    let serving = ca.issue_server(&dns, &ips, Lifetime::default())?;

    let store = RaftStore::open(&s.data_dir.join("store"), 1)
        .await
        .context("opening the store")?;
    let store = Arc::new(store);
    // The API server calls node agents (logs) with its own client certificate.
    let own = ca.issue_client("system:apiserver", &["system:masters"], Lifetime::default())?;
    let agent_tls = tutti_apiserver::handlers::log::agent_client_config(
        ca.cert_pem(),
        &own.cert_pem,
        &own.key_pem,
    )
    .map_err(|e| anyhow::anyhow!("agent client TLS: {e}"))?;
    let api = ApiServer::new(
        store.clone(),
        ApiConfig {
            agent_tls: Some(agent_tls),
            join: Some(Arc::new(enrollment)),
            ..ApiConfig::default()
        },
        Authenticator {
            admin_token: Some(token),
        },
    );
    api.start().await.context("bootstrapping the cluster")?;
    let internal = tutti_apiserver::client::in_process_client(&api);
    tutti_controllers::spawn_all(
        internal.clone(),
        tutti_controllers::ControllerConfig::default(),
    );
    tutti_scheduler::spawn(
        internal.clone(),
        tutti_scheduler::SchedulerConfig::default(),
    );
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
        };
        let described = crate::node::start(internal.clone(), settings).await?;
        println!("tutti: runtime {described}");
    }
    tutti_apiserver::compaction::spawn(store.clone(), std::time::Duration::from_secs(300));

    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("listening on {}", s.listen))?;
    let addr = listener.local_addr()?;
    // Created once the port is ours, so the first start that serves is the one that prints.
    let (tokens, first_start) = JoinTokens::load_or_create(&pki)?;
    let server_url = format!("https://{}:{}", fmt_host(s.advertise), addr.port());
    let kubeconfig_path = s.data_dir.join("kubeconfig.yaml");
    kubeconfig::write(
        &kubeconfig_path,
        s.cluster,
        &server_url,
        ca.cert_pem(),
        &admin.cert_pem,
        &admin.key_pem,
    )?;
    let tls =
        tutti_apiserver::serve::tls_config(ca.cert_pem(), &serving.cert_pem, &serving.key_pem)?;
    let serve = tokio::spawn(tutti_apiserver::serve::serve_tls(
        listener,
        tls,
        api.router(),
    ));
    tracing::info!(url = %server_url, elapsed_ms = started.elapsed().as_millis() as u64, "API server ready");
    println!(
        "tutti: API server ready at {server_url} in {} ms",
        started.elapsed().as_millis()
    );
    if first_start {
        let worker = tokens.token(Role::Worker, &tutti_pki::ca_digest(ca.cert_pem())?);
        let addr = format!("{}:{}", fmt_host(s.advertise), addr.port());
        println!("tutti: join workers with: tutti join {addr} --token {worker}");
    }
    println!("export KUBECONFIG={}", kubeconfig_path.display());

    tokio::select! {
        r = serve => { r??; }
        _ = shutdown_signal() => { tracing::info!("shutting down"); }
    }
    store.shutdown().await?;
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
