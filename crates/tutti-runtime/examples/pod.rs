//! Drive a runtime driver by hand, one command per process (so every call is a "restarted
//! agent" re-adopting what the previous one started):
//!
//! ```text
//! cargo run -p tutti-runtime --example pod -- <docker|process> <state-dir> <command> ...
//!   run  <pod> <container> <image> [cmd...]   create the pod's sandbox, start a container
//!   list                                       containers and sandboxes
//!   logs <id> [--follow]
//!   exec <id> <cmd...>
//!   stop <id> [grace-seconds]
//!   rm   <id>
//!   rm-pod <pod-uid>
//! ```
//! The state directory matters only to the process driver; the docker driver keeps its state
//! in the engine, and sees only the containers of node `$TUTTI_NODE_NAME` (default: the
//! hostname, like `tutti agent`).

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use tutti_runtime::docker::DockerDriver;
use tutti_runtime::process::ProcessDriver;
use tutti_runtime::{ContainerSpec, LogOptions, PullPolicy, RuntimeDriver, SandboxSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [driver, state, command, rest @ ..] = args.as_slice() else {
        bail!("usage: pod <docker|process> <state-dir> <run|list|logs|exec|stop|rm|rm-pod> ...");
    };
    match driver.as_str() {
        "docker" => run(&DockerDriver::connect(&node_name()).await?, command, rest).await,
        "process" => run(&ProcessDriver::new(state.into()), command, rest).await,
        other => bail!("unknown driver {other}"),
    }
}

/// `$TUTTI_NODE_NAME`, else the hostname.
fn node_name() -> String {
    std::env::var("TUTTI_NODE_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        host.trim().to_ascii_lowercase()
    })
}

async fn run(d: &impl RuntimeDriver, command: &str, rest: &[String]) -> anyhow::Result<()> {
    match (command, rest) {
        ("run", [pod, name, image, cmd @ ..]) => {
            let sandbox = SandboxSpec {
                pod_uid: format!("{pod}-uid"),
                pod_name: pod.clone(),
                namespace: "default".into(),
                hostname: pod.clone(),
                ..Default::default()
            };
            d.ensure_image(image, PullPolicy::IfNotPresent).await?;
            let sb = d.create_sandbox(&sandbox).await?;
            let spec = ContainerSpec {
                pod_uid: sandbox.pod_uid.clone(),
                pod_name: pod.clone(),
                namespace: "default".into(),
                name: name.clone(),
                image: image.clone(),
                command: cmd.to_vec(),
                ..Default::default()
            };
            let c = d.start_container(&sb, &spec).await?;
            println!("{} pod-ip={:?} {:?}", c.id, sb.ip, c.state);
        }
        ("list", []) => {
            for c in d.list().await? {
                println!(
                    "{} pod={} {}#{} {:?}",
                    c.id, c.pod_uid, c.name, c.attempt, c.state
                );
            }
            for s in d.list_sandboxes().await? {
                println!(
                    "sandbox pod={} id={} ip={:?} running={}",
                    s.pod_uid, s.id, s.ip, s.running
                );
            }
        }
        ("logs", [id, flags @ ..]) => {
            let opts = LogOptions {
                follow: flags.iter().any(|f| f == "--follow"),
                ..Default::default()
            };
            let mut stream = d.logs(id, &opts).await?;
            while let Some(chunk) = stream.next().await {
                print!("{}", String::from_utf8_lossy(&chunk?));
            }
        }
        ("exec", [id, cmd @ ..]) => {
            let r = d.exec(id, cmd, Duration::from_secs(10)).await?;
            print!("{}", r.output);
            println!("exit code {}", r.exit_code);
        }
        ("stop", [id, grace @ ..]) => {
            let grace = grace
                .first()
                .map(|g| g.parse())
                .transpose()
                .context("grace seconds")?;
            d.stop_container(id, Duration::from_secs(grace.unwrap_or(10)))
                .await?;
            println!("{:?}", d.inspect(id).await?.state);
        }
        ("rm", [id]) => d.remove_container(id).await?,
        ("rm-pod", [uid]) => d.remove_sandbox(uid).await?,
        _ => bail!("bad command {command} {rest:?}"),
    }
    Ok(())
}
