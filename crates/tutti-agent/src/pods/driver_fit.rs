//! Does a runtime driver fit a pod? What a driver cannot honour is either ignored and
//! listed in the pod condition `tutti.dev/Unsupported` (resource limits, volume mounts,
//! capabilities on the process driver; grpc/HTTPS probes everywhere), or — when running
//! would be wrong — refused with `CreateContainerConfigError`: a container without a
//! command on a driver without images, a user identity the driver cannot switch to, a
//! hostPort remapping without a pod network. Ignored fields are not passed to the driver
//! (see [`strip`]), which refuses what it cannot honour.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Probe, SecurityContext};
use tutti_runtime::{Capabilities, ContainerSpec, Security};

/// The condition type listing ignored fields.
pub const UNSUPPORTED_CONDITION: &str = "tutti.dev/Unsupported";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// Ignored fields, as field paths with a note.
    pub ignored: Vec<String>,
    /// Container name → why it must not run.
    pub refused: BTreeMap<String, String>,
}

impl Fit {
    /// The `tutti.dev/Unsupported` condition message, if anything is ignored.
    pub fn message(&self, driver: &str) -> Option<String> {
        (!self.ignored.is_empty()).then(|| {
            format!(
                "ignored by the {driver} driver: {}",
                self.ignored.join(", ")
            )
        })
    }
}

/// Check `pod` against a driver. `process_requested`: the pod asked for
/// `runtimeClassName: process` (so images are knowingly ignored). `agent_uid`: the uid the
/// agent (and so a process it starts) runs as.
pub fn check(
    pod: &Pod,
    caps: &Capabilities,
    driver: &str,
    process_requested: bool,
    agent_uid: Option<i64>,
) -> Fit {
    let mut fit = Fit::default();
    let Some(spec) = pod.spec.as_ref() else {
        return fit;
    };
    let pod_sc = spec.security_context.as_ref();
    let lists = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (field, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            let path = format!("spec.{field}[{i}]");
            check_container(c, &path, caps, driver, process_requested, &mut fit);
            if !caps.security_context {
                let sc = c.security_context.as_ref();
                let identity = Identity {
                    user: sc
                        .and_then(|s| s.run_as_user)
                        .or(pod_sc.and_then(|s| s.run_as_user)),
                    group: sc
                        .and_then(|s| s.run_as_group)
                        .or(pod_sc.and_then(|s| s.run_as_group)),
                    non_root: sc
                        .and_then(|s| s.run_as_non_root)
                        .or(pod_sc.and_then(|s| s.run_as_non_root))
                        == Some(true),
                };
                if let Some(why) = identity.refusal(driver, agent_uid) {
                    fit.refused.insert(c.name.clone(), why);
                }
            }
        }
    }
    if !caps.security_context
        && pod_sc.is_some_and(|s| s.supplemental_groups.is_some() || s.fs_group.is_some())
    {
        fit.ignored
            .push("spec.securityContext.supplementalGroups/fsGroup".to_string());
    }
    if !caps.pod_network && !process_requested && spec.host_network != Some(true) {
        fit.ignored
            .push("pod network (the pod shares the node's network)".to_string());
    }
    fit
}

/// The user a container asks to run as.
struct Identity {
    user: Option<i64>,
    group: Option<i64>,
    non_root: bool,
}

impl Identity {
    /// Why a driver that can only switch users when the agent is root must refuse it.
    fn refusal(&self, driver: &str, agent_uid: Option<i64>) -> Option<String> {
        let root = agent_uid == Some(0);
        if let Some(uid) = self.user.filter(|u| !root && Some(*u) != agent_uid) {
            return Some(format!(
                "runAsUser {uid} cannot be honoured by the {driver} driver: the agent does not run as root"
            ));
        }
        if let Some(gid) = self.group.filter(|_| !root) {
            return Some(format!(
                "runAsGroup {gid} cannot be honoured by the {driver} driver: the agent does not run as root"
            ));
        }
        if self.non_root && root && self.user.is_none_or(|u| u == 0) {
            return Some(format!(
                "runAsNonRoot cannot be honoured by the {driver} driver: it would run the process as root (set runAsUser)"
            ));
        }
        None
    }
}

