//! A pod's containers on Docker: create-and-start (idempotent per attempt), stop with a
//! grace period, force remove, inspect and list (for re-adoption).

use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as EngineError;
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, StopContainerOptions,
};
use tracing::{debug, info, warn};

use super::labels::{self, Kind};
use super::{config, engine_error, image, is_not_found, names, state};
use crate::{ContainerInfo, ContainerSpec, ContainerState, RuntimeError, SandboxInfo};

/// Extra time the engine gets, beyond the grace period, to answer a stop.
const STOP_SLACK: Duration = Duration::from_secs(30);

/// Create and start `spec` in the sandbox. Starting an attempt that already exists
/// returns it (started if it was only created), so a retried call does not fail.
pub(crate) async fn start(
    docker: &Docker,
    node: &str,
    sandbox: &SandboxInfo,
    spec: &ContainerSpec,
) -> Result<ContainerInfo, RuntimeError> {
    if sandbox.id.is_empty() {
        return Err(RuntimeError::StartFailed(format!(
            "container {}: the pod has no docker sandbox to join",
            spec.name
        )));
    }
    let name = names::container(
        node,
        &spec.name,
        &spec.pod_name,
        &spec.namespace,
        &spec.pod_uid,
        spec.attempt,
    );
    let image_user = image::configured_user(docker, &spec.image).await?;
    let body = config::container_body(spec, node, &sandbox.id, image_user.as_deref())?;
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let id = match docker.create_container(Some(options), body).await {
        Ok(created) => created.id,
        Err(EngineError::DockerResponseServerError {
            status_code: 409, ..
        }) => {
            debug!(container = %name, "attempt already exists");
            let existing = inspect(docker, &name).await?;
            if existing.state != ContainerState::Created {
                return Ok(existing);
            }
            existing.id
        }
        Err(e) => return Err(start_failed(&name, e)),
    };
    if let Err(e) = docker.start_container(&id, None).await {
        // A container that cannot start (no such executable, bad mount) is removed, so the
        // agent's next attempt starts clean; the reason travels in the error.
        warn!(container = %name, error = %e, "start failed");
        let _ = remove(docker, &id).await;
        return Err(match start_failed(&name, e) {
            RuntimeError::StartFailed(m) if spec.security.privileged && m.contains("caps") => {
                RuntimeError::StartFailed(format!(
                    "{m} (securityContext.privileged asks for every capability the engine \
                     knows, and this host's capability bounding set lacks some: compare \
                     CapBnd in /proc/<dockerd pid>/status with /proc/sys/kernel/cap_last_cap)"
                ))
            }
            other => other,
        });
    }
    info!(container = %name, id = %id, "container started");
    inspect(docker, &id).await
}

/// SIGTERM, then SIGKILL after `grace`; returns once the container has exited.
pub(crate) async fn stop(docker: &Docker, id: &str, grace: Duration) -> Result<(), RuntimeError> {
    let seconds = i32::try_from(grace.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
    let options = StopContainerOptions {
        t: Some(seconds),
        signal: None,
    };
    // The engine answers when the container is gone: give it the grace period and then some.
    let patient = docker.clone().with_timeout(grace + STOP_SLACK);
    match patient.stop_container(id, Some(options)).await {
        // 304: already stopped.
        Ok(()) => {
            debug!(container = %id, grace_s = seconds, "container stopped");
            Ok(())
        }
        Err(e) => Err(engine_error(id, e)),
    }
}

/// Force-remove (kills a running container). Removing what is gone is `Ok`.
pub(crate) async fn remove(docker: &Docker, id: &str) -> Result<(), RuntimeError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {
            debug!(container = %id, "container removed");
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        // 409 "removal already in progress": it will be gone in a moment.
        Err(EngineError::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("already in progress") => Ok(()),
        Err(e) => Err(engine_error(id, e)),
    }
}

pub(crate) async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInfo, RuntimeError> {
    let found = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| engine_error(id, e))?;
    Ok(state::container_info(&found))
}

/// Every managed container of `node` (not sandboxes), running or exited.
pub(crate) async fn list(docker: &Docker, node: &str) -> Result<Vec<ContainerInfo>, RuntimeError> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(labels::filter(node, Kind::Container, None)),
        ..Default::default()
    };
    let summaries = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| engine_error("containers", e))?;
    let mut infos = Vec::with_capacity(summaries.len());
    for id in summaries.into_iter().filter_map(|s| s.id) {
        match inspect(docker, &id).await {
            Ok(info) => infos.push(info),
            Err(RuntimeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    infos.sort_by(|a, b| (&a.pod_uid, &a.name, a.attempt).cmp(&(&b.pod_uid, &b.name, b.attempt)));
    Ok(infos)
}

fn start_failed(name: &str, e: EngineError) -> RuntimeError {
    match e {
        EngineError::DockerResponseServerError { message, .. } => {
            RuntimeError::StartFailed(format!("container {name}: {message}"))
        }
        other => engine_error(name, other),
    }
}
