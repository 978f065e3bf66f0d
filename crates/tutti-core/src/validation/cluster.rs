//! Validation of the cluster plumbing kinds: Namespace, Node, Event, Lease, ServiceAccount,
//! and the Binding and Scale subresource bodies.

use std::collections::BTreeSet;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Binding, Event, Namespace, Node, ServiceAccount};

use super::meta::{NameRule, Scope, nonnegative, validate_finalizers, validate_object_meta};
use super::path::{Path, q};
use crate::error::FieldError;
use crate::names;
use crate::quantity::Quantity;

pub(super) fn validate_namespace(ns: &Namespace) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ns.metadata, Scope::Cluster, NameRule::Label);
    if let Some(finalizers) = ns.spec.as_ref().and_then(|s| s.finalizers.as_deref()) {
        errs.extend(validate_finalizers(
            finalizers,
            &Path::new("spec.finalizers"),
        ));
    }
    errs
}

pub(super) fn validate_node(node: &Node) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&node.metadata, Scope::Cluster, NameRule::Subdomain);
    let spec_path = Path::new("spec");
    if let Some(spec) = &node.spec {
        let cidrs = spec.pod_cidrs.clone().unwrap_or_default();
        for (i, cidr) in cidrs.iter().enumerate() {
            if !is_valid_cidr(cidr) {
                errs.push(FieldError::invalid(
                    spec_path.child("podCIDRs").index(i),
                    q(cidr),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
        if cidrs.len() > 2 {
            errs.push(FieldError::invalid(
                spec_path.child("podCIDRs"),
                cidrs.len(),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, taint) in spec.taints.iter().flatten().enumerate() {
            let p = spec_path.child("taints").index(i);
            if taint.key.is_empty() {
                errs.push(FieldError::required(p.child("key")));
            } else {
                errs.extend(
                    names::is_qualified_name(&taint.key)
                        .into_iter()
                        .map(|m| FieldError::invalid(p.child("key"), q(&taint.key), m)),
                );
            }
            let value = taint.value.as_deref().unwrap_or("");
            errs.extend(
                names::is_valid_label_value(value)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("value"), q(value), m)),
            );
            match taint.effect.as_str() {
                "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
                "" => errs.push(FieldError::required(p.child("effect"))),
                other => errs.push(FieldError::not_supported(
                    p.child("effect"),
                    q(other),
                    &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                )),
            }
            if !seen.insert((taint.key.as_str(), taint.effect.as_str())) {
                errs.push(FieldError::duplicate(
                    &p,
                    "taints must be unique by key and effect pair",
                ));
            }
        }
    }
    if let Some(status) = &node.status {
        for (field, list) in [
            ("capacity", &status.capacity),
            ("allocatable", &status.allocatable),
        ] {
            for (name, quantity) in list.iter().flatten() {
                if let Err(e) = Quantity::parse(&quantity.0) {
                    errs.push(FieldError::invalid(
                        Path::new("status").child(field).key(name),
                        q(&quantity.0),
                        e,
                    ));
                }
            }
        }
    }
    errs
}

fn is_valid_cidr(cidr: &str) -> bool {
    let Some((ip, bits)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// Core/v1 Event rules (`legacyValidateEvent`).
pub(super) fn validate_event(ev: &Event) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ev.metadata, Scope::Namespaced, NameRule::Subdomain);
    let namespace = ev.metadata.namespace.as_deref().unwrap_or("");
    let involved = ev.involved_object.namespace.as_deref().unwrap_or("");
    let mismatch = || {
        FieldError::invalid(
            "involvedObject.namespace",
            q(involved),
            "does not match event.namespace",
        )
    };
    if ev.event_time.is_none() {
        if !namespace.is_empty() {
            let ok = if involved.is_empty() {
                namespace == "default"
            } else {
                involved == namespace
            };
            if !ok {
                errs.push(mismatch());
            }
        }
    } else {
        if involved.is_empty()
            && !namespace.is_empty()
            && namespace != "default"
            && namespace != "kube-system"
        {
            errs.push(mismatch());
        }
        let controller = ev.reporting_component.as_deref().unwrap_or("");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingComponent"));
        } else {
            errs.extend(
                names::is_qualified_name(controller)
                    .into_iter()
                    .map(|m| FieldError::invalid("reportingComponent", q(controller), m)),
            );
        }
        let limits = [
            (
                "reportingInstance",
                ev.reporting_instance.as_deref(),
                128,
                true,
            ),
            ("action", ev.action.as_deref(), 128, true),
            ("reason", ev.reason.as_deref(), 128, true),
            ("message", ev.message.as_deref(), 1024, false),
        ];
        for (field, value, max, required) in limits {
            let value = value.unwrap_or("");
            if required && value.is_empty() {
                errs.push(FieldError::required(field));
            }
            if value.len() > max {
                errs.push(FieldError::invalid(
                    field,
                    q(""),
                    format!("can have at most {max} characters"),
                ));
            }
        }
    }
    errs
}

pub(super) fn validate_lease(lease: &Lease) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&lease.metadata, Scope::Namespaced, NameRule::Subdomain);
    if let Some(spec) = &lease.spec {
        if let Some(duration) = spec.lease_duration_seconds
            && duration <= 0
        {
            errs.push(FieldError::invalid(
                "spec.leaseDurationSeconds",
                duration,
                "must be greater than 0",
            ));
        }
        if let Some(transitions) = spec.lease_transitions {
            errs.extend(nonnegative(
                i64::from(transitions),
                &Path::new("spec.leaseTransitions"),
            ));
        }
    }
    errs
}

pub(super) fn validate_service_account(sa: &ServiceAccount) -> Vec<FieldError> {
    validate_object_meta(&sa.metadata, Scope::Namespaced, NameRule::Subdomain)
}

/// The body of `POST pods/<name>/binding`.
pub(super) fn validate_binding(binding: &Binding) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kind = binding.target.kind.as_deref().unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        errs.push(FieldError::not_supported(
            "target.kind",
            q(kind),
            &["Node", "<empty>"],
        ));
    }
    if binding.target.name.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required("target.name"));
    }
    errs
}

/// The body of `PUT deployments/<name>/scale`.
pub(super) fn validate_scale(scale: &Scale) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&scale.metadata, Scope::Namespaced, NameRule::Subdomain);
    if let Some(replicas) = scale.spec.as_ref().and_then(|s| s.replicas) {
        errs.extend(nonnegative(
            i64::from(replicas),
            &Path::new("spec.replicas"),
        ));
    }
    errs
}
