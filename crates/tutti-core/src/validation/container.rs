//! Container validation: names, image, ports, env, resources and volume mounts (probes and
//! hooks are in `probe`), with Kubernetes' paths and messages.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::path::{Path, q};
use crate::error::FieldError;
use crate::names;
use crate::quantity::Quantity;

/// Facts about the pod that container rules depend on.
pub(super) struct PodContext<'a> {
    pub volumes: &'a BTreeSet<String>,
    pub host_network: bool,
    /// Whether this is a Pod (some checks only apply to pods, not templates).
    pub is_pod: bool,
}

/// Regular, init (with or without `restartPolicy: Always`, i.e. sidecar).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ContainerRole {
    Regular,
    Init,
    Sidecar,
}

/// Validates one container; `names` collects container names across the pod for uniqueness.
pub(super) fn validate_container(
    c: &Container,
    path: &Path,
    role: ContainerRole,
    ctx: &PodContext<'_>,
    names: &mut BTreeSet<String>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path));
    } else {
        for msg in names::is_dns1123_label(&c.name) {
            errs.push(FieldError::invalid(&name_path, q(&c.name), msg));
        }
    }
    if !names.insert(c.name.clone()) {
        errs.push(FieldError::duplicate(&name_path, q(&c.name)));
    }
    let image = c.image.as_deref().unwrap_or("");
    if image.is_empty() {
        errs.push(FieldError::required(path.child("image")));
    } else if ctx.is_pod && image.trim() != image {
        errs.push(FieldError::invalid(
            path.child("image"),
            q(image),
            "must not have leading or trailing whitespace",
        ));
    }
    if let Some(policy) = c.image_pull_policy.as_deref() {
        match policy {
            "Always" | "IfNotPresent" | "Never" => {}
            "" => errs.push(FieldError::required(path.child("imagePullPolicy"))),
            other => errs.push(FieldError::not_supported(
                path.child("imagePullPolicy"),
                q(other),
                &["Always", "IfNotPresent", "Never"],
            )),
        }
    }
    if let Some(policy) = c.termination_message_policy.as_deref() {
        let p = path.child("terminationMessagePolicy");
        let detail = "must be 'File' or 'FallbackToLogsOnError'";
        match policy {
            "File" | "FallbackToLogsOnError" => {}
            "" => errs.push(FieldError::required(&p).with_message(detail)),
            other => errs.push(FieldError::invalid(&p, q(other), detail)),
        }
    }
    errs.extend(validate_ports(
        c.ports.as_deref().unwrap_or_default(),
        &path.child("ports"),
        ctx.host_network,
    ));
    errs.extend(validate_env(
        c.env.as_deref().unwrap_or_default(),
        &path.child("env"),
    ));
    if let Some(resources) = &c.resources {
        errs.extend(validate_resources(resources, &path.child("resources")));
    }
    errs.extend(validate_volume_mounts(
        c,
        &path.child("volumeMounts"),
        ctx.volumes,
    ));
    errs.extend(super::probe::validate_probes_and_hooks(c, path, role));
    errs
}

fn validate_ports(ports: &[ContainerPort], path: &Path, host_network: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen_names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(
                    msgs.into_iter()
                        .map(|m| FieldError::invalid(p.child("name"), q(name), m)),
                );
            } else if !seen_names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), q(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(p.child("containerPort")));
        } else {
            for msg in names::is_valid_port_num(i64::from(port.container_port)) {
                errs.push(FieldError::invalid(
                    p.child("containerPort"),
                    port.container_port,
                    msg,
                ));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in names::is_valid_port_num(i64::from(host_port)) {
                errs.push(FieldError::invalid(p.child("hostPort"), host_port, msg));
            }
        }
        if host_network && host_port != port.container_port {
            errs.push(FieldError::invalid(
                p.child("containerPort"),
                port.container_port,
                "must match `hostPort` when `hostNetwork` is true",
            ));
        }
        errs.extend(validate_protocol(
            port.protocol.as_deref(),
            &p.child("protocol"),
        ));
    }
    errs
}

/// `protocol`: TCP, UDP or SCTP.
pub(super) fn validate_protocol(protocol: Option<&str>, path: &Path) -> Option<FieldError> {
    match protocol.unwrap_or("") {
        "TCP" | "UDP" | "SCTP" => None,
        "" => Some(FieldError::required(path)),
        other => Some(FieldError::not_supported(
            path,
            q(other),
            &["SCTP", "TCP", "UDP"],
        )),
    }
}

