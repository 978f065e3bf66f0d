//! PodDisruptionBudget validation (`policy/v1`): at most one of `minAvailable` and
//! `maxUnavailable`, each a non-negative integer or a percentage of at most 100%, a valid
//! label selector, a known unhealthy-pod eviction policy, and non-negative status counts.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::apps::{not_more_than_100_percent, positive_int_or_percent};
use super::meta::{NameRule, Scope, nonnegative, validate_label_selector, validate_object_meta};
use super::path::{Path, go_selector, int_or_string, q};
use crate::error::FieldError;
use crate::labels::Selector;

/// The values `spec.unhealthyPodEvictionPolicy` may take.
const UNHEALTHY_POD_EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

pub(super) fn validate_pod_disruption_budget(pdb: &PodDisruptionBudget) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pdb.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = pdb.spec.clone().unwrap_or_default();
    errs.extend(validate_spec(&spec, &Path::new("spec")));
    if let Some(status) = &pdb.status {
        let path = Path::new("status");
        for (value, field) in [
            (status.disruptions_allowed, "disruptionsAllowed"),
            (status.current_healthy, "currentHealthy"),
            (status.desired_healthy, "desiredHealthy"),
            (status.expected_pods, "expectedPods"),
        ] {
            errs.extend(nonnegative(i64::from(value), &path.child(field)));
        }
    }
    errs
}

/// `ValidatePodDisruptionBudgetSpec`.
fn validate_spec(spec: &PodDisruptionBudgetSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let (Some(min), Some(max)) = (&spec.min_available, &spec.max_unavailable) {
        errs.push(FieldError::invalid(
            path,
            go_spec(min, max),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (value, field) in [
        (&spec.min_available, "minAvailable"),
        (&spec.max_unavailable, "maxUnavailable"),
    ] {
        if let Some(v) = value {
            let p = path.child(field);
            errs.extend(positive_int_or_percent(v, &p));
            errs.extend(not_more_than_100_percent(v, &p));
        }
    }
    if let Some(selector) = &spec.selector {
        let p = path.child("selector");
        let syntax = validate_label_selector(selector, &p);
        if syntax.is_empty() && Selector::from_label_selector(selector).is_err() {
            errs.push(FieldError::invalid(
                &p,
                go_selector(selector),
                "invalid label selector",
            ));
        }
        errs.extend(syntax);
    }
    if let Some(policy) = spec.unhealthy_pod_eviction_policy.as_deref()
        && !UNHEALTHY_POD_EVICTION_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            path.child("unhealthyPodEvictionPolicy"),
            q(policy),
            UNHEALTHY_POD_EVICTION_POLICIES,
        ));
    }
    errs
}

/// The spec as the error shows it (Go would print pointer addresses; we print the values).
fn go_spec(min: &IntOrString, max: &IntOrString) -> String {
    format!(
        "policy.PodDisruptionBudgetSpec{{MinAvailable:{}, MaxUnavailable:{}}}",
        int_or_string(min),
        int_or_string(max)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::defaults::apply_defaults;
    use crate::validation::validate;

    fn check(spec: Value) -> Vec<String> {
        let mut pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        apply_defaults("PodDisruptionBudget", &mut pdb);
        validate("PodDisruptionBudget", &pdb)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn min_available_or_max_unavailable_as_int_or_percent() {
        let sel = json!({"matchLabels": {"app": "web"}});
        assert!(check(json!({"minAvailable": 2, "selector": sel})).is_empty());
        assert!(check(json!({"minAvailable": "50%", "selector": sel})).is_empty());
        assert!(check(json!({"maxUnavailable": 1, "selector": sel})).is_empty());
        assert!(check(json!({"maxUnavailable": "100%", "selector": sel})).is_empty());
        // Neither is allowed too: the budget then protects nothing.
        assert!(check(json!({"selector": sel})).is_empty());
    }

    #[test]
    fn both_bounds_are_refused() {
        assert_eq!(
            check(json!({"minAvailable": 2, "maxUnavailable": "25%"})),
            [
                "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:2, MaxUnavailable:\"25%\"}: minAvailable and maxUnavailable cannot be both set"
            ]
        );
    }

    #[test]
    fn bad_numbers_and_percentages() {
        assert_eq!(
            check(json!({"minAvailable": -1})),
            ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            check(json!({"maxUnavailable": "150%"})),
            ["spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"]
        );
        let errs = check(json!({"minAvailable": "half"}));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("spec.minAvailable: Invalid value: \"half\""),
            "{errs:?}"
        );
    }

    #[test]
    fn selector_and_policy_are_checked() {
        let errs = check(json!({"minAvailable": 1, "selector": {"matchExpressions": [
            {"key": "app", "operator": "Near", "values": ["x"]}]}}));
        assert_eq!(
            errs,
            [
                "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
            ]
        );
        let errs = check(json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "-bad-"}}}));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("spec.selector.matchLabels: Invalid value: \"-bad-\""),
            "{errs:?}"
        );
        assert_eq!(
            check(json!({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"})),
            [
                "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Sometimes\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\""
            ]
        );
    }

    #[test]
    fn status_counts_are_not_negative() {
        let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"}, "spec": {"minAvailable": 1},
            "status": {"disruptionsAllowed": -1, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}});
        let errs: Vec<String> = validate("PodDisruptionBudget", &pdb)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            ["status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn wrong_types_are_reported_at_their_path() {
        let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"}, "spec": {"minAvailable": true}});
        let errs = validate("PodDisruptionBudget", &pdb);
        assert_eq!(errs[0].field, "spec.minAvailable");
    }
}
