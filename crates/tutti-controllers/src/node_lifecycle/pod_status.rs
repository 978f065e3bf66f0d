//! Pods on a node that is not ready are not ready either (Kubernetes' `MarkPodsNotReady`):
//! their Ready condition turns False so Services stop sending them traffic while they wait
//! for eviction.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The pod's conditions with Ready set to False, or `None` if it is not Ready=True now
/// (nothing to write). Finished pods are left alone.
pub fn not_ready_conditions(pod: &Pod, now: Timestamp) -> Option<Vec<PodCondition>> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded") | Some("Failed")) {
        return None;
    }
    let mut conditions = status.conditions.clone()?;
    let ready = conditions
        .iter_mut()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    ready.status = "False".into();
    ready.last_transition_time = Some(Time(now));
    Some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;

    fn pod(phase: &str, ready: &str) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![
                    PodCondition {
                        type_: "PodScheduled".into(),
                        status: "True".into(),
                        ..Default::default()
                    },
                    PodCondition {
                        type_: "Ready".into(),
                        status: ready.into(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_pods_become_not_ready_once() {
        let now = Timestamp::from_second(7).unwrap();
        let c = not_ready_conditions(&pod("Running", "True"), now).unwrap();
        assert_eq!(c[0].status, "True", "other conditions untouched");
        assert_eq!(c[1].status, "False");
        assert_eq!(c[1].last_transition_time, Some(Time(now)));
        assert_eq!(not_ready_conditions(&pod("Running", "False"), now), None);
        assert_eq!(not_ready_conditions(&pod("Succeeded", "True"), now), None);
        assert_eq!(not_ready_conditions(&Pod::default(), now), None);
    }
}