fn validate_env(env: &[EnvVar], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, var) in env.iter().enumerate() {
        let p = path.index(i);
        if var.name.is_empty() {
            errs.push(FieldError::required(p.child("name")));
        } else {
            for msg in names::is_env_var_name(&var.name) {
                errs.push(FieldError::invalid(p.child("name"), q(&var.name), msg));
            }
        }
        let Some(from) = &var.value_from else {
            continue;
        };
        let from_path = p.child("valueFrom");
        let sources = [
            from.field_ref.is_some(),
            from.resource_field_ref.is_some(),
            from.config_map_key_ref.is_some(),
            from.secret_key_ref.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        match sources {
            0 => errs.push(FieldError::invalid(
                &from_path,
                q(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )),
            1 => {}
            _ => errs.push(FieldError::invalid(&from_path, q(""), "may not have more than one field specified at a time")),
        }
        if var.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(
                &from_path,
                q(""),
                "may not be specified when `value` is not empty",
            ));
        }
        let key_refs = [
            from.config_map_key_ref
                .as_ref()
                .map(|r| ("configMapKeyRef", &r.key)),
            from.secret_key_ref
                .as_ref()
                .map(|r| ("secretKeyRef", &r.key)),
        ];
        for (field, key) in key_refs.into_iter().flatten() {
            let key_path = from_path.children(&[field, "key"]);
            if key.is_empty() {
                errs.push(FieldError::required(&key_path));
            } else {
                errs.extend(
                    names::is_config_map_key(key)
                        .into_iter()
                        .map(|m| FieldError::invalid(&key_path, q(key), m)),
                );
            }
        }
    }
    errs
}

const STANDARD_CONTAINER_RESOURCES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

fn validate_resource_name(name: &str, path: &Path) -> Vec<FieldError> {
    if name.contains('/') {
        return names::is_qualified_name(name)
            .into_iter()
            .map(|m| FieldError::invalid(path, q(name), m))
            .collect();
    }
    if STANDARD_CONTAINER_RESOURCES.contains(&name) || name.starts_with("hugepages-") {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            q(name),
            "must be a standard resource for containers",
        )]
    }
}

fn parse_quantities<'a>(
    map: Option<&'a BTreeMap<String, ApiQuantity>>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, Quantity> {
    let mut parsed = BTreeMap::new();
    for (name, quantity) in map.into_iter().flatten() {
        let p = path.key(name);
        errs.extend(validate_resource_name(name, &p));
        match Quantity::parse(&quantity.0) {
            Ok(v) if v.is_negative() => {
                errs.push(FieldError::invalid(
                    &p,
                    q(&v.to_string()),
                    "must be greater than or equal to 0",
                ));
            }
            Ok(v) => {
                if name.contains('/') && v.nanos() % 1_000_000_000 != 0 {
                    errs.push(FieldError::invalid(
                        &p,
                        q(&v.to_string()),
                        "must be an integer",
                    ));
                }
                parsed.insert(name.as_str(), v);
            }
            Err(e) => errs.push(FieldError::invalid(&p, q(&quantity.0), e)),
        }
    }
    parsed
}

/// Quantities parse, are non-negative, and requests do not exceed limits.
pub(super) fn validate_resources(resources: &ResourceRequirements, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let limits = parse_quantities(resources.limits.as_ref(), &path.child("limits"), &mut errs);
    let requests_path = path.child("requests");
    let requests = parse_quantities(resources.requests.as_ref(), &requests_path, &mut errs);
    for (name, request) in &requests {
        let Some(limit) = limits.get(name) else {
            continue;
        };
        let overcommit_allowed = !name.starts_with("hugepages-") && !name.contains('/');
        if !overcommit_allowed && request != limit {
            errs.push(FieldError::invalid(
                &requests_path,
                q(&request.to_string()),
                format!("must be equal to {name} limit of {limit}"),
            ));
        } else if request > limit {
            errs.push(FieldError::invalid(
                &requests_path,
                q(&request.to_string()),
                format!("must be less than or equal to {name} limit of {limit}"),
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    c: &Container,
    path: &Path,
    volumes: &BTreeSet<String>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, mount) in c.volume_mounts.iter().flatten().enumerate() {
        let p = path.index(i);
        if mount.name.is_empty() {
            errs.push(FieldError::required(p.child("name")));
        }
        if !volumes.contains(&mount.name) {
            errs.push(FieldError::not_found(p.child("name"), q(&mount.name)));
        }
        if mount.mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath")));
        }
        if !mount_points.insert(mount.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                q(&mount.mount_path),
                "must be unique",
            ));
        }
        if let Some(sub_path) = mount.sub_path.as_deref()
            && (sub_path.starts_with('/') || sub_path.split('/').any(|s| s == ".."))
        {
            errs.push(FieldError::invalid(
                p.child("subPath"),
                q(sub_path),
                "must be a relative path without '..'",
            ));
        }
    }
    errs
}

/// A port given as a number (1–65535) or an IANA service name.
pub(super) fn validate_port_num_or_name(port: &IntOrString, path: &Path) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => names::is_valid_port_num(i64::from(*n))
            .into_iter()
            .map(|m| FieldError::invalid(path, n, m))
            .collect(),
        IntOrString::String(s) => names::is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(path, q(s), m))
            .collect(),
    }
}
