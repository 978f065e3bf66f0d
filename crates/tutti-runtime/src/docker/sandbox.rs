//! The pod sandbox: a `tutti/pause` container that owns the pod's network namespace
//! (hostname, DNS, published hostPorts, the pod IP) and a shareable IPC namespace.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
};
use tracing::{debug, info};

use super::image::{PAUSE_IMAGE, ensure_pause};
use super::labels::{self, Kind};
use super::{engine_error, is_not_found, names, state};
use crate::{RuntimeError, SandboxInfo, SandboxSpec};

/// The default network when `SandboxSpec.network` is unset: Docker's own bridge.
const DEFAULT_NETWORK: &str = "bridge";

/// Create the pod's sandbox, or return the running one. A sandbox that is no longer running
/// has lost its network namespace: it is removed and replaced (the agent must then restart
/// the pod's containers, since they were joined to the old one).
pub(crate) async fn create(
    docker: &Docker,
    node: &str,
    spec: &SandboxSpec,
) -> Result<SandboxInfo, RuntimeError> {
    for found in find(docker, node, &spec.pod_uid).await? {
        if state::is_running(&found) {
            debug!(pod_uid = %spec.pod_uid, "sandbox already running");
            return Ok(info(&found, &spec.pod_uid));
        }
        let id = found.id.unwrap_or_default();
        info!(pod_uid = %spec.pod_uid, sandbox = %id, "replacing a sandbox that is not running");
        remove_one(docker, &id).await?;
    }
    ensure_pause(docker).await?;
    let name = names::sandbox(node, &spec.pod_name, &spec.namespace, &spec.pod_uid);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(options), body(spec, node))
        .await
        .map_err(|e| start_failed(&name, e))?;
    if let Err(e) = docker.start_container(&created.id, None).await {
        let _ = remove_one(docker, &created.id).await;
        return Err(start_failed(&name, e));
    }
    let found = docker
        .inspect_container(&created.id, None)
        .await
        .map_err(|e| engine_error(&created.id, e))?;
    let sandbox = info(&found, &spec.pod_uid);
    info!(pod_uid = %spec.pod_uid, sandbox = %sandbox.id, ip = %sandbox.ip, "sandbox started");
    Ok(sandbox)
}

/// Remove every sandbox of the pod on `node` (normally one). Idempotent.
pub(crate) async fn remove(docker: &Docker, node: &str, pod_uid: &str) -> Result<(), RuntimeError> {
    for found in find(docker, node, pod_uid).await? {
        remove_one(docker, found.id.as_deref().unwrap_or_default()).await?;
    }
    Ok(())
}

/// Every sandbox of `node`, running or not.
pub(crate) async fn list(docker: &Docker, node: &str) -> Result<Vec<SandboxInfo>, RuntimeError> {
    let all = inspect_all(docker, node, None).await?;
    Ok(all
        .iter()
        .map(|found| {
            let config = found.config.as_ref();
            let uid = labels::identity(config.and_then(|c| c.labels.as_ref())).pod_uid;
            info(found, &uid)
        })
        .collect())
}

async fn find(
    docker: &Docker,
    node: &str,
    pod_uid: &str,
) -> Result<Vec<ContainerInspectResponse>, RuntimeError> {
    inspect_all(docker, node, Some(pod_uid)).await
}

async fn inspect_all(
    docker: &Docker,
    node: &str,
    pod_uid: Option<&str>,
) -> Result<Vec<ContainerInspectResponse>, RuntimeError> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(labels::filter(node, Kind::Sandbox, pod_uid)),
        ..Default::default()
    };
    let summaries = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| engine_error("sandboxes", e))?;
    let mut found = Vec::with_capacity(summaries.len());
    for id in summaries.into_iter().filter_map(|s| s.id) {
        match docker.inspect_container(&id, None).await {
            Ok(one) => found.push(one),
            // Removed between the list and the inspect.
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(engine_error(&id, e)),
        }
    }
    Ok(found)
}

async fn remove_one(docker: &Docker, id: &str) -> Result<(), RuntimeError> {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(engine_error(id, e)),
    }
}

fn start_failed(name: &str, e: bollard::errors::Error) -> RuntimeError {
    match engine_error(name, e) {
        RuntimeError::Other(m) | RuntimeError::NotFound { id: m } => {
            RuntimeError::StartFailed(format!("sandbox {name}: {m}"))
        }
        other => other,
    }
}

/// The pod IP is the sandbox's address on its (single) network; empty for host-network pods.
fn info(found: &ContainerInspectResponse, pod_uid: &str) -> SandboxInfo {
    let ip = found
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .and_then(|nets| {
            let mut nets: Vec<_> = nets.iter().collect();
            nets.sort_by(|a, b| a.0.cmp(b.0));
            nets.into_iter()
                .filter_map(|(_, e)| e.ip_address.clone())
                .find(|ip| !ip.is_empty())
        })
        .unwrap_or_default();
    SandboxInfo {
        pod_uid: pod_uid.to_string(),
        id: found.id.clone().unwrap_or_default(),
        ip,
        running: state::is_running(found),
    }
}

fn body(spec: &SandboxSpec, node: &str) -> ContainerCreateBody {
    let network = if spec.host_network {
        "host".to_string()
    } else {
        spec.network
            .clone()
            .unwrap_or_else(|| DEFAULT_NETWORK.to_string())
    };
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    if !spec.host_network {
        for port in &spec.ports {
            let key = format!(
                "{}/{}",
                port.container_port,
                port.protocol.to_ascii_lowercase()
            );
            exposed.push(key.clone());
            bindings
                .entry(key)
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: port.host_ip.clone().filter(|ip| !ip.is_empty()),
                    host_port: Some(port.host_port.to_string()),
                });
        }
    }
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let host = HostConfig {
        network_mode: Some(network),
        ipc_mode: Some("shareable".to_string()),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        dns: non_empty(&spec.dns_servers),
        dns_search: non_empty(&spec.dns_search),
        dns_options: non_empty(&spec.dns_options),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(PAUSE_IMAGE.to_string()),
        hostname: (!spec.host_network && !spec.hostname.is_empty()).then(|| spec.hostname.clone()),
        labels: Some(labels::for_sandbox(spec, node)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortMapping;

    #[test]
    fn sandbox_publishes_host_ports_and_sets_dns() {
        let spec = SandboxSpec {
            pod_uid: "u".into(),
            hostname: "web-0".into(),
            ports: vec![PortMapping {
                container_port: 80,
                host_port: 8080,
                host_ip: None,
                protocol: "TCP".into(),
            }],
            dns_servers: vec!["10.96.0.10".into()],
            dns_search: vec!["default.svc.cluster.local".into()],
            ..Default::default()
        };
        let body = body(&spec, "node-a");
        assert_eq!(body.hostname.as_deref(), Some("web-0"));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let host = body.host_config.unwrap_or_default();
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host.ipc_mode.as_deref(), Some("shareable"));
        assert_eq!(host.dns, Some(vec!["10.96.0.10".to_string()]));
        let bindings = host.port_bindings.unwrap_or_default();
        let port = bindings
            .get("80/tcp")
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(port[0].host_port.as_deref(), Some("8080"));
    }

    #[test]
    fn host_network_keeps_the_node_hostname() {
        let spec = SandboxSpec {
            host_network: true,
            hostname: "ignored".into(),
            ..Default::default()
        };
        let body = body(&spec, "node-a");
        assert_eq!(body.hostname, None);
        assert_eq!(
            body.host_config.and_then(|h| h.network_mode).as_deref(),
            Some("host")
        );
    }
}
