//! Deployment, ReplicaSet, DaemonSet and StatefulSet validation: selector present, non-empty
//! and matching the template labels, replicas and history limits, update strategies.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::meta::{
    NameRule, Scope, empty_selector_error, nonnegative, selector_is_empty, validate_label_selector,
    validate_object_meta,
};
use super::path::{Path, go_map, go_selector, int_or_string, q};
use super::pod::validate_pod_template;
use crate::error::FieldError;
use crate::labels::Selector;
use crate::names;

/// Whether `spec.selector` was given in the raw object (k8s-openapi fills a missing one with
/// an empty selector, but Kubernetes distinguishes "missing" from "empty").
pub(super) fn has_selector(raw: &Value) -> bool {
    raw.pointer("/spec/selector").is_some_and(|s| !s.is_null())
}

/// Selector rules shared by the workload kinds, and the template checks that depend on it.
pub(super) fn validate_selector_and_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    spec: &Path,
    what: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector_path = spec.child("selector");
    let template_path = spec.child("template");
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let mismatch = || {
        FieldError::invalid(
            template_path.children(&["metadata", "labels"]),
            go_map(labels),
            "`selector` does not match template `labels`",
        )
    };
    match selector {
        // A missing selector selects nothing, so Kubernetes reports both problems.
        None => {
            errs.push(FieldError::required(&selector_path));
            errs.push(mismatch());
        }
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &selector_path));
            if selector_is_empty(sel) {
                errs.push(empty_selector_error(sel, &selector_path, what));
            }
            match Selector::from_label_selector(sel) {
                Err(_) => errs.push(FieldError::invalid(
                    &selector_path,
                    go_selector(sel),
                    "invalid label selector",
                )),
                Ok(s) if !s.is_empty() && !s.matches(labels.unwrap_or(&Default::default())) => {
                    errs.push(mismatch())
                }
                Ok(_) => {}
            }
        }
    }
    errs.extend(validate_pod_template(template, &template_path));
    let pod_spec = template.spec.as_ref();
    let restart = pod_spec
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    if !restart.is_empty() && restart != "Always" {
        errs.push(FieldError::not_supported(
            template_path.children(&["spec", "restartPolicy"]),
            q(restart),
            &["Always"],
        ));
    }
    if pod_spec.is_some_and(|s| s.active_deadline_seconds.is_some()) {
        let cap = capitalized(what);
        errs.push(FieldError::forbidden(
            template_path.children(&["spec", "activeDeadlineSeconds"]),
            format!("activeDeadlineSeconds in {cap} is not Supported"),
        ));
    }
    errs
}

fn capitalized(what: &str) -> &str {
    match what {
        // Deployments are checked as their ReplicaSets, and Kubernetes words it so.
        "deployment" | "replicaset" => "ReplicaSet",
        "daemonset" => "DaemonSet",
        "statefulset" => "StatefulSet",
        other => other,
    }
}

fn optional_nonnegative(value: Option<i32>, path: &Path) -> Option<FieldError> {
    value.and_then(|v| nonnegative(i64::from(v), path))
}

