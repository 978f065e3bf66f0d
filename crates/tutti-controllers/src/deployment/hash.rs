//! The pod-template-hash: which ReplicaSet belongs to which template. A Deployment's
//! ReplicaSets are named `<deployment>-<hash>` and carry `pod-template-hash=<hash>` in their
//! labels, selector and pod labels; the new ReplicaSet is the one whose template equals the
//! Deployment's once that label is ignored.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The label (and selector key) holding the template hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Kubernetes' alphabet for safe strings: no vowels (no words), no look-alikes (0, 1, 3).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable hash of the template (FNV-1a/32 of its JSON, plus the collision count when
/// there is one), rendered as Kubernetes does: the decimal digits mapped onto a safe
/// alphabet, e.g. `7c5ddbdf54`.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serializing k8s-openapi types cannot fail (string keys, no custom failing impls).
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv1a32(0x811c_9dc5, &json);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&count.to_le_bytes());
        hash = fnv1a32(hash, &bytes);
    }
    safe_encode(&hash.to_string())
}

fn fnv1a32(mut hash: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The template without the pod-template-hash label (and without an empty label map).
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH);
        }
        if meta.labels.as_ref().is_some_and(BTreeMap::is_empty) {
            meta.labels = None;
        }
        if meta.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            meta.annotations = None;
        }
    }
    t
}

/// Whether two templates are the same apart from the pod-template-hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// The index of the Deployment's new ReplicaSet among `rss`: the oldest one whose template
/// equals the Deployment's (two can, if one was created by hand; the oldest wins, as in
/// Kubernetes).
pub fn find_new(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = &d.spec.as_ref()?.template;
    let mut candidates: Vec<usize> = (0..rss.len())
        .filter(|&i| {
            rss[i]
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, template))
        })
        .collect();
    candidates.sort_by(|&a, &b| by_creation(&rss[a], &rss[b]));
    candidates.first().copied()
}

/// Oldest first; ties by name (Kubernetes' `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The template of a new ReplicaSet: the Deployment's plus the hash label.
pub fn template_with_hash(template: &PodTemplateSpec, hash: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    t
}

/// The Deployment's selector plus `pod-template-hash=<hash>`.
pub fn selector_with_hash(selector: &LabelSelector, hash: &str) -> LabelSelector {
    let mut s = selector.clone();
    s.match_labels
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    s
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn hash_is_stable_safe_and_changes_with_template_and_collisions() {
        let h = template_hash(&template("nginx:1"), None);
        assert_eq!(h, template_hash(&template("nginx:1"), None));
        assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
        assert!((1..=10).contains(&h.len()));
        assert_ne!(h, template_hash(&template("nginx:2"), None));
        assert_ne!(h, template_hash(&template("nginx:1"), Some(1)));
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn equality_ignores_only_the_hash_label() {
        let t = template("nginx:1");
        let hashed = template_with_hash(&t, "abc");
        assert!(equal_ignore_hash(&t, &hashed));
        assert!(!equal_ignore_hash(&template("nginx:2"), &hashed));
        let sel = selector_with_hash(&LabelSelector::default(), "abc");
        assert_eq!(
            sel.match_labels
                .and_then(|m| m.get(POD_TEMPLATE_HASH).cloned()),
            Some("abc".into())
        );
    }
}
