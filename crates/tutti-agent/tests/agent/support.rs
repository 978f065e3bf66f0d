//! Test plumbing: an in-process API server, agents on fake or process drivers, polling.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, PostParams};
use tokio::task::JoinHandle;
use tutti_agent::{Agent, AgentConfig, LogState};
use tutti_runtime::RuntimeDriver;

pub type Result<T = ()> = anyhow::Result<T>;

pub const NODE: &str = "node-1";

/// A config with test timings: 200 ms back-off base, 100 ms sync, 1 s node status.
pub fn config(driver: Arc<dyn RuntimeDriver>, dir: &Path) -> AgentConfig {
    let mut c = AgentConfig::new(NODE, "127.0.0.1", dir.join("data"), driver.clone(), driver);
    c.backoff_base = Duration::from_millis(200);
    c.sync_period = Duration::from_millis(100);
    c.node_status_period = Duration::from_secs(1);
    c.lease_duration = Duration::from_secs(2);
    c.shm_dir = dir.join("shm");
    c.log_port = 10250;
    c
}

/// A running agent; dropping it does not stop it, `stop` does (like `kill -9` for the
/// agent's own tasks: its containers keep running in the driver).
pub struct RunningAgent {
    pub task: JoinHandle<std::result::Result<(), tutti_agent::AgentError>>,
    pub logs: LogState,
}

impl RunningAgent {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub fn start(client: &kube::Client, config: AgentConfig) -> RunningAgent {
    let agent = Agent::new(client.clone(), config);
    let logs = agent.log_state();
    RunningAgent {
        task: tokio::spawn(agent.run()),
        logs,
    }
}

/// Poll `f` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn pods(client: &kube::Client) -> Api<Pod> {
    Api::namespaced(client.clone(), "default")
}

/// Create a pod bound to [`NODE`] from its spec.
pub async fn create_pod(client: &kube::Client, name: &str, spec: serde_json::Value) -> Result<Pod> {
    let mut spec = spec;
    spec["nodeName"] = serde_json::json!(NODE);
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))?;
    Ok(pods(client).create(&PostParams::default(), &pod).await?)
}

/// Wait until pod `name` satisfies `check`; returns it.
pub async fn wait_pod(
    client: &kube::Client,
    name: &str,
    what: &str,
    secs: u64,
    check: impl Fn(&Pod) -> bool,
) -> Result<Pod> {
    let api = pods(client);
    wait_for(what, secs, || async {
        api.get_opt(name).await.ok().flatten().filter(|p| check(p))
    })
    .await
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn condition<'a>(p: &'a Pod, t: &str) -> Option<&'a str> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| c.status.as_str())
}

pub fn container_status<'a>(
    p: &'a Pod,
    name: &str,
) -> Option<&'a k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

pub fn waiting_reason(p: &Pod, name: &str) -> Option<String> {
    container_status(p, name)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

/// Reasons of the events about pod `name`.
pub async fn event_reasons(client: &kube::Client, name: &str) -> Result<Vec<(String, String)>> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}
