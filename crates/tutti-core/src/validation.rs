//! Validation of defaulted objects with Kubernetes' rules, field paths and wording
//! (`spec.template.spec.containers[0].image: Required value`), split per kind group:
//! metadata ([`meta`]), pods and containers, apps workloads, batch, services, endpoints and
//! endpoint slices, config maps and secrets, cluster objects, and the update-only rules.
//!
//! Call sites default first ([`crate::defaults::apply_defaults`]), then validate: values that
//! Kubernetes fills in (restart policy, protocols, strategies) are required here.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::decode::decode_as;
use crate::error::FieldError;

mod apps;
mod batch;
mod cluster;
mod config;
mod container;
mod cron;
mod meta;
pub(crate) mod path;
mod pod;
mod policy;
mod probe;
mod service;
mod update;

pub use config::MAX_SECRET_SIZE;
pub use cron::{CronError, CronSchedule};
pub use service::NODE_PORT_RANGE;

/// The kinds tutti-core decodes, defaults and validates.
pub const SUPPORTED_KINDS: &[&str] = &[
    "Namespace",
    "Pod",
    "Service",
    "Endpoints",
    "ConfigMap",
    "Secret",
    "Event",
    "Node",
    "ServiceAccount",
    "Binding",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "Lease",
    "Scale",
    "PodDisruptionBudget",
    "EndpointSlice",
];

fn typed<T: DeserializeOwned>(
    obj: &Value,
    check: impl FnOnce(&T) -> Vec<FieldError>,
) -> Vec<FieldError> {
    match decode_as::<T>(obj) {
        Ok(t) => check(&t),
        Err(e) => vec![e],
    }
}

/// Validates a defaulted object of `kind`; an empty list means it may be stored.
/// A value of the wrong type is reported as by [`crate::decode::decode_typed`].
pub fn validate(kind: &str, obj: &Value) -> Vec<FieldError> {
    use k8s_openapi::api::{
        apps::v1 as apps_v1, autoscaling, batch::v1 as batch_v1, coordination, core::v1 as core_v1,
        discovery::v1 as discovery_v1, policy::v1 as policy_v1,
    };
    match kind {
        "Pod" => typed::<core_v1::Pod>(obj, pod::validate_pod),
        "Deployment" => typed::<apps_v1::Deployment>(obj, |d| apps::validate_deployment(d, obj)),
        "ReplicaSet" => typed::<apps_v1::ReplicaSet>(obj, |r| apps::validate_replica_set(r, obj)),
        "DaemonSet" => typed::<apps_v1::DaemonSet>(obj, |d| apps::validate_daemon_set(d, obj)),
        "StatefulSet" => {
            typed::<apps_v1::StatefulSet>(obj, |s| apps::validate_stateful_set(s, obj))
        }
        "Job" => typed::<batch_v1::Job>(obj, batch::validate_job),
        "CronJob" => typed::<batch_v1::CronJob>(obj, |c| batch::validate_cron_job(c, obj)),
        "Service" => typed::<core_v1::Service>(obj, service::validate_service),
        "Endpoints" => typed::<core_v1::Endpoints>(obj, service::validate_endpoints),
        "ConfigMap" => typed::<core_v1::ConfigMap>(obj, config::validate_config_map),
        "Secret" => typed::<core_v1::Secret>(obj, config::validate_secret),
        "Namespace" => typed::<core_v1::Namespace>(obj, cluster::validate_namespace),
        "Node" => typed::<core_v1::Node>(obj, cluster::validate_node),
        "Event" => typed::<core_v1::Event>(obj, cluster::validate_event),
        "ServiceAccount" => {
            typed::<core_v1::ServiceAccount>(obj, cluster::validate_service_account)
        }
        "Binding" => typed::<core_v1::Binding>(obj, cluster::validate_binding),
        "Lease" => typed::<coordination::v1::Lease>(obj, cluster::validate_lease),
        "Scale" => typed::<autoscaling::v1::Scale>(obj, cluster::validate_scale),
        "PodDisruptionBudget" => {
            typed::<policy_v1::PodDisruptionBudget>(obj, policy::validate_pod_disruption_budget)
        }
        "EndpointSlice" => {
            typed::<discovery_v1::EndpointSlice>(obj, service::validate_endpoint_slice)
        }
        _ => vec![FieldError::not_supported(
            "kind",
            format!("{kind:?}"),
            SUPPORTED_KINDS,
        )],
    }
}

/// The rules that apply only when `old` is replaced by `new`: immutable fields
/// (`spec.selector: Invalid value: ...: field is immutable`). Run [`validate`] on `new` too.
pub fn validate_update(kind: &str, old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = update::validate_update(kind, old, new);
    if kind == "EndpointSlice" {
        errs.extend(service::validate_endpoint_slice_update(old, new));
    }
    errs
}

#[cfg(test)]
mod tests;
