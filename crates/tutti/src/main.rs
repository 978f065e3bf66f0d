//! tutti: one binary for the manager (`server`), a one-machine cluster (`dev`) and the user
//! commands (`apply`, `get`, ...). This file is glue: parse flags, set up tracing, start roles.

mod join;
mod kubeconfig;
mod manager;
mod node;
mod nodes;
mod token;
mod whoami;

use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: the API server allocates and frees a JSON tree per
/// object it reads or writes, and glibc's malloc/free were a third of its CPU at 5,000
/// nodes (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tutti",
    version,
    about = "A container orchestrator that speaks Kubernetes, in one binary"
)]
struct Cli {
    /// Kubeconfig for the client commands (default: $KUBECONFIG, then the dev cluster's).
    #[arg(long, global = true, env = "TUTTI_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a one-machine cluster (manager and node agent in one process) for development.
    Dev(manager::DevArgs),
    /// Run a manager: the API server over the Raft store.
    Server(manager::ServerArgs),
    /// Run a node agent that runs the pods a manager assigns to this machine.
    Agent(node::AgentArgs),
    /// Join this machine to a cluster as a node, with a join token.
    Join(join::JoinArgs),
    /// List the cluster's managers and workers; promote, demote or remove managers.
    Node(nodes::NodeArgs),
    /// Show or rotate a cluster's join tokens (on a manager).
    Token(token::TokenArgs),
    /// Answer HTTP requests with who served them (pod, IP): for load-balancing tests.
    Whoami(whoami::WhoamiArgs),
    #[command(flatten)]
    Client(tutti_cli::Command),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Roles log their lifecycle; client commands speak for themselves and log only failures.
    let default_filter = match cli.command {
        Command::Client(_) => "error,kube_client=off",
        // Fetching the CA is unverified on purpose (its digest is checked against the token).
        Command::Join(_) => "info,openraft=warn,hickory_server=warn,kube_client::client::tls=error",
        Command::Token(_) | Command::Node(_) => "warn",
        _ => "info,openraft=warn,hickory_server=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TUTTI_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The command already printed one error line per failed object.
        Err(e) if e.is::<tutti_cli::Reported>() => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => manager::run_dev(args).await,
            Command::Server(args) => manager::run_server(args).await,
            Command::Agent(args) => node::run_agent(args, cli.kubeconfig).await,
            Command::Join(args) => join::run_join(args).await,
            Command::Token(args) => token::run(args).await,
            Command::Node(args) => nodes::run(args, cli.kubeconfig).await,
            Command::Whoami(args) => whoami::run(args).await,
            Command::Client(cmd) => tutti_cli::run(cmd, cli.kubeconfig).await,
        }
    })
}
