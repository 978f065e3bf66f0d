//! `tutti version`: this client's version and the API server's (`GET /version`), which also
//! tells whether the configured cluster answers.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::{api, config, output};

/// Print the client and server versions.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VersionArgs {
    /// Print only the client version (no server needed).
    #[arg(long)]
    pub client: bool,
    /// Print as YAML or JSON instead of text.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<VersionFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VersionFormat {
    Yaml,
    Json,
}

/// `v0.1.0`: this build's version.
pub fn client_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

pub async fn run(kubeconfig: Option<PathBuf>, args: VersionArgs) -> Result<()> {
    let client = json!({"gitVersion": client_version()});
    if args.output.is_none() {
        output::line(&format!("Client Version: {}", client_version()))?;
    }
    let server = if args.client {
        None
    } else {
        Some(server_version(kubeconfig).await?)
    };
    match args.output {
        None => {
            if let Some(s) = &server {
                let git = s
                    .get("gitVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                output::line(&format!("Server Version: {git}"))?;
            }
        }
        Some(format) => {
            let mut doc = json!({"clientVersion": client});
            if let Some(s) = server {
                doc["serverVersion"] = s;
            }
            output::emit(&crate::output::object::render(
                &doc,
                format == VersionFormat::Yaml,
            )?)?;
        }
    }
    Ok(())
}

async fn server_version(kubeconfig: Option<PathBuf>) -> Result<Value> {
    let ctx = config::connect(kubeconfig).await?;
    let req = http::Request::get("/version")
        .body(Vec::new())
        .context("cannot build the /version request")?;
    Ok(api::send(&ctx, req).await?)
}
