//! Docker names of what the driver creates: the shared [`crate::naming`] names with the node
//! appended (`tutti_web_nginx-1_default_0b1c2d3e_2_node-a`), so two agents sharing one
//! Docker Engine never fight over a name — even for the same pod, and even beside containers
//! an older version left behind under the bare name.

use crate::naming;

/// A container attempt's name on `node`.
pub(crate) fn container(
    node: &str,
    container: &str,
    pod: &str,
    namespace: &str,
    pod_uid: &str,
    attempt: u32,
) -> String {
    let base = naming::container_name(container, pod, namespace, pod_uid, attempt);
    on_node(base, node)
}

/// A pod sandbox's name on `node`.
pub(crate) fn sandbox(node: &str, pod: &str, namespace: &str, pod_uid: &str) -> String {
    on_node(naming::sandbox_name(pod, namespace, pod_uid), node)
}

/// The pod network (bridge) of `node`: `tutti_<node>`.
pub(crate) fn network(node: &str) -> String {
    on_node("tutti".to_string(), node)
}

/// `base_<node>`, the node kept to the characters Docker allows in names (`[a-zA-Z0-9_.-]`;
/// node names are DNS subdomains, so this only matters for hand-written ones).
fn on_node(mut base: String, node: &str) -> String {
    base.push('_');
    base.extend(node.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c
        } else {
            '-'
        }
    }));
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_with_the_node() {
        let uid = "0b1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff";
        assert_eq!(
            container("node-a", "web", "nginx-1", "default", uid, 2),
            "tutti_web_nginx-1_default_0b1c2d3e_2_node-a"
        );
        assert_eq!(
            sandbox("node-b.example", "nginx-1", "default", uid),
            "tutti_POD_nginx-1_default_0b1c2d3e_node-b.example"
        );
        assert_ne!(
            sandbox("node-a", "p", "n", uid),
            sandbox("node-b", "p", "n", uid)
        );
        assert_eq!(sandbox("a b/c", "p", "n", "u"), "tutti_POD_p_n_u_a-b-c");
    }
}
