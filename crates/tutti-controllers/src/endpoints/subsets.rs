//! The Endpoints view of a service's targets, as Kubernetes' endpoints controller writes it:
//! ready pods in `addresses`, the others in `notReadyAddresses`, terminating pods left out
//! (unless the service publishes not-ready addresses), and the subsets packed canonically —
//! addresses offering exactly the same ports share one subset, so pods whose named
//! `targetPort` resolves to different numbers land in different subsets. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::targets::{self, ResolvedPort, Target};
use super::{HEADLESS_LABEL, SKIP_MIRROR_LABEL};

/// An address's identity while packing: its IP and its pod's uid.
type AddressKey = (String, String);

/// The canonical subsets for `targets` of `svc`: every subset's addresses sorted by IP (then
/// pod uid), its ports sorted, and the subsets ordered by their addresses.
pub fn subsets(svc: &Service, targets: &[Target]) -> Vec<EndpointSubset> {
    let publish = targets::publishes_not_ready(svc);
    let no_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_none_or(Vec::is_empty);
    // A service without ports has endpoints only when headless: addresses with no ports.
    if no_ports && !targets::is_headless(svc) {
        return Vec::new();
    }
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    // Each port (None: the port-less entry of a headless service) and who offers it, ready or not.
    let mut by_port: BTreeMap<Option<ResolvedPort>, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    for t in targets {
        if t.terminating && !publish {
            continue;
        }
        let key = (t.ip.clone(), t.pod.uid.clone().unwrap_or_default());
        let ready = publish || t.serving;
        addresses.insert(key.clone(), address(t));
        if no_ports {
            by_port.entry(None).or_default().insert(key, ready);
        } else {
            for port in &t.ports {
                by_port
                    .entry(Some(port.clone()))
                    .or_default()
                    .insert(key.clone(), ready);
            }
        }
    }
    // Ports offered by the very same addresses (with the same readiness) form one subset.
    let mut by_addresses: BTreeMap<Vec<(AddressKey, bool)>, Vec<ResolvedPort>> = BTreeMap::new();
    for (port, offered_by) in by_port {
        let ports = by_addresses
            .entry(offered_by.into_iter().collect())
            .or_default();
        ports.extend(port);
    }
    by_addresses
        .into_iter()
        .map(|(members, ports)| {
            let pick = |ready: bool| -> Option<Vec<EndpointAddress>> {
                let list: Vec<EndpointAddress> = members
                    .iter()
                    .filter(|(_, r)| *r == ready)
                    .filter_map(|(key, _)| addresses.get(key).cloned())
                    .collect();
                (!list.is_empty()).then_some(list)
            };
            EndpointSubset {
                addresses: pick(true),
                not_ready_addresses: pick(false),
                ports: (!ports.is_empty()).then(|| ports.iter().map(endpoint_port).collect()),
            }
        })
        .collect()
}

fn address(t: &Target) -> EndpointAddress {
    EndpointAddress {
        ip: t.ip.clone(),
        hostname: t.hostname.clone(),
        node_name: t.node_name.clone(),
        target_ref: Some(t.pod.clone()),
    }
}

fn endpoint_port(p: &ResolvedPort) -> EndpointPort {
    EndpointPort {
        name: (!p.name.is_empty()).then(|| p.name.clone()),
        port: p.port,
        protocol: Some(p.protocol.clone()),
        app_protocol: p.app_protocol.clone(),
    }
}

/// The labels of a service's Endpoints: the service's own, marked as written by this
/// controller (so EndpointSlice mirroring skips them), and `service.kubernetes.io/headless`
/// for headless services.
pub fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(SKIP_MIRROR_LABEL.into(), "true".into());
    if targets::is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// The Endpoints object the service should have.
pub fn desired(svc: &Service, targets: &[Target]) -> Endpoints {
    let subsets = subsets(svc, targets);
    Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels(svc)),
            ..Default::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

/// Whether the stored Endpoints already say what `desired` says (labels and subsets), so no
/// write is needed.
pub fn is_current(stored: &Endpoints, desired: &Endpoints) -> bool {
    let none = Vec::new();
    stored.metadata.labels == desired.metadata.labels
        && stored.subsets.as_ref().unwrap_or(&none) == desired.subsets.as_ref().unwrap_or(&none)
}
