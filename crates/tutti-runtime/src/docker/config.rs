//! A `ContainerSpec` translated into Docker's create body: command/args (Kubernetes'
//! entrypoint/cmd rules), env, working dir, bind mounts, cpu/memory limits, labels, and the
//! sandbox's network and IPC namespaces.

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount as EngineMount, MountType, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::{labels, security};
use crate::{ContainerSpec, RuntimeError};

/// The CFS period Kubernetes uses; quota = millicores × 100 µs.
const CPU_PERIOD_MICROS: i64 = 100_000;

/// The create body for `spec` on `node`, joined to the sandbox container `sandbox_id`.
pub(crate) fn container_body(
    spec: &ContainerSpec,
    node: &str,
    sandbox_id: &str,
    image_user: Option<&str>,
) -> Result<ContainerCreateBody, RuntimeError> {
    let join = format!("container:{sandbox_id}");
    let mut host = HostConfig {
        network_mode: Some(join.clone()),
        ipc_mode: Some(join),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        mounts: mounts(spec),
        ..Default::default()
    };
    resources(spec, &mut host)?;
    let mut body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        // Kubernetes: `command` replaces the image's ENTRYPOINT *and* CMD; `args` replace
        // CMD only. Docker does the same when Entrypoint is set and Cmd is not.
        entrypoint: non_empty(&spec.command),
        cmd: non_empty(&spec.args),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone().filter(|d| !d.is_empty()),
        labels: Some(labels::for_container(spec, node)),
        tty: Some(spec.tty),
        open_stdin: Some(spec.stdin),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        ..Default::default()
    };
    security::apply(spec, image_user, &mut body, &mut host)?;
    body.host_config = Some(host);
    Ok(body)
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Volumes the agent prepared on the host, as bind mounts (a missing host path is an error,
/// not an empty directory Docker would create).
fn mounts(spec: &ContainerSpec) -> Option<Vec<EngineMount>> {
    if spec.mounts.is_empty() {
        return None;
    }
    Some(
        spec.mounts
            .iter()
            .map(|m| EngineMount {
                typ: Some(MountType::BIND),
                source: Some(m.host_path.to_string_lossy().into_owned()),
                target: Some(m.container_path.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect(),
    )
}

/// cpu limit → CFS quota, cpu request → shares, memory limit → hard limit without swap.
fn resources(spec: &ContainerSpec, host: &mut HostConfig) -> Result<(), RuntimeError> {
    let too_big = |what: &str| {
        RuntimeError::StartFailed(format!(
            "container {}: {what} is too large for the container runtime",
            spec.name
        ))
    };
    if let Some(millis) = spec.cpu_limit_millis {
        let quota = i64::try_from(millis)
            .ok()
            .and_then(|m| m.checked_mul(100))
            .ok_or_else(|| too_big("resources.limits.cpu"))?;
        // The kernel refuses quotas under 1 ms; Kubernetes rounds up the same way.
        host.cpu_period = Some(CPU_PERIOD_MICROS);
        host.cpu_quota = Some(quota.max(1000));
    }
    if let Some(millis) = spec.cpu_request_millis {
        let shares = i64::try_from(millis)
            .ok()
            .and_then(|m| m.checked_mul(1024))
            .ok_or_else(|| too_big("resources.requests.cpu"))?
            / 1000;
        host.cpu_shares = Some(shares.max(2));
    }
    if let Some(bytes) = spec.memory_limit_bytes {
        let bytes = i64::try_from(bytes).map_err(|_| too_big("resources.limits.memory"))?;
        host.memory = Some(bytes);
        host.memory_swap = Some(bytes);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mount;

    #[test]
    fn command_args_env_and_namespaces() -> Result<(), RuntimeError> {
        let spec = ContainerSpec {
            name: "c".into(),
            image: "busybox".into(),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo hi".into()],
            env: vec![("A".into(), "1".into()), ("B".into(), "x=y".into())],
            working_dir: Some("/tmp".into()),
            ..Default::default()
        };
        let body = container_body(&spec, "node-a", "sbx", None)?;
        assert_eq!(
            body.entrypoint,
            Some(vec!["sh".to_string(), "-c".to_string()])
        );
        assert_eq!(body.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(body.env, Some(vec!["A=1".to_string(), "B=x=y".to_string()]));
        assert_eq!(body.working_dir.as_deref(), Some("/tmp"));
        let labels = body.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("io.tutti.node").map(String::as_str),
            Some("node-a")
        );
        let host = body.host_config.unwrap_or_default();
        assert_eq!(host.network_mode.as_deref(), Some("container:sbx"));
        assert_eq!(host.ipc_mode.as_deref(), Some("container:sbx"));
        assert_eq!(host.mounts, None);
        Ok(())
    }

    #[test]
    fn image_defaults_stay_when_command_and_args_are_empty() -> Result<(), RuntimeError> {
        let body = container_body(&ContainerSpec::default(), "node-a", "s", None)?;
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, None);
        assert_eq!(body.working_dir, None);
        Ok(())
    }

    #[test]
    fn limits_follow_kubernetes_arithmetic() -> Result<(), RuntimeError> {
        let spec = ContainerSpec {
            cpu_limit_millis: Some(250),
            cpu_request_millis: Some(100),
            memory_limit_bytes: Some(64 << 20),
            mounts: vec![Mount {
                host_path: "/var/lib/x".into(),
                container_path: "/data".into(),
                read_only: true,
            }],
            ..Default::default()
        };
        let host = container_body(&spec, "node-a", "s", None)?
            .host_config
            .unwrap_or_default();
        assert_eq!(host.cpu_period, Some(100_000));
        assert_eq!(host.cpu_quota, Some(25_000));
        assert_eq!(host.cpu_shares, Some(102));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        let mounts = host.mounts.unwrap_or_default();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source.as_deref(), Some("/var/lib/x"));
        assert_eq!(mounts[0].read_only, Some(true));
        Ok(())
    }
}
