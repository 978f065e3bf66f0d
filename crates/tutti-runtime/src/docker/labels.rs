//! The `io.tutti.*` labels on every docker container the driver creates: which node's
//! agent made it, who it belongs to (pod uid, name, namespace), which container and restart
//! attempt it is, and whether it is a sandbox. Every list filters on `io.tutti.managed=true`
//! *and* `io.tutti.node=<this node>`, so an agent never sees others' work — not even that of
//! another tutti node sharing the same Docker Engine.
//!
//! Containers made by older versions carry no `io.tutti.node` label: they match no node's
//! filter, so they belong to nobody: no agent adopts, stops or removes them, and whoever
//! upgrades removes them by hand (`docker ps -a --filter label=io.tutti.managed=true` shows
//! them, beside every node's current ones).

use std::collections::{BTreeMap, HashMap};

use crate::{ContainerSpec, SandboxSpec};

pub(crate) const MANAGED: &str = "io.tutti.managed";
/// The name of the node whose agent created the container: the driver's scope.
pub(crate) const NODE: &str = "io.tutti.node";
pub(crate) const KIND: &str = "io.tutti.kind";
pub(crate) const POD_UID: &str = "io.tutti.pod-uid";
pub(crate) const POD_NAME: &str = "io.tutti.pod-name";
pub(crate) const NAMESPACE: &str = "io.tutti.namespace";
pub(crate) const CONTAINER_NAME: &str = "io.tutti.container-name";
pub(crate) const ATTEMPT: &str = "io.tutti.attempt";

/// What a managed docker container is to a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sandbox,
    Container,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandbox",
            Kind::Container => "container",
        }
    }
}

/// The caller's extra labels, then ours (ours win: re-adoption depends on them).
fn with_extra(
    extra: &BTreeMap<String, String>,
    ours: [(&str, String); 6],
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> =
        extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(MANAGED.to_string(), "true".to_string());
    for (k, v) in ours {
        labels.insert(k.to_string(), v);
    }
    labels
}

/// The labels of `spec`'s sandbox, created by the agent of `node`.
pub(crate) fn for_sandbox(spec: &SandboxSpec, node: &str) -> HashMap<String, String> {
    with_extra(
        &spec.labels,
        [
            (NODE, node.to_string()),
            (KIND, Kind::Sandbox.as_str().to_string()),
            (POD_UID, spec.pod_uid.clone()),
            (POD_NAME, spec.pod_name.clone()),
            (NAMESPACE, spec.namespace.clone()),
            (ATTEMPT, "0".to_string()),
        ],
    )
}

/// The labels of `spec`'s container, created by the agent of `node`.
pub(crate) fn for_container(spec: &ContainerSpec, node: &str) -> HashMap<String, String> {
    let mut labels = with_extra(
        &spec.labels,
        [
            (NODE, node.to_string()),
            (KIND, Kind::Container.as_str().to_string()),
            (POD_UID, spec.pod_uid.clone()),
            (POD_NAME, spec.pod_name.clone()),
            (NAMESPACE, spec.namespace.clone()),
            (ATTEMPT, spec.attempt.to_string()),
        ],
    );
    labels.insert(CONTAINER_NAME.to_string(), spec.name.clone());
    labels
}

/// A `filters` query selecting the managed containers of one node and kind (and optionally
/// one pod). Containers without a node label (made by older versions) never match.
pub(crate) fn filter(
    node: &str,
    kind: Kind,
    pod_uid: Option<&str>,
) -> HashMap<String, Vec<String>> {
    let mut label = vec![
        format!("{MANAGED}=true"),
        format!("{NODE}={node}"),
        format!("{KIND}={}", kind.as_str()),
    ];
    if let Some(uid) = pod_uid {
        label.push(format!("{POD_UID}={uid}"));
    }
    HashMap::from([("label".to_string(), label)])
}

/// Who a container belongs to, read back from its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
}

pub(crate) fn identity(labels: Option<&HashMap<String, String>>) -> Identity {
    let get = |key: &str| labels.and_then(|l| l.get(key)).cloned().unwrap_or_default();
    Identity {
        pod_uid: get(POD_UID),
        name: get(CONTAINER_NAME),
        attempt: get(ATTEMPT).parse().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_win_over_extra_labels_and_read_back() {
        let spec = ContainerSpec {
            pod_uid: "uid-1".into(),
            name: "web".into(),
            attempt: 3,
            labels: BTreeMap::from([
                (POD_UID.to_string(), "forged".to_string()),
                (NODE.to_string(), "other-node".to_string()),
                ("app".to_string(), "web".to_string()),
            ]),
            ..Default::default()
        };
        let labels = for_container(&spec, "node-a");
        assert_eq!(labels["app"], "web");
        assert_eq!(labels[MANAGED], "true");
        assert_eq!(labels[NODE], "node-a");
        assert_eq!(labels[KIND], "container");
        assert_eq!(
            identity(Some(&labels)),
            Identity {
                pod_uid: "uid-1".into(),
                name: "web".into(),
                attempt: 3
            }
        );
    }

    #[test]
    fn filter_selects_managed_node_kind_and_pod() {
        let f = filter("node-a", Kind::Sandbox, Some("u"));
        assert_eq!(
            f["label"],
            vec![
                "io.tutti.managed=true".to_string(),
                "io.tutti.node=node-a".to_string(),
                "io.tutti.kind=sandbox".to_string(),
                "io.tutti.pod-uid=u".to_string()
            ]
        );
        let all = filter("node-b", Kind::Container, None);
        assert_eq!(
            all["label"],
            vec![
                "io.tutti.managed=true".to_string(),
                "io.tutti.node=node-b".to_string(),
                "io.tutti.kind=container".to_string(),
            ]
        );
    }

    #[test]
    fn sandboxes_carry_their_node() {
        let spec = SandboxSpec {
            pod_uid: "uid-1".into(),
            ..Default::default()
        };
        let labels = for_sandbox(&spec, "node-b");
        assert_eq!(labels[NODE], "node-b");
        assert_eq!(labels[KIND], "sandbox");
    }
}
