//! Pod spec validation (`ValidatePodSpec`, `ValidatePodTemplateSpec`): containers, volumes,
//! restart and DNS policy, node selector, tolerations.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplateSpec, Toleration, Volume};

use super::container::{ContainerRole, PodContext, validate_container};
use super::meta::{NameRule, Scope, validate_annotations, validate_labels, validate_object_meta};
use super::path::{Path, q};
use crate::error::FieldError;
use crate::names;

/// A Pod object.
pub(super) fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pod.metadata, Scope::Namespaced, NameRule::Subdomain);
    match &pod.spec {
        Some(spec) => errs.extend(validate_pod_spec(spec, &Path::new("spec"), true)),
        None => errs.push(FieldError::required("spec")),
    }
    errs
}

/// A pod template (`spec.template` of workloads): labels, annotations and the pod spec.
pub(super) fn validate_pod_template(template: &PodTemplateSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(meta) = &template.metadata {
        let meta_path = path.child("metadata");
        errs.extend(validate_labels(
            meta.labels.as_ref(),
            &meta_path.child("labels"),
        ));
        errs.extend(validate_annotations(
            meta.annotations.as_ref(),
            &meta_path.child("annotations"),
        ));
    }
    let spec_path = path.child("spec");
    match &template.spec {
        Some(spec) => {
            errs.extend(validate_pod_spec(spec, &spec_path, false));
            if spec
                .ephemeral_containers
                .as_ref()
                .is_some_and(|e| !e.is_empty())
            {
                errs.push(FieldError::forbidden(
                    spec_path.child("ephemeralContainers"),
                    "ephemeral containers not allowed in pod template",
                ));
            }
        }
        None => errs.push(FieldError::required(spec_path.child("containers"))),
    }
    errs
}

/// `ValidatePodSpec`.
pub(super) fn validate_pod_spec(spec: &PodSpec, path: &Path, is_pod: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (volume_names, volume_errs) = validate_volumes(
        spec.volumes.as_deref().unwrap_or_default(),
        &path.child("volumes"),
    );
    errs.extend(volume_errs);
    let ctx = PodContext {
        volumes: &volume_names,
        host_network: spec.host_network.unwrap_or(false),
        is_pod,
    };
    let mut container_names = BTreeSet::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let role = if c.restart_policy.as_deref() == Some("Always") {
            ContainerRole::Sidecar
        } else {
            ContainerRole::Init
        };
        if let Some(policy) = c.restart_policy.as_deref()
            && policy != "Always"
        {
            let p = path.child("initContainers").index(i).child("restartPolicy");
            errs.push(FieldError::not_supported(p, q(policy), &["Always"]));
        }
        errs.extend(validate_container(
            c,
            &path.child("initContainers").index(i),
            role,
            &ctx,
            &mut container_names,
        ));
    }
    if spec.containers.is_empty() {
        errs.push(FieldError::required(path.child("containers")));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = path.child("containers").index(i);
        if let Some(policy) = c.restart_policy.as_deref() {
            errs.push(FieldError::forbidden(
                p.child("restartPolicy"),
                format!("may not be set for non-init containers ({policy:?})"),
            ));
        }
        errs.extend(validate_container(
            c,
            &p,
            ContainerRole::Regular,
            &ctx,
            &mut container_names,
        ));
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = path.child("ephemeralContainers").index(i).child("name");
        if c.name.is_empty() {
            errs.push(FieldError::required(&p));
        } else if !container_names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(&p, q(&c.name)));
        }
    }
    match spec.restart_policy.as_deref().unwrap_or("") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("restartPolicy"))),
        other => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            q(other),
            &["Always", "OnFailure", "Never"],
        )),
    }
    match spec.dns_policy.as_deref().unwrap_or("") {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" => {}
        "None" => {
            if spec.dns_config.is_none() {
                errs.push(
                    FieldError::required(path.child("dnsConfig"))
                        .with_message("must provide `dnsConfig` when `dnsPolicy` is None"),
                );
            }
        }
        "" => errs.push(FieldError::required(path.child("dnsPolicy"))),
        other => errs.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            q(other),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    let subdomain_fields = [
        ("serviceAccountName", &spec.service_account_name),
        ("nodeName", &spec.node_name),
    ];
    for (field, value) in subdomain_fields {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(
                names::is_dns1123_subdomain(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(path.child(field), q(v), m)),
            );
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(
                names::is_dns1123_label(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(path.child(field), q(v), m)),
            );
        }
    }
    if let Some(deadline) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&deadline)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            deadline,
            names::inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        errs.extend(validate_toleration(
            toleration,
            &path.child("tolerations").index(i),
        ));
    }
    errs
}

/// Volume names are DNS labels, unique, and each volume has exactly one source.
fn validate_volumes(volumes: &[Volume], path: &Path) -> (BTreeSet<String>, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name_path = p.child("name");
        if volume.name.is_empty() {
            errs.push(FieldError::required(&name_path));
        } else {
            errs.extend(
                names::is_dns1123_label(&volume.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(&name_path, q(&volume.name), m)),
            );
        }
        if !seen.insert(volume.name.clone()) {
            errs.push(FieldError::duplicate(&name_path, q(&volume.name)));
        }
        let sources: Vec<String> = match serde_json::to_value(volume) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter(|(k, v)| k != "name" && !v.is_null())
                .map(|(k, _)| k)
                .collect(),
            _ => Vec::new(),
        };
        match sources.as_slice() {
            [] => errs.push(FieldError::required(&p).with_message("must specify a volume type")),
            [_] => {}
            [_, second, ..] => errs.push(FieldError::forbidden(
                p.child(second),
                "may not specify more than 1 volume type",
            )),
        }
    }
    (seen, errs)
}

/// Toleration key, operator, effect and tolerationSeconds rules.
fn validate_toleration(t: &Toleration, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() {
        errs.extend(
            names::is_qualified_name(key)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("key"), q(key), m)),
        );
    }
    let operator = t.operator.as_deref().unwrap_or("");
    if key.is_empty() && operator != "Exists" {
        errs.push(FieldError::invalid(
            path.child("operator"),
            q(operator),
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    let value = t.value.as_deref().unwrap_or("");
    match operator {
        "" | "Equal" => {
            errs.extend(
                names::is_valid_label_value(value)
                    .into_iter()
                    .map(|m| FieldError::invalid(path.child("value"), q(value), m)),
            );
        }
        "Exists" if !value.is_empty() => {
            errs.push(FieldError::invalid(
                path.child("operator"),
                q(value),
                "value must be empty when `operator` is 'Exists'",
            ));
        }
        "Exists" => {}
        other => errs.push(FieldError::not_supported(
            path.child("operator"),
            q(other),
            &["Equal", "Exists"],
        )),
    }
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        errs.push(FieldError::not_supported(
            path.child("effect"),
            q(effect),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        ));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        errs.push(FieldError::invalid(
            path.child("effect"),
            q(effect),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    errs
}