pub(super) fn validate_deployment(d: &Deployment, raw: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&d.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = d.spec.clone().unwrap_or_default();
    let path = Path::new("spec");
    errs.extend(optional_nonnegative(spec.replicas, &path.child("replicas")));
    let selector = has_selector(raw).then_some(&spec.selector);
    errs.extend(validate_selector_and_template(
        selector,
        &spec.template,
        &path,
        "deployment",
    ));
    if let Some(strategy) = &spec.strategy {
        let sp = path.child("strategy");
        match strategy.type_.as_deref().unwrap_or("") {
            "Recreate" if strategy.rolling_update.is_some() => errs.push(FieldError::forbidden(
                sp.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            )),
            "Recreate" => {}
            "RollingUpdate" => match &strategy.rolling_update {
                None => errs.push(
                    FieldError::required(sp.child("rollingUpdate"))
                        .with_message("this should be defaulted and never be nil"),
                ),
                Some(ru) => {
                    let rp = sp.child("rollingUpdate");
                    let unavailable = ru.max_unavailable.clone().unwrap_or(IntOrString::Int(0));
                    let surge = ru.max_surge.clone().unwrap_or(IntOrString::Int(0));
                    errs.extend(positive_int_or_percent(
                        &unavailable,
                        &rp.child("maxUnavailable"),
                    ));
                    errs.extend(positive_int_or_percent(&surge, &rp.child("maxSurge")));
                    if int_or_percent_value(&unavailable) == 0 && int_or_percent_value(&surge) == 0
                    {
                        errs.push(FieldError::invalid(
                            rp.child("maxUnavailable"),
                            int_or_string(&unavailable),
                            "may not be 0 when `maxSurge` is 0",
                        ));
                    }
                    errs.extend(not_more_than_100_percent(
                        &unavailable,
                        &rp.child("maxUnavailable"),
                    ));
                }
            },
            other => errs.push(FieldError::not_supported(
                sp.child("type"),
                q(other),
                &["Recreate", "RollingUpdate"],
            )),
        }
    }
    errs.extend(optional_nonnegative(
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    ));
    errs.extend(optional_nonnegative(
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    ));
    if let Some(deadline) = spec.progress_deadline_seconds {
        errs.extend(nonnegative(
            i64::from(deadline),
            &path.child("progressDeadlineSeconds"),
        ));
        if deadline <= spec.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                path.child("progressDeadlineSeconds"),
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

pub(super) fn validate_replica_set(rs: &ReplicaSet, raw: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&rs.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = rs.spec.clone().unwrap_or_default();
    let path = Path::new("spec");
    errs.extend(optional_nonnegative(spec.replicas, &path.child("replicas")));
    errs.extend(optional_nonnegative(
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    ));
    let selector = has_selector(raw).then_some(&spec.selector);
    let template = spec.template.clone().unwrap_or_default();
    // Kubernetes' ReplicaSet validation words the empty-selector error as for deployments.
    errs.extend(validate_selector_and_template(
        selector,
        &template,
        &path,
        "deployment",
    ));
    errs
}

pub(super) fn validate_daemon_set(ds: &DaemonSet, raw: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ds.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = ds.spec.clone().unwrap_or_default();
    let path = Path::new("spec");
    let selector = has_selector(raw).then_some(&spec.selector);
    errs.extend(validate_selector_and_template(
        selector,
        &spec.template,
        &path,
        "daemonset",
    ));
    errs.extend(optional_nonnegative(
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    ));
    errs.extend(optional_nonnegative(
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    ));
    if let Some(strategy) = &spec.update_strategy {
        let sp = path.child("updateStrategy");
        match strategy.type_.as_deref().unwrap_or("") {
            "OnDelete" => {}
            "RollingUpdate" => {
                if let Some(ru) = &strategy.rolling_update {
                    let rp = sp.child("rollingUpdate");
                    let unavailable = ru.max_unavailable.clone().unwrap_or(IntOrString::Int(0));
                    let surge = ru.max_surge.clone().unwrap_or(IntOrString::Int(0));
                    errs.extend(positive_int_or_percent(
                        &unavailable,
                        &rp.child("maxUnavailable"),
                    ));
                    errs.extend(positive_int_or_percent(&surge, &rp.child("maxSurge")));
                    errs.extend(not_more_than_100_percent(
                        &unavailable,
                        &rp.child("maxUnavailable"),
                    ));
                    errs.extend(not_more_than_100_percent(&surge, &rp.child("maxSurge")));
                    let has_unavailable = int_or_percent_value(&unavailable) != 0;
                    let has_surge = int_or_percent_value(&surge) != 0;
                    if has_unavailable && has_surge {
                        errs.push(FieldError::invalid(
                            rp.child("maxSurge"),
                            int_or_string(&surge),
                            "may not be set when maxUnavailable is non-zero",
                        ));
                    } else if !has_unavailable && !has_surge {
                        errs.push(
                            FieldError::required(rp.child("maxUnavailable"))
                                .with_message("cannot be 0 when maxSurge is 0"),
                        );
                    }
                }
            }
            "" => errs.push(FieldError::required(sp.child("type"))),
            other => errs.push(FieldError::not_supported(
                sp.child("type"),
                q(other),
                &["OnDelete", "RollingUpdate"],
            )),
        }
    }
    errs
}

pub(super) fn validate_stateful_set(sts: &StatefulSet, raw: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&sts.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = sts.spec.clone().unwrap_or_default();
    let path = Path::new("spec");
    match spec.pod_management_policy.as_deref() {
        None | Some("OrderedReady" | "Parallel") => {}
        Some("") => errs.push(FieldError::required(path.child("podManagementPolicy"))),
        Some(other) => errs.push(FieldError::invalid(
            path.child("podManagementPolicy"),
            q(other),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    if let Some(strategy) = &spec.update_strategy {
        let sp = path.child("updateStrategy");
        match strategy.type_.as_deref().unwrap_or("") {
            "OnDelete" if strategy.rolling_update.is_some() => errs.push(FieldError::invalid(
                sp.child("rollingUpdate"),
                "apps.RollingUpdateStatefulSetStrategy",
                "only allowed for updateStrategy 'RollingUpdate'",
            )),
            "OnDelete" => {}
            "RollingUpdate" => {
                if let Some(partition) = strategy.rolling_update.as_ref().and_then(|r| r.partition)
                {
                    errs.extend(nonnegative(
                        i64::from(partition),
                        &sp.children(&["rollingUpdate", "partition"]),
                    ));
                }
            }
            "" => errs.push(FieldError::required(&sp)),
            other => errs.push(FieldError::invalid(
                &sp,
                q(other),
                "must be 'RollingUpdate' or 'OnDelete'",
            )),
        }
    }
    errs.extend(optional_nonnegative(
        spec.revision_history_limit,
        &path.child("revisionHistoryLimit"),
    ));
    errs.extend(optional_nonnegative(spec.replicas, &path.child("replicas")));
    errs.extend(optional_nonnegative(
        spec.min_ready_seconds,
        &path.child("minReadySeconds"),
    ));
    if let Some(service) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        for msg in names::is_dns1123_label(service) {
            errs.push(FieldError::invalid(
                path.child("serviceName"),
                q(service),
                msg,
            ));
        }
    }
    let selector = has_selector(raw).then_some(&spec.selector);
    errs.extend(validate_selector_and_template(
        selector,
        &spec.template,
        &path,
        "statefulset",
    ));
    errs
}

/// `ValidatePositiveIntOrPercent`.
pub(super) fn positive_int_or_percent(v: &IntOrString, path: &Path) -> Vec<FieldError> {
    match v {
        IntOrString::String(s) => names::is_valid_percent(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, q(s), m))
            .collect(),
        IntOrString::Int(i) => nonnegative(i64::from(*i), path).into_iter().collect(),
    }
}

fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

pub(super) fn not_more_than_100_percent(v: &IntOrString, path: &Path) -> Option<FieldError> {
    match v {
        IntOrString::String(s)
            if names::is_valid_percent(s).is_empty() && int_or_percent_value(v) > 100 =>
        {
            Some(FieldError::invalid(
                path,
                q(s),
                "must not be greater than 100%",
            ))
        }
        _ => None,
    }
}
