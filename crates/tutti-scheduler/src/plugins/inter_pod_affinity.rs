//! InterPodAffinity: required pod affinity (the node's domain must hold a matching pod),
//! required pod anti-affinity (it must hold none), and the anti-affinity of pods already placed
//! (they keep the incoming pod out of their domain).

use std::sync::Arc;

use crate::framework::{FilterPlugin, NodeFilter, Reason, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::pod_terms::AffinityTerm;
use crate::snapshot::Snapshot;
use crate::snapshot::anti_affinity::AntiAffinityTerm;
use crate::snapshot::domain_counts::{DomainCounts, DomainKey, NodeEligibility, PodMatcher};

pub struct InterPodAffinity;

/// Pods matching `pods` per value of `topology_key`, over every node that has the key.
fn counts_on(snapshot: &Snapshot, pods: PodMatcher, topology_key: &str) -> Arc<DomainCounts> {
    snapshot.domain_counts(DomainKey {
        pods,
        topology_key: topology_key.to_string(),
        nodes: NodeEligibility::default(),
    })
}

struct State<'a> {
    /// Per affinity term: pods matching all of the incoming pod's affinity terms, per domain of
    /// the term's topology key.
    affinity: Vec<(&'a AffinityTerm, Arc<DomainCounts>)>,
    /// No such pod is in any domain and the incoming pod matches its own affinity terms: it may
    /// be the first of its group.
    first_of_group: bool,
    /// Per anti-affinity term: pods it matches, per domain of its topology key.
    anti_affinity: Vec<(&'a AffinityTerm, Arc<DomainCounts>)>,
    /// Placed pods' anti-affinity terms that match the incoming pod, with where those pods are.
    existing_anti_affinity: Vec<&'a AntiAffinityTerm>,
}

/// Whether a pod counted in `counts` is in the node's domain for `term`.
fn held(node: &NodeInfo, term: &AffinityTerm, counts: &DomainCounts) -> bool {
    node.topology_value(&term.topology_key)
        .is_some_and(|v| counts.pods_in(v) > 0)
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let existing_anti_affinity: Vec<&AntiAffinityTerm> = snapshot
            .anti_affinity_terms()
            .iter()
            .filter(|t| t.has_domains() && t.term.matches(pod))
            .collect();
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !own_terms && existing_anti_affinity.is_empty() {
            return None;
        }
        let affinity: Vec<(&AffinityTerm, Arc<DomainCounts>)> = pod
            .required_affinity
            .iter()
            .map(|t| {
                let all = PodMatcher::Terms(pod.required_affinity.clone());
                (t, counts_on(snapshot, all, &t.topology_key))
            })
            .collect();
        let self_affinity = pod.required_affinity.iter().all(|t| t.matches(pod));
        let state = State {
            first_of_group: self_affinity && !affinity.iter().any(|(_, c)| c.any_pods()),
            affinity,
            anti_affinity: pod
                .required_anti_affinity
                .iter()
                .map(|t| {
                    let one = PodMatcher::Terms(vec![t.clone()]);
                    (t, counts_on(snapshot, one, &t.topology_key))
                })
                .collect(),
            existing_anti_affinity,
        };
        Some(Box::new(move |node| {
            if !state.affinity.is_empty() {
                let has_labels = state
                    .affinity
                    .iter()
                    .all(|(t, _)| node.topology_value(&t.topology_key).is_some());
                let all_present = state.affinity.iter().all(|(t, c)| held(node, t, c));
                if !has_labels || !(all_present || state.first_of_group) {
                    return Status::Unschedulable(Reason::PodAffinity);
                }
            }
            if state.anti_affinity.iter().any(|(t, c)| held(node, t, c)) {
                return Status::Unschedulable(Reason::PodAntiAffinity);
            }
            if state.existing_anti_affinity.iter().any(|t| t.covers(node)) {
                return Status::Unschedulable(Reason::ExistingPodsAntiAffinity);
            }
            Status::Fit
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{NodeBuilder, PodBuilder};
    use crate::node_info::HOSTNAME_LABEL;
    use crate::plugins::testing::{filter, snapshot};

    fn three_nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            NodeBuilder::new("a").label("zone", "z1").build(),
            NodeBuilder::new("b").label("zone", "z1").build(),
            NodeBuilder::new("c").label("zone", "z2").build(),
        ]
    }

    #[test]
    fn anti_affinity_on_hostname_keeps_replicas_apart() {
        let placed = PodBuilder::new("db-0")
            .label("app", "db")
            .node_name("a")
            .build();
        let s = snapshot(&three_nodes(), &[placed]);
        let pod = PodBuilder::new("db-1")
            .label("app", "db")
            .anti_affinity("app", "db", HOSTNAME_LABEL)
            .build();
        assert_eq!(
            filter(&InterPodAffinity, &pod, &s),
            [
                Status::Unschedulable(Reason::PodAntiAffinity),
                Status::Fit,
                Status::Fit
            ]
        );
    }

    #[test]
    fn anti_affinity_on_a_zone_covers_every_node_of_the_zone() {
        let placed = PodBuilder::new("db-0")
            .label("app", "db")
            .node_name("a")
            .build();
        let s = snapshot(&three_nodes(), &[placed]);
        let pod = PodBuilder::new("db-1")
            .label("app", "db")
            .anti_affinity("app", "db", "zone")
            .build();
        let anti = Status::Unschedulable(Reason::PodAntiAffinity);
        assert_eq!(
            filter(&InterPodAffinity, &pod, &s),
            [anti.clone(), anti, Status::Fit]
        );
    }

    #[test]
    fn placed_pods_anti_affinity_repels_newcomers() {
        let loner = PodBuilder::new("loner")
            .anti_affinity("app", "noisy", HOSTNAME_LABEL)
            .node_name("b")
            .build();
        let s = snapshot(&three_nodes(), &[loner]);
        let noisy = PodBuilder::new("noisy").label("app", "noisy").build();
        assert_eq!(
            filter(&InterPodAffinity, &noisy, &s),
            [
                Status::Fit,
                Status::Unschedulable(Reason::ExistingPodsAntiAffinity),
                Status::Fit
            ]
        );
        let quiet = PodBuilder::new("quiet").label("app", "quiet").build();
        assert_eq!(
            filter(&InterPodAffinity, &quiet, &s),
            [Status::Fit, Status::Fit, Status::Fit]
        );
    }

    #[test]
    fn affinity_needs_a_matching_pod_in_the_domain_unless_it_is_the_first_of_its_group() {
        let cache = PodBuilder::new("cache")
            .label("app", "cache")
            .node_name("c")
            .build();
        let s = snapshot(&three_nodes(), &[cache]);
        let mut pod = PodBuilder::new("web").build();
        let term = k8s_openapi::api::core::v1::PodAffinityTerm {
            label_selector: Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some([("app".to_string(), "cache".to_string())].into()),
                    match_expressions: None,
                },
            ),
            topology_key: "zone".into(),
            ..Default::default()
        };
        pod.spec.as_mut().unwrap().affinity = Some(k8s_openapi::api::core::v1::Affinity {
            pod_affinity: Some(k8s_openapi::api::core::v1::PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term]),
                ..Default::default()
            }),
            ..Default::default()
        });
        let miss = Status::Unschedulable(Reason::PodAffinity);
        assert_eq!(
            filter(&InterPodAffinity, &pod, &s),
            [miss.clone(), miss, Status::Fit]
        );
        // A cache pod with affinity to caches may start the group anywhere.
        let empty = snapshot(&three_nodes(), &[]);
        pod.metadata.labels = Some([("app".to_string(), "cache".to_string())].into());
        assert_eq!(
            filter(&InterPodAffinity, &pod, &empty),
            [Status::Fit, Status::Fit, Status::Fit]
        );
    }

    #[test]
    fn no_rules_anywhere_means_nothing_to_check() {
        let s = snapshot(
            &three_nodes(),
            &[PodBuilder::new("x").node_name("a").build()],
        );
        let pod = PodInfo::from_pod(&PodBuilder::new("p").build()).unwrap();
        assert!(InterPodAffinity.prepare(&pod, &s).is_none());
    }
}
