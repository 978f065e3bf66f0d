//! `tutti node ls|promote|demote|remove`: the cluster's machines as Swarm's `docker node`
//! shows them. Managers come from the Raft membership (`/tutti/v1/managers`), workers from
//! the Node objects; membership changes go to any manager (followers forward to the leader).

use std::path::PathBuf;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::manager::ManagerInfo;

#[derive(clap::Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(clap::Subcommand)]
enum NodeCommand {
    /// List managers (role, leader, reachability) and worker nodes (readiness).
    #[command(alias = "list")]
    Ls {
        /// Output format: table (default), json or yaml.
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
    },
    /// Make a manager that is a Raft learner a voter (after it caught up).
    Promote { name: String },
    /// Make a voting manager a learner: it keeps a copy of the state but does not vote.
    Demote { name: String },
    /// Remove a manager from the Raft group (stop its process afterwards).
    #[command(alias = "rm")]
    Remove { name: String },
}

#[derive(serde::Serialize)]
struct Row {
    name: String,
    role: String,
    status: String,
    manager_status: String,
    address: String,
}

pub async fn run(args: NodeArgs, kubeconfig: Option<PathBuf>) -> anyhow::Result<()> {
    let ctx = tutti_cli::config::connect(kubeconfig).await?;
    let client = ctx.client;
    match args.command {
        NodeCommand::Ls { output } => list(&client, &output).await,
        NodeCommand::Promote { name } => change(&client, &name, "promote", "promoted").await,
        NodeCommand::Demote { name } => change(&client, &name, "demote", "demoted").await,
        NodeCommand::Remove { name } => change(&client, &name, "", "removed").await,
    }
}

async fn managers(client: &kube::Client) -> anyhow::Result<Vec<ManagerInfo>> {
    let req = http::Request::get("/tutti/v1/managers").body(Vec::new())?;
    let text = client
        .request_text(req)
        .await
        .context("listing the managers (this needs an admin credential)")?;
    serde_json::from_str(&text).context("the managers' list is not JSON")
}

async fn list(client: &kube::Client, output: &str) -> anyhow::Result<()> {
    let mut managers = managers(client).await?;
    managers.sort_by(|a, b| a.name.cmp(&b.name));
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing nodes")?;
    let mut rows: Vec<Row> = managers
        .iter()
        .map(|m| Row {
            name: m.name.clone(),
            role: format!("manager ({})", m.role),
            status: match m.reachable {
                Some(true) => "Reachable".into(),
                Some(false) => "Unreachable".into(),
                None => "Unknown".into(),
            },
            manager_status: if m.leader {
                "Leader".into()
            } else {
                String::new()
            },
            address: m.addr.clone(),
        })
        .collect();
    for node in nodes.items {
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True");
        let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
        let mut state = match ready {
            Some(true) => "Ready".to_string(),
            _ => "NotReady".to_string(),
        };
        if unschedulable {
            state.push_str(",SchedulingDisabled");
        }
        let address = status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .unwrap_or_default();
        rows.push(Row {
            name: node.metadata.name.unwrap_or_default(),
            role: "worker".into(),
            status: state,
            manager_status: String::new(),
            address,
        });
    }
    match output {
        "json" => println!("{}", serde_json::to_string_pretty(&rows)?),
        "yaml" => print!("{}", serde_saphyr::to_string(&rows)?),
        "table" | "wide" => {
            let mut text = String::from("NAME\tROLE\tSTATUS\tMANAGER STATUS\tADDRESS\n");
            for r in &rows {
                let ms = if r.manager_status.is_empty() {
                    "-"
                } else {
                    &r.manager_status
                };
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    r.name, r.role, r.status, ms, r.address
                ));
            }
            print!(
                "{}",
                tutti_cli::output::table::align(&text, tutti_cli::output::table::TABLE_PADDING)
            );
        }
        other => bail!("-o {other}: use table, json or yaml"),
    }
    Ok(())
}

async fn change(client: &kube::Client, name: &str, verb: &str, done: &str) -> anyhow::Result<()> {
    let known = managers(client).await?;
    if !known
        .iter()
        .any(|m| m.name == name || m.id.to_string() == name)
    {
        let names: Vec<&str> = known.iter().map(|m| m.name.as_str()).collect();
        bail!("{name} is not a manager (managers: {})", names.join(", "));
    }
    let path = format!("/tutti/v1/managers/{name}");
    let req = if verb.is_empty() {
        http::Request::delete(path).body(Vec::new())?
    } else {
        http::Request::post(format!("{path}/{verb}")).body(Vec::new())?
    };
    client
        .request_text(req)
        .await
        .with_context(|| format!("manager {name} could not be {done}"))?;
    println!("manager {name} {done}");
    Ok(())
}
