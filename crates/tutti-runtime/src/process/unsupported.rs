//! The parts of a container spec a host process cannot honour. The process driver refuses
//! such a spec (`RuntimeError::Unsupported`, naming every field) rather than run it with
//! the field silently ignored; the agent can call this first to set a pod condition.

use crate::ContainerSpec;

/// Field paths (and why) the process driver cannot honour for `spec`; empty when it can
/// run it. `agent_uid` is the uid the driver runs as (switching users needs root).
pub(crate) fn fields(spec: &ContainerSpec, agent_uid: u32) -> Vec<String> {
    let mut out = Vec::new();
    let sec = &spec.security;
    if !spec.mounts.is_empty() {
        let paths: Vec<&str> = spec
            .mounts
            .iter()
            .map(|m| m.container_path.as_str())
            .collect();
        out.push(format!(
            "volumeMounts ({}): a process sees the host file system",
            paths.join(", ")
        ));
    }
    if spec.cpu_limit_millis.is_some() {
        out.push("resources.limits.cpu: not enforced for host processes".to_string());
    }
    if spec.memory_limit_bytes.is_some() {
        out.push("resources.limits.memory: not enforced for host processes".to_string());
    }
    if sec.privileged {
        out.push("securityContext.privileged".to_string());
    }
    if sec.read_only_root_filesystem {
        out.push("securityContext.readOnlyRootFilesystem: a process shares the host's".to_string());
    }
    if !sec.cap_add.is_empty() {
        out.push("securityContext.capabilities.add".to_string());
    }
    let effective_uid = sec.run_as_user.unwrap_or(i64::from(agent_uid));
    if !sec.cap_drop.is_empty() && effective_uid == 0 {
        // A non-root user holds no capabilities anyway; root would keep them all.
        out.push("securityContext.capabilities.drop: the process would run as root with every capability".to_string());
    }
    if !sec.supplemental_groups.is_empty() {
        out.push("securityContext.supplementalGroups".to_string());
    }
    if agent_uid != 0 {
        if sec.run_as_user.is_some_and(|u| u != i64::from(agent_uid)) {
            out.push("securityContext.runAsUser: the agent does not run as root".to_string());
        }
        if sec.run_as_group.is_some() {
            out.push("securityContext.runAsGroup: the agent does not run as root".to_string());
        }
    }
    if spec.tty {
        out.push("tty".to_string());
    }
    if spec.stdin {
        out.push("stdin".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, Security};

    #[test]
    fn plain_commands_are_fine() {
        let spec = ContainerSpec {
            command: vec!["sleep".into(), "1".into()],
            env: vec![("A".into(), "b".into())],
            cpu_request_millis: Some(100),
            ..Default::default()
        };
        assert!(fields(&spec, 0).is_empty());
    }

    #[test]
    fn every_unhonoured_field_is_named() {
        let spec = ContainerSpec {
            mounts: vec![Mount {
                host_path: "/x".into(),
                container_path: "/data".into(),
                read_only: false,
            }],
            memory_limit_bytes: Some(1),
            security: Security {
                cap_drop: vec!["ALL".into()],
                read_only_root_filesystem: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let found = fields(&spec, 0);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("/data"));
        // Dropping capabilities is what a non-root user gets anyway.
        let non_root = ContainerSpec {
            security: Security {
                cap_drop: vec!["ALL".into()],
                run_as_user: Some(1000),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(fields(&non_root, 0).is_empty());
        assert_eq!(fields(&non_root, 1000).len(), 0);
        assert_eq!(fields(&non_root, 1001).len(), 1);
    }
}
