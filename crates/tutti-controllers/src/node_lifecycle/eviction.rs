//! Taint-based eviction (Kubernetes' NoExecute taint manager): which pods on a node with
//! NoExecute taints must go now, and when the next one will be due.
//!
//! For each NoExecute taint the pod does not tolerate it is evicted at once — except the
//! `not-ready` / `unreachable` taints, which every pod tolerates for `eviction_timeout`
//! unless it says otherwise (what Kubernetes' DefaultTolerationSeconds admission adds, 300 s
//! there). A matching toleration with `tolerationSeconds` lets it stay that long after the
//! taint's `timeAdded`; one without `tolerationSeconds` lets it stay forever (DaemonSet pods).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::taints::{NO_EXECUTE, NOT_READY, UNREACHABLE, tolerates};

/// The outcome of looking at a node's pods.
#[derive(Debug, Default, PartialEq)]
pub struct Evictions<'a> {
    /// Pods whose time is up.
    pub due: Vec<&'a Pod>,
    /// When the next pod will be due, if any will.
    pub next: Option<Timestamp>,
}

/// When this pod must leave a node with these taints; `None` if it may stay forever.
pub fn eviction_time(pod: &Pod, taints: &[Taint], default_timeout: Duration) -> Option<Timestamp> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    taints
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .filter_map(|taint| {
            let added = taint
                .time_added
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let matching: Vec<Option<i64>> = tolerations
                .iter()
                .filter(|t| tolerates(t, taint))
                .map(|t| t.toleration_seconds)
                .collect();
            let seconds = if matching.is_empty() {
                if taint.key == NOT_READY || taint.key == UNREACHABLE {
                    i64::try_from(default_timeout.as_secs()).unwrap_or(i64::MAX)
                } else {
                    0
                }
            } else if matching.iter().any(Option::is_none) {
                // Tolerated without a time limit.
                return None;
            } else {
                // The shortest limit among the matching tolerations wins, as in Kubernetes.
                matching.iter().flatten().copied().min().unwrap_or(0).max(0)
            };
            Some(
                added
                    .saturating_add(SignedDuration::from_secs(seconds))
                    .unwrap_or(Timestamp::MAX),
            )
        })
        .min()
}

/// The pods due for eviction at `now` and the next time one will be. Pods that already
/// finished are left alone (their containers are not running; their record stays for
/// their controllers and for `kubectl logs`).
pub fn evictions<'a>(
    pods: &'a [Pod],
    taints: &[Taint],
    now: Timestamp,
    default_timeout: Duration,
) -> Evictions<'a> {
    let mut out = Evictions::default();
    for pod in pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded") | Some("Failed")) {
            continue;
        }
        match eviction_time(pod, taints, default_timeout) {
            Some(at) if at <= now => out.due.push(pod),
            Some(at) => out.next = Some(out.next.map_or(at, |n| n.min(at))),
            None => {}
        }
    }
    out
}

/// When each NoExecute taint was first seen, for taints without `timeAdded` (added by
/// `kubectl taint`, which does not set it).
#[derive(Debug, Default)]
pub struct TaintClock {
    first_seen: HashMap<(String, String, Option<String>), Timestamp>,
}

