//! securityContext for docker: numeric `uid:gid` users, the runAsNonRoot check against the
//! image's user, capabilities (`all`/`cap_net_admin` → `ALL`/`NET_ADMIN`), privileged and a
//! read-only root file system.

use bollard::models::{ContainerCreateBody, HostConfig};

use crate::{ContainerSpec, RuntimeError};

/// Apply `spec.security` to the create body; `image_user` is the image's `USER`, if any.
pub(crate) fn apply(
    spec: &ContainerSpec,
    image_user: Option<&str>,
    body: &mut ContainerCreateBody,
    host: &mut HostConfig,
) -> Result<(), RuntimeError> {
    let sec = &spec.security;
    if sec.run_as_non_root {
        check_non_root(spec, image_user)?;
    }
    body.user = user(sec.run_as_user, sec.run_as_group, image_user);
    if !sec.supplemental_groups.is_empty() {
        host.group_add = Some(
            sec.supplemental_groups
                .iter()
                .map(|g| g.to_string())
                .collect(),
        );
    }
    if !sec.cap_add.is_empty() {
        host.cap_add = Some(sec.cap_add.iter().map(|c| capability(c)).collect());
    }
    if !sec.cap_drop.is_empty() {
        host.cap_drop = Some(sec.cap_drop.iter().map(|c| capability(c)).collect());
    }
    if sec.privileged {
        host.privileged = Some(true);
    }
    if sec.read_only_root_filesystem {
        host.readonly_rootfs = Some(true);
    }
    Ok(())
}

/// Docker's `User`: `uid`, `uid:gid`, or the image's user with our group; `None` keeps the
/// image's own user.
fn user(uid: Option<i64>, gid: Option<i64>, image_user: Option<&str>) -> Option<String> {
    let image_name = image_user
        .map(|u| u.split(':').next().unwrap_or(u))
        .filter(|u| !u.is_empty());
    match (uid, gid) {
        (None, None) => None,
        (Some(uid), None) => Some(uid.to_string()),
        (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
        (None, Some(gid)) => Some(format!("{}:{gid}", image_name.unwrap_or("0"))),
    }
}

/// Kubernetes' runAsNonRoot: refuse uid 0, and a user name that cannot be verified.
fn check_non_root(spec: &ContainerSpec, image_user: Option<&str>) -> Result<(), RuntimeError> {
    let whose = format!(
        "(pod: \"{}/{}\", container: {})",
        spec.namespace, spec.pod_name, spec.name
    );
    let refuse = |why: String| Err(RuntimeError::StartFailed(format!("{why} {whose}")));
    if let Some(uid) = spec.security.run_as_user {
        if uid == 0 {
            return refuse("container's runAsUser breaks non-root policy".to_string());
        }
        return Ok(());
    }
    let name = image_user
        .map(|u| u.split(':').next().unwrap_or(u))
        .unwrap_or("");
    match name.parse::<i64>() {
        _ if name.is_empty() || name == "root" => {
            refuse("container has runAsNonRoot and image will run as root".to_string())
        }
        Ok(0) => refuse("container has runAsNonRoot and image will run as root".to_string()),
        Ok(_) => Ok(()),
        Err(_) => refuse(format!(
            "container has runAsNonRoot and image has non-numeric user ({name}), \
             cannot verify user is non-root"
        )),
    }
}

/// `NET_ADMIN`, `net_admin`, `CAP_NET_ADMIN` → `NET_ADMIN`; `all` → `ALL`.
pub(crate) fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Security;

    fn spec(security: Security) -> ContainerSpec {
        ContainerSpec {
            name: "web".into(),
            pod_name: "p".into(),
            namespace: "ns".into(),
            security,
            ..Default::default()
        }
    }

    fn applied(
        security: Security,
        image_user: Option<&str>,
    ) -> Result<(ContainerCreateBody, HostConfig), RuntimeError> {
        let mut body = ContainerCreateBody::default();
        let mut host = HostConfig::default();
        apply(&spec(security), image_user, &mut body, &mut host)?;
        Ok((body, host))
    }

    #[test]
    fn capabilities_are_normalised() {
        assert_eq!(capability("all"), "ALL");
        assert_eq!(capability("cap_net_admin"), "NET_ADMIN");
        assert_eq!(capability(" SYS_TIME "), "SYS_TIME");
        let (_, host) = applied(
            Security {
                cap_drop: vec!["all".into()],
                cap_add: vec!["CAP_NET_BIND_SERVICE".into()],
                read_only_root_filesystem: true,
                ..Default::default()
            },
            None,
        )
        .unwrap_or_default();
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, Some(vec!["NET_BIND_SERVICE".to_string()]));
        assert_eq!(host.readonly_rootfs, Some(true));
    }

    #[test]
    fn users_are_numeric() {
        assert_eq!(user(Some(1000), Some(2000), None), Some("1000:2000".into()));
        assert_eq!(user(Some(1000), None, Some("nginx")), Some("1000".into()));
        assert_eq!(user(None, Some(5), Some("nginx:x")), Some("nginx:5".into()));
        assert_eq!(user(None, Some(5), None), Some("0:5".into()));
        assert_eq!(user(None, None, Some("nginx")), None);
    }

    #[test]
    fn run_as_non_root_refuses_root_and_unverifiable_users() {
        let non_root = |uid| Security {
            run_as_non_root: true,
            run_as_user: uid,
            ..Default::default()
        };
        let refused = |r: Result<_, RuntimeError>| match r {
            Err(RuntimeError::StartFailed(m)) => m,
            other => format!("not refused: {:?}", other.map(|_| ())),
        };
        assert!(refused(applied(non_root(None), None)).contains("image will run as root"));
        assert!(refused(applied(non_root(None), Some("0"))).contains("will run as root"));
        assert!(refused(applied(non_root(Some(0)), None)).contains("breaks non-root policy"));
        assert!(
            refused(applied(non_root(None), Some("nginx"))).contains("non-numeric user (nginx)")
        );
        assert!(applied(non_root(Some(1000)), None).is_ok());
        assert!(applied(non_root(None), Some("1000:1000")).is_ok());
    }
}
