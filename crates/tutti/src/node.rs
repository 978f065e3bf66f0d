//! Starting a node agent: choose the runtime driver (docker when an engine answers, else
//! process), serve the agent's log endpoint over mutual TLS, and run the agent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tutti_agent::{Agent, AgentConfig, NetworkConfig};
use tutti_net::host::Cidr;
use tutti_runtime::RuntimeDriver;
use tutti_runtime::docker::DockerDriver;
use tutti_runtime::process::ProcessDriver;

/// Which driver runs pods without a `runtimeClassName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Docker when a Docker Engine answers, else the process driver.
    Auto,
    Docker,
    Process,
}

/// The default driver of node `node_name` and a sentence saying which one it is and why.
/// The docker driver sees only this node's containers, so nodes may share one engine.
pub async fn choose_driver(
    choice: Runtime,
    node_name: &str,
    process: Arc<dyn RuntimeDriver>,
) -> anyhow::Result<(Arc<dyn RuntimeDriver>, String)> {
    match choice {
        Runtime::Process => Ok((process, "process (as asked with --runtime process)".into())),
        Runtime::Docker => {
            let d = DockerDriver::connect(node_name)
                .await
                .context("--runtime docker")?;
            let v = d.version().await.unwrap_or_default();
            Ok((Arc::new(d), format!("docker ({v})")))
        }
        Runtime::Auto => match DockerDriver::connect(node_name).await {
            Ok(d) => {
                let v = d.version().await.unwrap_or_default();
                Ok((Arc::new(d), format!("docker ({v})")))
            }
            Err(e) => Ok((process, format!("process (no container engine: {e})"))),
        },
    }
}

/// Certificates for the agent's log endpoint: the cluster CA (to check callers) and the
/// agent's serving certificate.
pub struct AgentTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster network's ranges, and whether this node takes part in it.
#[derive(clap::Args, Clone, Debug)]
pub struct NetworkArgs {
    /// The cluster's pod range; the control plane gives every node a /24 of it.
    #[arg(long, default_value = "10.244.0.0/16", value_parser = parse_cidr)]
    pub cluster_cidr: Cidr,
    /// The range Service virtual IPs come from (its 10th address is the cluster DNS).
    #[arg(long, default_value = "10.96.0.0/12", value_parser = parse_cidr)]
    pub service_cidr: Cidr,
    /// Leave this machine's network alone: no pod bridge, routes, service proxy or DNS
    /// (pods use Docker's default bridge; Services get no data path on this node).
    #[arg(long)]
    pub no_pod_network: bool,
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    Cidr::parse(s).ok_or_else(|| format!("{s:?} is not an IPv4 CIDR like 10.244.0.0/16"))
}

impl NetworkArgs {
    /// The agent's network settings; None when switched off or when the agent cannot
    /// change the host's network (not root), said once in the log.
    pub fn agent_config(&self) -> Option<NetworkConfig> {
        if self.no_pod_network {
            tracing::info!(
                "--no-pod-network: pods use the runtime's default network, no service proxy or DNS on this node"
            );
            return None;
        }
        if tutti_agent::machine::effective_uid() != Some(0) {
            tracing::warn!(
                "not running as root: no pod network, service proxy or cluster DNS on this node \
                 (run as root, or pass --no-pod-network to silence this)"
            );
            return None;
        }
        Some(NetworkConfig::new(self.cluster_cidr, self.service_cidr))
    }
}

/// Everything a node needs to start.
pub struct NodeSettings {
    pub node_name: String,
    pub node_ip: String,
    pub data_dir: PathBuf,
    pub runtime: Runtime,
    /// Where the log endpoint listens (port 0: any free port).
    pub log_listen: SocketAddr,
    pub tls: Option<AgentTls>,
    /// The cluster network, or None to leave the host's network alone.
    pub network: Option<NetworkConfig>,
}

/// Start the agent's tasks on this runtime; returns a description of the driver in use.
pub async fn start(client: kube::Client, s: NodeSettings) -> anyhow::Result<String> {
    let server_tls = match &s.tls {
        Some(t) => Some(tutti_apiserver::serve::tls_config_require_client(
            &t.ca_pem,
            &t.cert_pem,
            &t.key_pem,
        )?),
        None => None,
    };
    start_with_server_tls(client, s, server_tls).await
}

