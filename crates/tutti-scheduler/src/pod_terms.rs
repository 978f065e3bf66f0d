//! A pod's rules about other pods, compiled once: required pod (anti-)affinity terms and
//! topology spread constraints, each with the label selector and namespaces it applies to.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tutti_core::labels::{Operator, Requirement, Selector};

use crate::pod_info::PodInfo;

/// Which namespaces a term looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace (`namespaceSelector: {}`).
    All,
    /// These namespaces (the pod's own when the term names none).
    Listed(Vec<String>),
}

impl Namespaces {
    pub fn contains(&self, ns: &str) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Listed(list) => list.iter().any(|n| n == ns),
        }
    }
}

/// A required pod affinity or anti-affinity term: pods matching `selector` in `namespaces`,
/// counted per value of the node label `topology_key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityTerm {
    /// `None` (no labelSelector) matches no pod, as in Kubernetes.
    pub selector: Option<Selector>,
    pub namespaces: Namespaces,
    pub topology_key: String,
}

impl AffinityTerm {
    /// Whether `pod` is one of the pods this term is about.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        self.namespaces.contains(&pod.namespace)
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.labels))
    }

    /// Compiles an API term of a pod in `namespace` with `labels`. A non-empty namespaceSelector
    /// cannot be evaluated (the scheduler does not watch namespaces): only the listed namespaces
    /// (or the pod's own) are used then.
    pub fn from_api(
        term: &core::PodAffinityTerm,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        path: &str,
    ) -> Result<AffinityTerm, (String, String)> {
        let selector = term
            .label_selector
            .as_ref()
            .map(|s| {
                selector_with_label_keys(
                    s,
                    labels,
                    term.match_label_keys.as_deref().unwrap_or_default(),
                    term.mismatch_label_keys.as_deref().unwrap_or_default(),
                    &format!("{path}.labelSelector"),
                )
            })
            .transpose()?;
        let listed = term.namespaces.clone().unwrap_or_default();
        let all = term.namespace_selector.as_ref().is_some_and(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        });
        let namespaces = if all {
            Namespaces::All
        } else if listed.is_empty() {
            Namespaces::Listed(vec![namespace.to_string()])
        } else {
            Namespaces::Listed(listed)
        };
        Ok(AffinityTerm {
            selector,
            namespaces,
            topology_key: term.topology_key.clone(),
        })
    }
}

/// A topology spread constraint: pods of the pod's namespace matching `selector` must not
/// differ by more than `max_skew` between domains (values of the node label `topology_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// `whenUnsatisfiable: DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    /// `None` (no labelSelector) matches no pod.
    pub selector: Option<Selector>,
    /// Below this many eligible domains the global minimum counts as 0.
    pub min_domains: Option<i64>,
    /// `nodeAffinityPolicy: Honor` (default): only nodes matching the pod's node affinity count.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (default Ignore): only nodes whose taints the pod tolerates count.
    pub honor_node_taints: bool,
}

impl SpreadConstraint {
    pub fn from_api(
        c: &core::TopologySpreadConstraint,
        labels: &BTreeMap<String, String>,
        path: &str,
    ) -> Result<SpreadConstraint, (String, String)> {
        let hard = match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" => true,
            "ScheduleAnyway" => false,
            other => {
                return Err((
                    format!("{path}.whenUnsatisfiable"),
                    format!("must be DoNotSchedule or ScheduleAnyway, not {other:?}"),
                ));
            }
        };
        let selector = c
            .label_selector
            .as_ref()
            .map(|s| {
                selector_with_label_keys(
                    s,
                    labels,
                    c.match_label_keys.as_deref().unwrap_or_default(),
                    &[],
                    &format!("{path}.labelSelector"),
                )
            })
            .transpose()?;
        Ok(SpreadConstraint {
            max_skew: i64::from(c.max_skew.max(1)),
            topology_key: c.topology_key.clone(),
            hard,
            selector,
            min_domains: c.min_domains.map(i64::from),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        })
    }

    /// Whether an existing pod counts towards this constraint of a pod in `namespace`.
    pub fn counts(&self, namespace: &str, pod: &PodInfo) -> bool {
        !pod.terminating
            && *pod.namespace == *namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.labels))
    }
}

/// A label selector plus `matchLabelKeys` (key in (the pod's value)) and `mismatchLabelKeys`
/// (key notin (the pod's value)); keys the pod does not carry are ignored, as in Kubernetes.
fn selector_with_label_keys(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
    match_keys: &[String],
    mismatch_keys: &[String],
    path: &str,
) -> Result<Selector, (String, String)> {
    let base =
        Selector::from_label_selector(selector).map_err(|e| (path.to_string(), e.to_string()))?;
    let mut requirements = base.requirements().to_vec();
    for (keys, op) in [(match_keys, Operator::In), (mismatch_keys, Operator::NotIn)] {
        for key in keys {
            if let Some(value) = labels.get(key) {
                let r = Requirement::new(key, op, vec![value.clone()])
                    .map_err(|e| (path.to_string(), e.to_string()))?;
                requirements.push(r);
            }
        }
    }
    Ok(Selector::from_requirements(requirements))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn term_defaults_to_the_pods_namespace_and_empty_namespace_selector_means_all() {
        let mut api = core::PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        };
        let term = AffinityTerm::from_api(&api, "shop", &BTreeMap::new(), "t").unwrap();
        assert_eq!(term.namespaces, Namespaces::Listed(vec!["shop".into()]));
        api.namespace_selector = Some(LabelSelector::default());
        let term = AffinityTerm::from_api(&api, "shop", &BTreeMap::new(), "t").unwrap();
        assert_eq!(term.namespaces, Namespaces::All);
    }

    #[test]
    fn match_label_keys_narrow_the_selector_to_the_pods_own_value() {
        let api = core::TopologySpreadConstraint {
            label_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", "web")])),
                ..Default::default()
            }),
            match_label_keys: Some(vec!["pod-template-hash".into(), "absent".into()]),
            max_skew: 1,
            topology_key: "zone".into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            ..Default::default()
        };
        let own = labels(&[("app", "web"), ("pod-template-hash", "abc")]);
        let c = SpreadConstraint::from_api(&api, &own, "c").unwrap();
        let selector = c.selector.unwrap();
        assert!(selector.matches(&own));
        assert!(!selector.matches(&labels(&[("app", "web"), ("pod-template-hash", "old")])));
        assert!(c.hard && c.honor_node_affinity && !c.honor_node_taints);
    }

    #[test]
    fn unknown_when_unsatisfiable_is_an_error() {
        let api = core::TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "zone".into(),
            when_unsatisfiable: "Maybe".into(),
            ..Default::default()
        };
        assert!(SpreadConstraint::from_api(&api, &BTreeMap::new(), "c").is_err());
    }
}
