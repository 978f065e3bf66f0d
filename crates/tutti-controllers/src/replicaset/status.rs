//! ReplicaSet status: counts of active, fully labeled, ready and available pods, the
//! observed generation, and the ReplicaFailure condition after a failed create or delete.
//! Computing it is pure; writing it is one guarded `replace_status`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::{Api, PostParams};

use super::scale::Failure;
use super::{Context, Error};
use crate::pods::{self, PodFacts};

/// The status `rs` should have with these `active` pods, after `failure` (if manage failed).
pub fn calculate<P: PodFacts>(
    rs: &ReplicaSet,
    active: &[P],
    failure: Option<&Failure>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels: BTreeMap<String, String> = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.pod_labels();
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(pods::is_ready).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready, now))
        .count();

    let mut status = rs.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match failure {
        Some(f) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(f.reason.into()),
            message: Some(f.message.clone()),
            last_transition_time: Some(Time(now)),
        }),
        Some(_) => {}
        None => conditions.retain(|c| c.type_ != "ReplicaFailure"),
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = count(active.len());
    status.fully_labeled_replicas = Some(count(fully_labeled));
    status.ready_replicas = Some(count(ready));
    status.available_replicas = Some(count(available));
    status.observed_generation = rs.metadata.generation;
    status
}

/// When to look again so that ready pods are counted available once `minReadySeconds`
/// have passed (the soonest such moment), if any pod is waiting for that.
pub fn next_availability_check<P: PodFacts>(
    rs: &ReplicaSet,
    active: &[P],
    now: Timestamp,
) -> Option<SignedDuration> {
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    active
        .iter()
        .filter_map(|p| pods::until_available(p, min_ready, now))
        .min()
}

/// Write `status` unless it is what the ReplicaSet already has.
pub(super) async fn write(
    ctx: &Context,
    rs: &ReplicaSet,
    status: ReplicaSetStatus,
) -> Result<(), Error> {
    if rs.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let mut updated = rs.clone();
    updated.status = Some(status);
    api.replace_status(&rs.name_any(), &PostParams::default(), &updated)
        .await?;
    Ok(())
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn rs(min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                generation: Some(4),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(3),
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(app: &str, ready_since: Option<i64>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([("app".into(), app.into())])),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: ready_since.map(|s| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(at(s))),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let pods = [
            pod("web", Some(0)),
            pod("web", Some(95)),
            pod("other", None),
        ];
        let s = calculate(&rs(10), &pods, None, at(100));
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(
            next_availability_check(&rs(10), &pods, at(100)),
            Some(SignedDuration::from_secs(5))
        );
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared_on_success() {
        let failure = Failure {
            reason: "FailedCreate",
            message: "Error creating: quota".into(),
        };
        let mut r = rs(0);
        let none: &[Pod] = &[];
        let s = calculate(&r, none, Some(&failure), at(0));
        let conds = s.conditions.clone().unwrap_or_default();
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].reason.as_deref(), Some("FailedCreate"));
        r.status = Some(s);
        let again = calculate(&r, none, Some(&failure), at(50));
        assert_eq!(
            again.conditions,
            r.status.as_ref().and_then(|s| s.conditions.clone())
        );
        assert_eq!(calculate(&r, none, None, at(60)).conditions, None);
    }
}
