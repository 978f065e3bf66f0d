//! A DaemonSet's pod for one node: the template with the revision hash label, the default
//! daemon tolerations and a required node affinity pinning it to the node (the scheduler
//! binds it there), owned by the DaemonSet.
//!
//! ControllerRevision objects are not served, so a template revision is only its hash,
//! carried by each pod in the `controller-revision-hash` label.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec,
};

use super::placement::{NODE_NAME_FIELD, daemon_tolerations};
use crate::pods::{controller_ref, pod_from_template};

/// The label holding the template revision a pod was made from.
pub const REVISION_HASH: &str = "controller-revision-hash";

/// Kubernetes' `ComputeHash`: FNV-1a (32 bit) of the template (and the collision count),
/// written with the alphabet of `rand.SafeEncodeString` so it never spells words.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    // Serializing a typed template cannot fail; an empty input would still hash stably.
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// The template's pod, pinned to `node` (Kubernetes'
/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity becomes the single
/// term `metadata.name In [node]`; the node already satisfied the template's own terms).
/// `None` only for a DaemonSet without name or uid (not read from the API).
pub fn daemon_pod(ds: &DaemonSet, node: &str, hash: &str) -> Option<Pod> {
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let mut pod = pod_from_template(&template, controller_ref(ds)?, &namespace);
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(REVISION_HASH.into(), hash.into());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.tolerations = Some(daemon_tolerations(spec));
    let pinned = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: NODE_NAME_FIELD.into(),
                operator: "In".into(),
                values: Some(vec![node.to_string()]),
            }]),
        }],
    };
    spec.affinity
        .get_or_insert_with(Affinity::default)
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(pinned);
    Some(pod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::placement::target_node;
    use k8s_openapi::api::apps::v1::DaemonSetSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ds(image: &str) -> DaemonSet {
        DaemonSet {
            metadata: ObjectMeta {
                name: Some("fluentd".into()),
                namespace: Some("kube-system".into()),
                uid: Some("ds-uid".into()),
                ..Default::default()
            },
            spec: Some(DaemonSetSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "fluentd".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "f".into(),
                            image: Some(image.into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn hash_of(d: &DaemonSet) -> String {
        template_hash(&d.spec.as_ref().unwrap().template, None)
    }

    #[test]
    fn hash_is_stable_and_follows_the_template() {
        let a = hash_of(&ds("fluentd:1"));
        assert_eq!(a, hash_of(&ds("fluentd:1")));
        assert_ne!(a, hash_of(&ds("fluentd:2")));
        assert!(
            a.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
        let t = &ds("fluentd:1").spec.unwrap().template;
        assert_ne!(template_hash(t, None), template_hash(t, Some(1)));
    }

    #[test]
    fn pod_is_pinned_labelled_tolerant_and_owned() {
        let d = ds("fluentd:1");
        let pod = daemon_pod(&d, "n1", "abc").unwrap();
        assert_eq!(target_node(&pod), Some("n1".into()));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app"], "fluentd");
        assert_eq!(labels[REVISION_HASH], "abc");
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("fluentd-"));
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("DaemonSet", Some(true))
        );
        let tolerations = pod.spec.as_ref().unwrap().tolerations.as_ref().unwrap();
        assert_eq!(tolerations.len(), 6);
    }
}
