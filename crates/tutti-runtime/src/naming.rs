//! The names drivers give what they create, shared so docker containers and process
//! records of one pod look alike: `tutti_<container>_<pod>_<namespace>_<uid8>_<attempt>`.

/// The first 8 characters of a pod uid: enough to tell pods with the same name apart.
pub(crate) fn uid8(pod_uid: &str) -> &str {
    match pod_uid.char_indices().nth(8) {
        Some((i, _)) => &pod_uid[..i],
        None => pod_uid,
    }
}

/// Keep only characters Docker allows in names (`[a-zA-Z0-9_.-]`); Kubernetes names are
/// DNS labels and subdomains, so this only matters for hand-written specs.
fn clean(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A container's name, unique per restart attempt so the previous attempt can be kept
/// (for `kubectl logs --previous`) until the agent removes it.
pub(crate) fn container_name(
    container: &str,
    pod: &str,
    namespace: &str,
    pod_uid: &str,
    attempt: u32,
) -> String {
    format!(
        "tutti_{}_{}_{}_{}_{attempt}",
        clean(container),
        clean(pod),
        clean(namespace),
        clean(uid8(pod_uid))
    )
}

/// A pod sandbox's name (`POD` cannot clash with a container name: those are lower-case).
pub(crate) fn sandbox_name(pod: &str, namespace: &str, pod_uid: &str) -> String {
    format!(
        "tutti_POD_{}_{}_{}",
        clean(pod),
        clean(namespace),
        clean(uid8(pod_uid))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_pod_and_attempt() {
        let uid = "0b1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff";
        assert_eq!(
            container_name("web", "nginx-1", "default", uid, 2),
            "tutti_web_nginx-1_default_0b1c2d3e_2"
        );
        assert_eq!(
            sandbox_name("nginx-1", "default", uid),
            "tutti_POD_nginx-1_default_0b1c2d3e"
        );
        assert_eq!(uid8("abc"), "abc");
        assert_eq!(container_name("a/b", "p", "n", "u", 0), "tutti_a-b_p_n_u_0");
    }
}