impl TaintClock {
    /// The node's taints with every missing NoExecute `timeAdded` filled in from when it was
    /// first seen; forgets taints that are gone.
    pub fn stamp(&mut self, node: &str, taints: &[Taint], now: Timestamp) -> Vec<Taint> {
        let key = |t: &Taint| (node.to_string(), t.key.clone(), t.value.clone());
        self.first_seen.retain(|(n, k, v), _| {
            n != node
                || taints
                    .iter()
                    .any(|t| &t.key == k && &t.value == v && t.effect == NO_EXECUTE)
        });
        taints
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if t.effect == NO_EXECUTE && t.time_added.is_none() {
                    let seen = *self.first_seen.entry(key(&t)).or_insert(now);
                    t.time_added = Some(Time(seen));
                }
                t
            })
            .collect()
    }

    /// Forget nodes for which `keep` is false.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.first_seen.retain(|(n, _, _), _| keep(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus, Toleration};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn taint(key: &str, added: i64) -> Taint {
        Taint {
            key: key.into(),
            effect: NO_EXECUTE.into(),
            value: None,
            time_added: Some(Time(at(added))),
        }
    }

    fn pod(name: &str, tolerations: Vec<Toleration>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn tolerate(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(NO_EXECUTE.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn untolerated_unreachable_uses_the_default_timeout() {
        let p = pod("a", vec![]);
        assert_eq!(
            eviction_time(&p, &[taint(UNREACHABLE, 100)], TIMEOUT),
            Some(at(130))
        );
        let pods = [p];
        let e = evictions(&pods, &[taint(UNREACHABLE, 100)], at(129), TIMEOUT);
        assert!(e.due.is_empty());
        assert_eq!(e.next, Some(at(130)));
        let e = evictions(&pods, &[taint(UNREACHABLE, 100)], at(130), TIMEOUT);
        assert_eq!(e.due.len(), 1);
    }

    #[test]
    fn toleration_seconds_override_the_default() {
        let p = pod("a", vec![tolerate(UNREACHABLE, Some(5))]);
        assert_eq!(
            eviction_time(&p, &[taint(UNREACHABLE, 100)], TIMEOUT),
            Some(at(105))
        );
        let p = pod("a", vec![tolerate(UNREACHABLE, Some(-3))]);
        assert_eq!(
            eviction_time(&p, &[taint(UNREACHABLE, 100)], TIMEOUT),
            Some(at(100)),
            "negative seconds mean now"
        );
    }

    #[test]
    fn tolerating_forever_stays_forever() {
        let p = pod("ds", vec![tolerate(UNREACHABLE, None)]);
        assert_eq!(eviction_time(&p, &[taint(UNREACHABLE, 100)], TIMEOUT), None);
        let pods = [p];
        assert_eq!(
            evictions(&pods, &[taint(UNREACHABLE, 0)], at(1_000_000), TIMEOUT),
            Evictions::default()
        );
    }

    #[test]
    fn user_no_execute_taints_evict_at_once_unless_tolerated() {
        let p = pod("a", vec![]);
        assert_eq!(
            eviction_time(&p, &[taint("dedicated", 100)], TIMEOUT),
            Some(at(100))
        );
        let p = pod("a", vec![tolerate("dedicated", Some(60))]);
        assert_eq!(
            eviction_time(
                &p,
                &[taint("dedicated", 100), taint(NOT_READY, 120)],
                TIMEOUT
            ),
            Some(at(150)),
            "the earliest deadline across taints"
        );
    }

    #[test]
    fn no_schedule_taints_and_finished_pods_are_ignored() {
        let mut t = taint(UNREACHABLE, 0);
        t.effect = "NoSchedule".into();
        let p = pod("a", vec![]);
        assert_eq!(eviction_time(&p, &[t], TIMEOUT), None);
        let mut done = pod("done", vec![]);
        done.status = Some(PodStatus {
            phase: Some("Succeeded".into()),
            ..Default::default()
        });
        let pods = [done];
        assert!(
            evictions(&pods, &[taint(UNREACHABLE, 0)], at(1_000), TIMEOUT)
                .due
                .is_empty()
        );
    }

    #[test]
    fn taint_clock_stamps_user_taints_from_first_sight() {
        let mut clock = TaintClock::default();
        let mut user = taint("dedicated", 0);
        user.time_added = None;
        let stamped = clock.stamp("n1", std::slice::from_ref(&user), at(50));
        assert_eq!(stamped[0].time_added, Some(Time(at(50))));
        let stamped = clock.stamp("n1", std::slice::from_ref(&user), at(90));
        assert_eq!(stamped[0].time_added, Some(Time(at(50))), "kept");
        clock.stamp("n1", &[], at(95));
        let stamped = clock.stamp("n1", &[user], at(99));
        assert_eq!(
            stamped[0].time_added,
            Some(Time(at(99))),
            "removed and re-added starts over"
        );
    }
}
