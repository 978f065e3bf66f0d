//! Revision history: the ReplicaSets a Deployment keeps as its revisions, which of them
//! `revisionHistoryLimit` lets go, and the last revision known to have completed a rollout
//! (where auto-rollback returns to). Pure.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::annotations::{self, ROLLOUT_COMPLETE};
use super::hash::by_creation;
use crate::pods;

/// The highest revision among `rss` (0 when none has one).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter()
        .map(|rs| annotations::revision(&rs.metadata))
        .max()
        .unwrap_or(0)
}

/// Old ReplicaSets to delete so that at most `revisionHistoryLimit` remain: the lowest
/// revisions first, and only ones that are fully scaled down, settled (their status has
/// seen their latest spec) and not already being deleted (Kubernetes' `cleanupDeployment`).
pub fn to_clean_up(d: &Deployment, old: &[ReplicaSet]) -> Vec<String> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Vec::new();
    };
    let mut cleanable: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| !pods::is_terminating(&rs.metadata))
        .collect();
    let excess = cleanable
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    cleanable.sort_by(|a, b| {
        annotations::revision(&a.metadata)
            .cmp(&annotations::revision(&b.metadata))
            .then_with(|| by_creation(a, b))
    });
    cleanable
        .into_iter()
        .take(excess)
        .filter(|rs| {
            let status = rs.status.as_ref();
            let spec_replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
            status.map_or(0, |s| s.replicas) == 0
                && spec_replicas == 0
                && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .filter_map(|rs| rs.metadata.name.clone())
        .collect()
}

/// The newest old revision that once completed its rollout, other than `new` itself.
pub fn last_good<'a>(new: &ReplicaSet, old: &'a [ReplicaSet]) -> Option<&'a ReplicaSet> {
    old.iter()
        .filter(|rs| rs.metadata.uid != new.metadata.uid)
        .filter(|rs| annotations::get(&rs.metadata, ROLLOUT_COMPLETE).is_some())
        .max_by_key(|rs| annotations::revision(&rs.metadata))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::deployment::annotations::REVISION;

    fn rs(name: &str, revision: i64, replicas: i32, complete: bool) -> ReplicaSet {
        let mut annotations = BTreeMap::from([(REVISION.to_string(), revision.to_string())]);
        if complete {
            annotations.insert(ROLLOUT_COMPLETE.into(), "2025-01-01T00:00:00Z".into());
        }
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                generation: Some(1),
                annotations: Some(annotations),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                observed_generation: Some(1),
                ..Default::default()
            }),
        }
    }

    fn deployment(limit: i32) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                revision_history_limit: Some(limit),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn history_keeps_the_newest_revisions_and_never_deletes_live_ones() {
        let old = [
            rs("r3", 3, 0, true),
            rs("r1", 1, 0, true),
            rs("r2", 2, 1, true),
        ];
        assert_eq!(
            to_clean_up(&deployment(1), &old),
            ["r1"],
            "r2 still has replicas"
        );
        assert_eq!(to_clean_up(&deployment(0), &old), ["r1", "r3"]);
        assert!(to_clean_up(&deployment(3), &old).is_empty());
        assert!(
            to_clean_up(&Deployment::default(), &old).is_empty(),
            "no limit"
        );
        assert_eq!(max_revision(&old), 3);
    }

    #[test]
    fn the_last_good_revision_is_the_newest_completed_one() {
        let new = rs("r4", 4, 1, false);
        let old = [
            rs("r1", 1, 0, true),
            rs("r3", 3, 0, false),
            rs("r2", 2, 0, true),
        ];
        assert_eq!(
            last_good(&new, &old).and_then(|r| r.metadata.name.clone()),
            Some("r2".into())
        );
        assert!(last_good(&new, &[rs("r3", 3, 0, false)]).is_none());
    }
}
