//! InterPodAffinity: required pod affinity (the node's domain must hold a matching pod),
//! required pod anti-affinity (it must hold none), and the anti-affinity of pods already placed
//! (they keep the incoming pod out of their domain).

use std::collections::HashSet;

use crate::framework::{FilterPlugin, NodeFilter, Reason, Status};
use crate::pod_info::PodInfo;
use crate::pod_terms::AffinityTerm;
use crate::snapshot::Snapshot;

pub struct InterPodAffinity;

/// (topology key, value) pairs.
type Domains<'a> = HashSet<(&'a str, &'a str)>;

struct State<'a> {
    /// Domains holding a pod that matches all of the incoming pod's affinity terms.
    affinity: Domains<'a>,
    /// The incoming pod matches its own affinity terms (it may be the first of its group).
    self_affinity: bool,
    /// Domains holding a pod the incoming pod's anti-affinity terms match.
    anti_affinity: Domains<'a>,
    /// Domains whose placed pods' anti-affinity terms match the incoming pod.
    existing_anti_affinity: Domains<'a>,
}

fn in_domains(
    node: &crate::node_info::NodeInfo,
    terms: &[AffinityTerm],
    domains: &Domains<'_>,
) -> bool {
    terms.iter().any(|t| {
        node.topology_value(&t.topology_key)
            .is_some_and(|v| domains.contains(&(t.topology_key.as_str(), v)))
    })
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }

    fn prepare<'a>(&'a self, pod: &'a PodInfo, snapshot: &'a Snapshot) -> Option<NodeFilter<'a>> {
        let mut state = State {
            affinity: Domains::new(),
            self_affinity: pod.required_affinity.iter().all(|t| t.matches(pod)),
            anti_affinity: Domains::new(),
            existing_anti_affinity: Domains::new(),
        };
        for (node, existing) in snapshot.anti_affinity_pods() {
            for term in existing
                .required_anti_affinity
                .iter()
                .filter(|t| t.matches(pod))
            {
                if let Some(v) = node.topology_value(&term.topology_key) {
                    state.existing_anti_affinity.insert((&term.topology_key, v));
                }
            }
        }
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if own_terms {
            for node in snapshot.nodes() {
                for existing in &node.pods {
                    if !pod.required_affinity.is_empty()
                        && pod.required_affinity.iter().all(|t| t.matches(existing))
                    {
                        for t in &pod.required_affinity {
                            if let Some(v) = node.topology_value(&t.topology_key) {
                                state.affinity.insert((&t.topology_key, v));
                            }
                        }
                    }
                    for t in pod
                        .required_anti_affinity
                        .iter()
                        .filter(|t| t.matches(existing))
                    {
                        if let Some(v) = node.topology_value(&t.topology_key) {
                            state.anti_affinity.insert((&t.topology_key, v));
                        }
                    }
                }
            }
        }
        if !own_terms && state.existing_anti_affinity.is_empty() {
            return None;
        }
        Some(Box::new(move |node| {
            if !pod.required_affinity.is_empty() {
                let has_labels = pod
                    .required_affinity
                    .iter()
                    .all(|t| node.topology_value(&t.topology_key).is_some());
                let all_present = pod.required_affinity.iter().all(|t| {
                    node.topology_value(&t.topology_key)
                        .is_some_and(|v| state.affinity.contains(&(t.topology_key.as_str(), v)))
                });
                let first_of_group = state.affinity.is_empty() && state.self_affinity;
                if !has_labels || !(all_present || first_of_group) {
                    return Status::Unschedulable(Reason::PodAffinity);
                }
            }
            if in_domains(node, &pod.required_anti_affinity, &state.anti_affinity) {
                return Status::Unschedulable(Reason::PodAntiAffinity);
            }
            let repelled = state
                .existing_anti_affinity
                .iter()
                .any(|(k, v)| node.topology_value(k) == Some(*v));
            if repelled {
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
