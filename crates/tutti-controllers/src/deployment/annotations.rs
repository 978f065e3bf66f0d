//! The annotations a Deployment's ReplicaSets carry, as Kubernetes writes them: the revision
//! (and the revisions it had before a rollback), the Deployment's size and maximum size when
//! the ReplicaSet was last scaled, and a copy of the Deployment's own annotations (so
//! `kubectl rollout history` shows each revision's change-cause and `kubectl rollout undo`
//! can restore them). Plus tutti's: the auto-rollback switch and the mark of a revision
//! that once completed its rollout.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";

/// Set to `"true"` on a Deployment: a new revision that misses its progress deadline is
/// rolled back to the last revision that completed.
pub const AUTO_ROLLBACK: &str = "tutti.dev/auto-rollback";
/// On a ReplicaSet: when the revision it holds last completed a rollout (RFC 3339). Marks
/// the revisions auto-rollback may return to.
pub const ROLLOUT_COMPLETE: &str = "tutti.dev/rollout-complete";

/// Longest `revision-history` value kept (oldest entries are dropped first).
const REVISION_HISTORY_MAX_CHARS: usize = 2000;

/// An annotation's value.
pub fn get<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// An annotation parsed as an int.
pub fn int(meta: &ObjectMeta, key: &str) -> Option<i32> {
    get(meta, key)?.parse().ok()
}

/// The revision recorded on an object (0 when missing or not a number).
pub fn revision(meta: &ObjectMeta) -> i64 {
    get(meta, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether the Deployment asks for automatic rollback.
pub fn auto_rollback(d: &Deployment) -> bool {
    get(&d.metadata, AUTO_ROLLBACK) == Some("true")
}

/// Annotations a Deployment does not pass on to its ReplicaSets: the controller's own, and
/// kubectl's last-applied configuration.
fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED
            | REVISION
            | REVISION_HISTORY
            | DESIRED_REPLICAS
            | MAX_REPLICAS
            | ROLLBACK_TO
            | ROLLOUT_COMPLETE
    )
}

fn set(meta: &mut ObjectMeta, key: &str, value: String) -> bool {
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_string(), value);
    true
}

/// Copy the Deployment's annotations onto a ReplicaSet (Kubernetes never removes ones the
/// Deployment dropped). True when something changed.
pub fn copy_from_deployment(d: &ObjectMeta, rs: &mut ObjectMeta) -> bool {
    let mut changed = false;
    for (k, v) in d.annotations.iter().flatten() {
        if !skip_copy(k) {
            changed |= set(rs, k, v.clone());
        }
    }
    changed
}

/// Kubernetes' `SetNewReplicaSetAnnotations`: copy the Deployment's annotations; raise the
/// revision to `new_revision` if it is lower (remembering the old one in `revision-history`:
/// this ReplicaSet is being rolled back to); on creation (`!exists`) also record the sizes.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ObjectMeta,
    new_revision: i64,
    exists: bool,
    max_surge: i32,
) -> bool {
    let mut changed = copy_from_deployment(&d.metadata, rs);
    let old = get(rs, REVISION).map(str::to_string);
    let old_revision = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(r)) => r,
        // A revision that is not a number is someone else's business; leave it.
        Some(Err(_)) => return changed,
    };
    if old_revision < new_revision {
        changed |= set(rs, REVISION, new_revision.to_string());
        if let Some(old) = old {
            let history = get(rs, REVISION_HISTORY).unwrap_or("").to_string();
            let mut entries: Vec<&str> = history.split(',').filter(|e| !e.is_empty()).collect();
            entries.push(&old);
            while entries.join(",").len() > REVISION_HISTORY_MAX_CHARS && entries.len() > 1 {
                entries.remove(0);
            }
            changed |= set(rs, REVISION_HISTORY, entries.join(","));
        }
    }
    if !exists {
        let desired = super::rollout::desired(d);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge);
    }
    changed
}

/// Whether the `desired-replicas`/`max-replicas` annotations differ from these values.
pub fn replicas_annotations_need_update(rs: &ObjectMeta, desired: i32, max: i32) -> bool {
    get(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || get(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Record the Deployment's size and maximum size. True when something changed.
pub fn set_replicas_annotations(rs: &mut ObjectMeta, desired: i32, max: i32) -> bool {
    let a = set(rs, DESIRED_REPLICAS, desired.to_string());
    let b = set(rs, MAX_REPLICAS, max.to_string());
    a || b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn deployment(pairs: &[(&str, &str)]) -> Deployment {
        Deployment {
            metadata: meta(pairs),
            ..Default::default()
        }
    }

    #[test]
    fn new_replica_sets_get_revision_sizes_and_the_change_cause() {
        let d = deployment(&[
            (CHANGE_CAUSE, "kubectl set image"),
            (REVISION, "4"),
            (LAST_APPLIED, "{}"),
        ]);
        let mut rs = ObjectMeta::default();
        assert!(set_new_rs_annotations(&d, &mut rs, 5, false, 1));
        assert_eq!(get(&rs, REVISION), Some("5"));
        assert_eq!(get(&rs, CHANGE_CAUSE), Some("kubectl set image"));
        assert_eq!(get(&rs, DESIRED_REPLICAS), Some("1"));
        assert_eq!(get(&rs, MAX_REPLICAS), Some("2"));
        assert_eq!(get(&rs, LAST_APPLIED), None);
        assert!(
            !set_new_rs_annotations(&d, &mut rs, 5, true, 1),
            "nothing left to change"
        );
    }

    #[test]
    fn a_rolled_back_replica_set_takes_the_next_revision_and_remembers_its_old_ones() {
        let d = deployment(&[]);
        let mut rs = meta(&[(REVISION, "1")]);
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true, 0));
        assert_eq!(get(&rs, REVISION), Some("3"));
        assert_eq!(get(&rs, REVISION_HISTORY), Some("1"));
        set_new_rs_annotations(&d, &mut rs, 5, true, 0);
        assert_eq!(get(&rs, REVISION_HISTORY), Some("1,3"));
        assert!(
            !set_new_rs_annotations(&d, &mut rs, 4, true, 0),
            "never lowered"
        );
    }

    #[test]
    fn replicas_annotations() {
        let mut rs = ObjectMeta::default();
        assert!(replicas_annotations_need_update(&rs, 3, 4));
        assert!(set_replicas_annotations(&mut rs, 3, 4));
        assert!(!replicas_annotations_need_update(&rs, 3, 4));
        assert_eq!(int(&rs, MAX_REPLICAS), Some(4));
    }
}