fn check_container(
    c: &Container,
    path: &str,
    caps: &Capabilities,
    driver: &str,
    process_requested: bool,
    fit: &mut Fit,
) {
    if !caps.images {
        if c.command.as_ref().is_none_or(|v| v.is_empty()) {
            fit.refused.insert(
                c.name.clone(),
                format!("{path}.command is required: the {driver} driver runs a host command and cannot use an image's entrypoint"),
            );
        }
        if !process_requested && c.image.as_ref().is_some_and(|i| !i.is_empty()) {
            fit.ignored.push(format!("{path}.image"));
        }
        // A host process has no terminal or stdin of its own.
        if c.tty == Some(true) {
            fit.ignored.push(format!("{path}.tty"));
        }
        if c.stdin == Some(true) {
            fit.ignored.push(format!("{path}.stdin"));
        }
    }
    if !caps.pod_network
        && let Some(p) = c
            .ports
            .iter()
            .flatten()
            .find(|p| p.host_port.is_some_and(|h| h > 0 && h != p.container_port))
    {
        fit.refused.insert(
            c.name.clone(),
            format!(
                "hostPort {} for containerPort {}: the {driver} driver runs in the node's network, so they must be equal",
                p.host_port.unwrap_or_default(),
                p.container_port
            ),
        );
    }
    if !caps.mounts && c.volume_mounts.as_ref().is_some_and(|m| !m.is_empty()) {
        fit.ignored.push(format!("{path}.volumeMounts"));
    }
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    if !caps.resource_limits && limits.is_some_and(|l| !l.is_empty()) {
        fit.ignored.push(format!("{path}.resources.limits"));
    }
    if !caps.security_context
        && let Some(sc) = &c.security_context
    {
        ignored_security(sc, path, fit);
    }
    for (name, probe) in [
        ("startupProbe", &c.startup_probe),
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
    ] {
        if let Some(note) = probe.as_ref().and_then(approximated_probe) {
            fit.ignored.push(format!("{path}.{name}.{note}"));
        }
    }
}

fn ignored_security(sc: &SecurityContext, path: &str, fit: &mut Fit) {
    let fields = [
        ("privileged", sc.privileged.is_some()),
        ("capabilities", sc.capabilities.is_some()),
        (
            "readOnlyRootFilesystem",
            sc.read_only_root_filesystem == Some(true),
        ),
        (
            "allowPrivilegeEscalation",
            sc.allow_privilege_escalation.is_some(),
        ),
        ("seccompProfile", sc.seccomp_profile.is_some()),
        ("seLinuxOptions", sc.se_linux_options.is_some()),
    ];
    for (field, set) in fields {
        if set {
            fit.ignored.push(format!("{path}.securityContext.{field}"));
        }
    }
}

/// Take out of `spec` what the driver cannot honour (and [`check`] listed as ignored).
pub fn strip(spec: &mut ContainerSpec, caps: &Capabilities) {
    if !caps.mounts {
        spec.mounts.clear();
    }
    if !caps.resource_limits {
        spec.cpu_limit_millis = None;
        spec.memory_limit_bytes = None;
    }
    if !caps.security_context {
        spec.security = Security {
            run_as_user: spec.security.run_as_user,
            run_as_group: spec.security.run_as_group,
            ..Default::default()
        };
    }
    if !caps.images {
        spec.tty = false;
        spec.stdin = false;
    }
}

