//! tutti-cli: the user commands (`tutti apply/get/describe/delete/version`), speaking the
//! Kubernetes REST API through kube-rs exactly as kubectl does, and printing like kubectl.
//!
//! The binary parses [`Command`] (a clap subcommand enum) and hands it to [`run`] with the
//! global `--kubeconfig` flag.

pub mod api;
pub mod apply;
pub mod config;
pub mod delete;
pub mod describe;
pub mod get;
pub mod manifest;
pub mod output;
pub mod resource;
pub mod version;

use std::fmt;
use std::path::PathBuf;

pub use apply::ApplyArgs;
pub use delete::DeleteArgs;
pub use describe::DescribeArgs;
pub use get::GetArgs;
pub use version::VersionArgs;

/// The user commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Create or update objects from manifest files (server-side apply).
    Apply(ApplyArgs),
    /// List objects, or show some by name, as a table, YAML, JSON or names.
    Get(GetArgs),
    /// Show an object in detail, with its recent events.
    Describe(DescribeArgs),
    /// Delete objects by type and name, by label, or as listed in manifest files.
    Delete(DeleteArgs),
    /// Print the client and server versions.
    Version(VersionArgs),
}

/// `-n/--namespace`, accepted by every command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NamespaceArg {
    /// The namespace to use (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

impl NamespaceArg {
    /// The flag's namespace, else the context's.
    pub fn or_context(&self, ctx: &config::Context) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| ctx.namespace.clone())
    }
}

/// A command that printed its per-object errors on stderr as it went (like kubectl) and then
/// failed as a whole. The binary should exit non-zero; printing this summary is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub failed: usize,
    pub total: usize,
    /// What could not be done: `applied`, `deleted`, `found`.
    pub verb: &'static str,
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.total == 1 { "object" } else { "objects" };
        write!(
            f,
            "{} of {} {noun} could not be {}",
            self.failed, self.total, self.verb
        )
    }
}

impl std::error::Error for Reported {}

/// Runs one command against the cluster chosen by `kubeconfig` (see [`config::connect`]).
pub async fn run(cmd: Command, kubeconfig: Option<PathBuf>) -> anyhow::Result<()> {
    match cmd {
        Command::Apply(args) => apply::run(&config::connect(kubeconfig).await?, args).await,
        Command::Get(args) => get::run(&config::connect(kubeconfig).await?, args).await,
        Command::Describe(args) => describe::run(&config::connect(kubeconfig).await?, args).await,
        Command::Delete(args) => delete::run(&config::connect(kubeconfig).await?, args).await,
        // The client version prints even when no cluster is configured or reachable.
        Command::Version(args) => version::run(kubeconfig, args).await,
    }
}
