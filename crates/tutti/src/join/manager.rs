//! `tutti join <addr> --manager --token <manager token>`: make this machine another manager.
//!
//! With the manager certificate the join just issued (mutual TLS from here on):
//! 1. fetch what every manager holds (`/tutti/v1/cluster/secrets`: the CA key, the join token
//!    secrets, the admin token) and keep it under `<data-dir>/pki`, the CA key sealed under a
//!    key-encryption key of this machine;
//! 2. start a manager on an empty store that waits to be added (`Bootstrap::Join`), serving
//!    the Raft transport on its API port;
//! 3. ask the cluster to add it (`POST /tutti/v1/managers`): the leader adds it as a learner,
//!    replicates the log (a snapshot first when the log was purged) and promotes it to voter.
//!
//! From then on the data directory is an ordinary manager's: `tutti server --data-dir` (or
//! this command again) restarts it as a member of the cluster.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tutti_pki::{ClusterCa, JoinTokens};

use super::JoinArgs;
use super::credentials::{NodeCredentials, pki_dir};
use crate::manager::{AddManager, ClusterSecrets, Settings};

/// How long a joining manager keeps asking to be added (the cluster may be electing).
const ADD_WAIT: Duration = Duration::from_secs(120);

/// The way back to the cluster a manager is joining.
pub(crate) struct ManagerJoin {
    seed: String,
    client: kube::Client,
}

impl ManagerJoin {
    /// Ask the cluster (through the manager we joined) to add this manager as a voter.
    pub(crate) async fn ask_to_be_added(
        &self,
        id: u64,
        name: &str,
        addr: &str,
    ) -> anyhow::Result<()> {
        println!(
            "tutti: asking {} to add manager {name} ({addr}) to the cluster",
            self.seed
        );
        let body = serde_json::to_vec(&AddManager {
            id,
            name: name.to_string(),
            addr: addr.to_string(),
        })?;
        let deadline = Instant::now() + ADD_WAIT;
        loop {
            let req = http::Request::post("/tutti/v1/managers")
                .header("Content-Type", "application/json")
                .body(body.clone())?;
            match self.client.request_text(req).await {
                Ok(_) => {
                    println!("tutti: manager {name} is a voter");
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, "the cluster has not added this manager yet; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => bail!("the cluster did not add this manager: {e}"),
            }
        }
    }
}

pub(super) async fn run(
    args: &JoinArgs,
    server: &str,
    creds: &NodeCredentials,
    name: &str,
) -> anyhow::Result<()> {
    let client = creds.client(server).await?;
    let pki = pki_dir(&args.data_dir);
    if !pki.join("ca.key.enc").exists() {
        let req = http::Request::get("/tutti/v1/cluster/secrets").body(Vec::new())?;
        let text = client
            .request_text(req)
            .await
            .with_context(|| format!("fetching the cluster's secrets from {server}"))?;
        let secrets: ClusterSecrets = serde_json::from_str(&text)
            .context("the manager's answer is not the cluster's secrets")?;
        ClusterCa::install(&pki, &pki.join("kek"), &creds.ca_pem, &secrets.ca_key_pem)?;
        JoinTokens::install(&pki, &secrets.worker_secret, &secrets.manager_secret)?;
        crate::manager::write_private(&pki.join("admin.token"), &secrets.admin_token)?;
        tracing::info!(dir = %pki.display(), "cluster CA and tokens installed");
    }
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::new(args.node_ip, 6443));
    let advertise = if listen.ip().is_unspecified() {
        args.node_ip
    } else {
        listen.ip()
    };
    crate::manager::run(Settings {
        data_dir: args.data_dir.clone(),
        listen,
        advertise,
        cluster: "tutti",
        name: name.to_string(),
        node: None,
        cert_lifetime: args.cert_lifetime,
        kek_file: None,
        force_new_cluster: false,
        join: Some(ManagerJoin {
            seed: server.to_string(),
            client,
        }),
        network: args.network.clone(),
        controllers: args.controllers.clone(),
    })
    .await
}