/// Probes checked only as a TCP connection.
fn approximated_probe(p: &Probe) -> Option<&'static str> {
    if p.grpc.is_some() {
        return Some("grpc (checked as a TCP connection)");
    }
    if p.http_get.as_ref().and_then(|h| h.scheme.as_deref()) == Some("HTTPS") {
        return Some("httpGet.scheme HTTPS (checked as a TCP connection)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn process() -> Capabilities {
        Capabilities {
            exec: true,
            ..Default::default()
        }
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": v})).unwrap()
    }

    #[test]
    fn process_driver_lists_what_it_ignores() {
        let p = pod(
            json!({"containers": [{"name": "web", "image": "nginx", "command": ["nginx"],
            "resources": {"limits": {"memory": "64Mi"}},
            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
            "securityContext": {"readOnlyRootFilesystem": true}}]}),
        );
        let fit = check(&p, &process(), "process", false, Some(1000));
        assert_eq!(
            fit.ignored,
            [
                "spec.containers[0].image",
                "spec.containers[0].volumeMounts",
                "spec.containers[0].resources.limits",
                "spec.containers[0].securityContext.readOnlyRootFilesystem",
                "pod network (the pod shares the node's network)",
            ]
        );
        assert!(fit.refused.is_empty());
        let asked = check(&p, &process(), "process", true, Some(1000));
        assert_eq!(
            asked.ignored.len(),
            3,
            "image and network are what process pods ask for"
        );
        assert_eq!(
            asked.message("process").unwrap_or_default(),
            "ignored by the process driver: spec.containers[0].volumeMounts, spec.containers[0].resources.limits, spec.containers[0].securityContext.readOnlyRootFilesystem"
        );
    }

    #[test]
    fn refuses_what_would_run_wrongly() {
        let p = pod(json!({"containers": [
            {"name": "no-cmd", "image": "nginx"},
            {"name": "other-user", "image": "x", "command": ["x"], "securityContext": {"runAsUser": 1234}},
            {"name": "same-user", "image": "x", "command": ["x"], "securityContext": {"runAsUser": 1000}},
            {"name": "remapped", "image": "x", "command": ["x"], "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "same-port", "image": "x", "command": ["x"], "ports": [{"containerPort": 80, "hostPort": 80}]},
        ]}));
        let fit = check(&p, &process(), "process", true, Some(1000));
        assert_eq!(
            fit.refused.keys().collect::<Vec<_>>(),
            ["no-cmd", "other-user", "remapped"]
        );
        let as_root = check(&p, &process(), "process", true, Some(0));
        assert_eq!(
            as_root.refused.keys().collect::<Vec<_>>(),
            ["no-cmd", "remapped"],
            "root can switch users"
        );
        let non_root = pod(json!({"securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "c", "image": "x", "command": ["x"]}]}));
        assert_eq!(
            check(&non_root, &process(), "process", true, Some(0))
                .refused
                .len(),
            1
        );
        let non_root_user = pod(
            json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "containers": [{"name": "c", "image": "x", "command": ["x"]}]}),
        );
        assert!(
            check(&non_root_user, &process(), "process", true, Some(0))
                .refused
                .is_empty()
        );
        assert!(
            check(&non_root, &process(), "process", true, Some(1000))
                .refused
                .is_empty()
        );
    }

    #[test]
    fn strip_removes_what_is_ignored() {
        let mut spec = ContainerSpec {
            mounts: vec![tutti_runtime::Mount {
                host_path: "/x".into(),
                container_path: "/y".into(),
                read_only: false,
            }],
            memory_limit_bytes: Some(1),
            cpu_request_millis: Some(100),
            tty: true,
            security: Security {
                run_as_user: Some(1000),
                privileged: true,
                ..Default::default()
            },
            ..Default::default()
        };
        strip(&mut spec, &process());
        assert!(spec.mounts.is_empty() && spec.memory_limit_bytes.is_none() && !spec.tty);
        assert_eq!(spec.cpu_request_millis, Some(100));
        assert_eq!(spec.security.run_as_user, Some(1000));
        assert!(!spec.security.privileged);
    }

    #[test]
    fn a_full_driver_fits_everything_but_approximated_probes() {
        let all = Capabilities {
            images: true,
            pod_network: true,
            mounts: true,
            resource_limits: true,
            security_context: true,
            exec: true,
        };
        let p = pod(json!({"containers": [{"name": "c", "image": "x",
            "resources": {"limits": {"cpu": "1"}},
            "livenessProbe": {"grpc": {"port": 9000}}}]}));
        let fit = check(&p, &all, "docker", false, Some(0));
        assert_eq!(
            fit.ignored,
            ["spec.containers[0].livenessProbe.grpc (checked as a TCP connection)"]
        );
    }
}