/// [`start`] with the log endpoint's TLS config given (`s.tls` is ignored): for a joined
/// node, whose serving certificate renews while it runs.
pub async fn start_with_server_tls(
    client: kube::Client,
    s: NodeSettings,
    server_tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating {}", s.data_dir.display()))?;
    let process: Arc<dyn RuntimeDriver> = Arc::new(ProcessDriver::new(s.data_dir.join("process")));
    let (driver, described) = choose_driver(s.runtime, &s.node_name, process.clone()).await?;
    let listener = tokio::net::TcpListener::bind(s.log_listen)
        .await
        .with_context(|| format!("listening on {} for the agent's log endpoint", s.log_listen))?;
    let mut config = AgentConfig::new(&s.node_name, &s.node_ip, &s.data_dir, driver, process);
    config.log_port = listener.local_addr()?.port();
    if let Some(net) = &s.network {
        config.cluster_dns = vec![net.dns_ip.to_string()];
    }
    config.network = s.network;
    let agent = Agent::new(client, config);
    match server_tls {
        Some(tls) => {
            // Only the control plane reads logs: a worker's certificate is refused here.
            let router = tutti_apiserver::serve::only_groups(
                tutti_agent::log_router(agent.log_state()),
                tutti_apiserver::serve::CONTROL_PLANE_GROUPS,
            );
            tokio::spawn(tutti_apiserver::serve::serve_tls(listener, tls, router));
        }
        None => tracing::warn!(
            "no agent certificate: `kubectl logs` is unavailable for pods on this node"
        ),
    }
    tokio::spawn(async move {
        if let Err(e) = agent.run().await {
            tracing::error!(error = %e, "the node agent stopped");
        }
    });
    Ok(described)
}

/// This machine's hostname, lower-cased (node names are DNS names).
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = h.trim().to_ascii_lowercase();
    if h.is_empty() {
        "tutti-node".to_string()
    } else {
        h
    }
}

/// `tutti agent`: a node joining an existing manager with a kubeconfig.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// Node name [default: the hostname]
    #[arg(long)]
    node_name: Option<String>,
    /// The node's address (InternalIP), reachable by the managers.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: String,
    /// Where the agent keeps pod state.
    #[arg(long, default_value = "/var/lib/tutti/agent")]
    data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Runtime::Auto)]
    runtime: Runtime,
    /// Port of the log endpoint.
    #[arg(long, default_value_t = 10250)]
    log_port: u16,
    /// Directory holding ca.crt, agent.crt and agent.key for the log endpoint.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    hollow: HollowArgs,
}

/// Simulated nodes for measuring the control plane (no containers run).
#[derive(clap::Args)]
pub struct HollowArgs {
    /// Run N hollow nodes in this process instead of a real agent: each registers a Node,
    /// renews its Lease and reports the pods bound to it Running without running anything.
    /// Needs a kubeconfig that may act for every node (the admin one).
    #[arg(long, value_name = "N")]
    hollow: Option<usize>,
    /// Hollow node names are <prefix><index>.
    #[arg(long, default_value = "hollow-", requires = "hollow")]
    hollow_prefix: String,
    /// CPU capacity of each hollow node.
    #[arg(long, default_value = "8", requires = "hollow")]
    hollow_cpu: String,
    /// Memory capacity of each hollow node.
    #[arg(long, default_value = "32Gi", requires = "hollow")]
    hollow_memory: String,
    /// Pod capacity of each hollow node.
    #[arg(long, default_value_t = 110, requires = "hollow")]
    hollow_pods: u32,
}

pub async fn run_agent(args: AgentArgs, kubeconfig: Option<PathBuf>) -> anyhow::Result<()> {
    let path = kubeconfig
        .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
        .context("tutti agent needs --kubeconfig (or KUBECONFIG) to reach a manager")?;
    let kc = kube::config::Kubeconfig::read_from(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    if let Some(count) = args.hollow.hollow {
        let cfg = tutti_agent::hollow::HollowConfig {
            count,
            prefix: args.hollow.hollow_prefix,
            cpu: args.hollow.hollow_cpu,
            memory: args.hollow.hollow_memory,
            pods: args.hollow.hollow_pods,
            ..Default::default()
        };
        println!("tutti: starting {count} hollow nodes ({}0 ...)", cfg.prefix);
        tutti_agent::hollow::run(client, cfg).await?;
        return Ok(());
    }
    let tls = match &args.tls_dir {
        Some(dir) => Some(read_tls(dir)?),
        None => None,
    };
    let ip: std::net::IpAddr = args
        .node_ip
        .parse()
        .context("--node-ip must be an IP address")?;
    let described = start(
        client,
        NodeSettings {
            node_name: args.node_name.unwrap_or_else(hostname),
            node_ip: args.node_ip.clone(),
            data_dir: args.data_dir,
            runtime: args.runtime,
            log_listen: SocketAddr::new(ip, args.log_port),
            tls,
            network: args.network.agent_config(),
        },
    )
    .await?;
    println!("tutti agent: runtime {described}");
    crate::manager::shutdown_signal().await;
    Ok(())
}

fn read_tls(dir: &Path) -> anyhow::Result<AgentTls> {
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .with_context(|| format!("reading {}", dir.join(f).display()))
    };
    Ok(AgentTls {
        ca_pem: read("ca.crt")?,
        cert_pem: read("agent.crt")?,
        key_pem: read("agent.key")?,
    })
}
