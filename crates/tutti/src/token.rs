//! `tutti token show|rotate worker|manager`: the join tokens of the cluster whose manager
//! keeps its state in `--data-dir`. `show` reads the manager's files; `rotate` changes the
//! token for the whole cluster through the API (see `manager::tokens`), then the files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tutti_pki::{JoinToken, JoinTokens, Role};

#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print the current join token of a role.
    Show(Which),
    /// Replace a role's join token with a new one; the old one stops working at once.
    Rotate(Which),
}

#[derive(clap::Args)]
struct Which {
    /// worker or manager
    role: Role,
    /// The manager's data directory.
    #[arg(long, default_value = "/var/lib/tutti")]
    data_dir: PathBuf,
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    match args.action {
        Action::Show(w) => {
            let pki = w.data_dir.join("pki");
            println!("{}", current(&pki, w.role)?);
        }
        Action::Rotate(w) => {
            let pki = w.data_dir.join("pki");
            let kubeconfig = w.data_dir.join("kubeconfig.yaml");
            let client = tutti_cli::config::connect(Some(kubeconfig))
                .await
                .context("rotating needs the manager's admin kubeconfig in its data directory")?
                .client;
            crate::manager::tokens::rotate(&client, &pki, w.role)
                .await
                .context("the cluster did not take the new token (is a manager running?)")?;
            println!("{}", current(&pki, w.role)?);
            eprintln!(
                "tutti: the previous {} token no longer works; nodes that already joined are not affected",
                w.role
            );
        }
    }
    Ok(())
}

/// The current token of `role` for the cluster whose PKI is in `pki`.
pub fn current(pki: &Path, role: Role) -> anyhow::Result<JoinToken> {
    let ca_path = pki.join("ca.crt");
    let ca = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "reading {} (is this a manager's data directory?)",
            ca_path.display()
        )
    })?;
    let digest = tutti_pki::ca_digest(&ca)?;
    Ok(JoinTokens::load(pki)?.token(role, &digest))
}
