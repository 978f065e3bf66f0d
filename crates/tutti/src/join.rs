//! `tutti join <manager-addr> --token T`: make this machine a node of an existing cluster.
//!
//! Fetch the manager's CA and check it against the digest in the token (`bootstrap`), get a
//! certificate for a key made here, keep it under `<data-dir>/pki` (`credentials`), then run
//! the node agent with that identity — as the API client and as the log endpoint's serving
//! certificate — and renew it before it expires (`renew`). The agent talks to whichever
//! manager is healthy, failing over between all the cluster's managers (`managers`). A later
//! `tutti join` with the same data directory reuses a still-valid certificate and needs no
//! token.
//!
//! `--manager` joins as a manager (`manager`): the certificate is issued with the manager
//! role, then this machine runs a manager that the cluster adds to its Raft group.

mod bootstrap;
mod credentials;
pub(crate) mod manager;
mod managers;
mod renew;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use tutti_pki::{CertifiedKey, JoinRequest, JoinToken, NodeCsr, NodeIdentity, Role};

use crate::node::{NodeSettings, Runtime};
use credentials::NodeCredentials;
use managers::Managers;

#[derive(clap::Args)]
pub struct JoinArgs {
    /// The manager's API address: host:port (HTTPS).
    manager_addr: String,
    /// The join token (`tutti token show worker` on a manager). Not needed when the data
    /// directory holds a valid certificate from an earlier join.
    #[arg(long, env = "TUTTI_JOIN_TOKEN")]
    token: Option<String>,
    /// Join as a manager (with the manager token) instead of a worker.
    #[arg(long)]
    manager: bool,
    /// Node name [default: the hostname]
    #[arg(long)]
    node_name: Option<String>,
    /// The node's address (InternalIP), reachable by the managers.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: IpAddr,
    /// Where the node keeps its certificates (`pki/`) and pod state (`agent/`).
    #[arg(long, default_value = "/var/lib/tutti")]
    data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = Runtime::Auto)]
    runtime: Runtime,
    /// Port of the agent's log endpoint (0: any free port).
    #[arg(long, default_value_t = 10250)]
    log_port: u16,
    /// With --manager: the address this manager's API server listens on [default:
    /// <node-ip>:6443]. Its peers and clients reach it at <node-ip> and this port.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// With --manager: lifetime of the certificates this manager issues to nodes.
    #[arg(long, default_value = "90d")]
    cert_lifetime: tutti_pki::Lifetime,
    #[command(flatten)]
    network: crate::node::NetworkArgs,
    /// With --manager: the controllers' flags, in force while this manager leads.
    #[command(flatten)]
    controllers: crate::manager::controller_args::ControllerArgs,
}

fn server_url(addr: &str) -> anyhow::Result<String> {
    if addr.starts_with("http://") {
        bail!("{addr}: managers only speak HTTPS; give host:port");
    }
    let hostport = addr.strip_prefix("https://").unwrap_or(addr);
    if hostport.is_empty() || hostport.contains('/') {
        bail!("{addr}: give the manager's address as host:port");
    }
    Ok(format!("https://{hostport}"))
}

pub async fn run_join(args: JoinArgs) -> anyhow::Result<()> {
    let server = server_url(&args.manager_addr)?;
    let role = if args.manager {
        Role::Manager
    } else {
        Role::Worker
    };
    let name = args.node_name.clone().unwrap_or_else(crate::node::hostname);
    let node = NodeIdentity::new(&name, role)?;
    let pki = credentials::pki_dir(&args.data_dir);
    let ips = vec![args.node_ip];
    let creds = match NodeCredentials::load(&pki, &node)? {
        Some(c) => {
            tracing::info!(node = %name, dir = %pki.display(), "using the certificate of an earlier join");
            c
        }
        None => {
            let c = join(&args, &server, &node, &ips).await?;
            c.save(&pki)?;
            tracing::info!(node = %name, role = %role, dir = %pki.display(), "joined: certificate issued");
            c
        }
    };
    if role == Role::Manager {
        return manager::run(&args, &server, &creds, &name).await;
    }
    let managers = Managers::start(&args.data_dir, &server, creds.clone()).await?;
    let serving =
        tutti_apiserver::serve::ReloadableCert::new(&creds.cert.cert_pem, &creds.cert.key_pem)?;
    let server_tls = tutti_apiserver::serve::tls_config_require_client_reloadable(
        &creds.ca_pem,
        serving.clone(),
    )?;
    let settings = NodeSettings {
        node_name: name.clone(),
        node_ip: args.node_ip.to_string(),
        data_dir: args.data_dir.join("agent"),
        runtime: args.runtime,
        log_listen: SocketAddr::new(args.node_ip, args.log_port),
        tls: None,
        network: args.network.agent_config(),
    };
    let described =
        crate::node::start_with_server_tls(managers.client(), settings, Some(server_tls)).await?;
    println!(
        "tutti: node {name} joined {}; runtime {described}",
        managers.current()
    );
    managers.spawn();
    let renewer = renew::Renewer {
        node,
        managers,
        pki,
        ips,
        credentials: creds,
        serving,
    };
    tokio::spawn(renewer.run());
    crate::manager::shutdown_signal().await;
    Ok(())
}

/// The join protocol proper: pinned CA, then a certificate for a key made here.
async fn join(
    args: &JoinArgs,
    server: &str,
    node: &NodeIdentity,
    ips: &[IpAddr],
) -> anyhow::Result<NodeCredentials> {
    let text = args.token.as_deref().context(
        "no valid certificate in the data directory: pass --token (from `tutti token show worker` on a manager)",
    )?;
    let token = JoinToken::parse(text)?;
    let ca_pem = bootstrap::fetch_pinned_ca(server, &token).await?;
    let csr = NodeCsr::generate(&node.name)?;
    let req = JoinRequest {
        token: token.to_string(),
        node_name: node.name.clone(),
        role: node.role,
        csr: csr.csr_pem,
        ips: ips.to_vec(),
    };
    let issued = bootstrap::request_certificate(server, &ca_pem, &req).await?;
    Ok(NodeCredentials {
        ca_pem,
        cert: CertifiedKey {
            cert_pem: issued.certificate,
            key_pem: csr.key_pem,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manager_addresses_are_https_host_ports() {
        assert_eq!(
            server_url("10.0.0.1:6443").unwrap(),
            "https://10.0.0.1:6443"
        );
        assert_eq!(server_url("https://m:6443").unwrap(), "https://m:6443");
        assert!(server_url("http://m:6443").is_err());
        assert!(server_url("m:6443/api").is_err());
        assert!(server_url("").is_err());
    }
}
