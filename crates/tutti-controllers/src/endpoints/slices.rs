//! The EndpointSlice view of a service's targets, as Kubernetes' endpointslice controller
//! writes it, and the plan that turns the stored slices into it with few writes. Pure.
//!
//! Every endpoint of a slice offers the slice's ports, so targets are grouped by the ports
//! they resolve to; each group fills slices of at most [`MAX_ENDPOINTS_PER_SLICE`]. An
//! endpoint stays in the slice it is already in; new endpoints fill existing slices with
//! room before new slices are made, and slices of port sets no longer offered are reused
//! before any is created; slices left empty, of another address type, or not owned by the
//! service are deleted. A service without endpoints keeps one empty placeholder slice.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::targets::{self, ResolvedPort, Target};
use super::{HEADLESS_LABEL, MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

/// Most endpoints the controller puts in one slice (Kubernetes' default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The writes that bring a service's slices to the desired state.
#[derive(Debug, Default, PartialEq)]
pub struct SlicePlan {
    /// New slices (named by `generateName: <service>-`).
    pub create: Vec<EndpointSlice>,
    /// Stored slices with new content (their resourceVersion kept, for a guarded replace).
    pub update: Vec<EndpointSlice>,
    /// Names of stored slices to delete.
    pub delete: Vec<String>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The endpoint a target becomes. Ready means serving and not terminating, or anything at all
/// when the service publishes not-ready addresses.
pub fn endpoint(t: &Target, publish_not_ready: bool) -> Endpoint {
    let ready = publish_not_ready || (t.serving && !t.terminating);
    Endpoint {
        addresses: vec![t.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(t.serving),
            terminating: Some(t.terminating),
        }),
        hostname: t.hostname.clone(),
        node_name: t.node_name.clone(),
        target_ref: Some(t.pod.clone()),
        ..Default::default()
    }
}

/// The labels of a service's slices: the service's own (minus the ones this controller
/// sets), the service name, the manager, and the headless marker for headless services.
pub fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if targets::is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

/// The controller reference every slice of the service carries (so the garbage collector
/// removes the slices with the service). `None` for a service not read from the API.
pub fn owner(svc: &Service) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone()?,
        uid: svc.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Identity of an endpoint across reconciles: its pod's uid, else its first address.
fn endpoint_key(e: &Endpoint) -> String {
    e.target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| e.addresses.first().cloned())
        .unwrap_or_default()
}

/// Deterministic order of endpoints in a slice: by address, then identity.
fn sort_endpoints(endpoints: &mut [Endpoint]) {
    endpoints.sort_by_cached_key(|e| (e.addresses.clone(), endpoint_key(e)));
}

fn slice_port(p: &ResolvedPort) -> EndpointPort {
    EndpointPort {
        name: Some(p.name.clone()),
        port: Some(p.port),
        protocol: Some(p.protocol.clone()),
        app_protocol: p.app_protocol.clone(),
    }
}

/// A stored slice's ports as resolved ports (sorted), or `None` if one has no number (the
/// controller never writes such a port, so the slice is not one of its groups).
fn stored_ports(slice: &EndpointSlice) -> Option<Vec<ResolvedPort>> {
    let mut ports = slice
        .ports
        .iter()
        .flatten()
        .map(|p| {
            Some(ResolvedPort {
                name: p.name.clone().unwrap_or_default(),
                port: p.port?,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    ports.sort();
    Some(ports)
}

/// A slice being filled: the stored one it reuses (if any) and its new endpoints.
struct Slot<'a> {
    stored: Option<&'a EndpointSlice>,
    endpoints: Vec<Endpoint>,
}

/// What to create, update and delete so that the service's slices (`stored`: every slice
/// labelled with the service's name and this controller) show `targets`.
pub fn plan(svc: &Service, targets: &[Target], stored: &[EndpointSlice]) -> SlicePlan {
    let mut out = SlicePlan::default();
    let Some(owner) = owner(svc) else {
        return out;
    };
    let address_type = targets::family(svc).address_type();
    let publish = targets::publishes_not_ready(svc);
    let labels = labels(svc);
    let template = Template {
        svc,
        owner: &owner,
        labels: &labels,
        address_type,
    };

    // Desired endpoints grouped by the ports they offer.
    let mut groups: BTreeMap<Vec<ResolvedPort>, BTreeMap<String, Endpoint>> = BTreeMap::new();
    for t in targets {
        let mut ports = t.ports.clone();
        ports.sort();
        let e = endpoint(t, publish);
        groups.entry(ports).or_default().insert(endpoint_key(&e), e);
    }

    // Stored slices this service may reuse, by their ports; the rest go.
    let mut sorted: Vec<&EndpointSlice> = stored.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut reusable: BTreeMap<Vec<ResolvedPort>, Vec<&EndpointSlice>> = BTreeMap::new();
    let mut spare: Vec<&EndpointSlice> = Vec::new();
    for slice in sorted {
        let owned = slice
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == owner.uid);
        if !owned || slice.address_type != address_type {
            out.delete.push(name_of(slice));
            continue;
        }
        match stored_ports(slice) {
            Some(ports) if groups.contains_key(&ports) => {
                reusable.entry(ports).or_default().push(slice)
            }
            _ => spare.push(slice),
        }
    }

    if groups.is_empty() {
        // No endpoints at all: one placeholder slice, reusing a stored one if there is one.
        let mut candidates = spare.into_iter();
        match candidates.next() {
            Some(slice) => template.keep_or_update(slice, Vec::new(), Vec::new(), &mut out),
            None => out.create.push(template.new_slice(Vec::new(), Vec::new())),
        }
        out.delete.extend(candidates.map(name_of));
        return out;
    }
    // Slices of port sets no longer wanted are reused for new slices before any is created.
    let mut spare = spare.into_iter();

    for (ports, mut wanted) in groups {
        let mut slots: Vec<Slot> = reusable
            .remove(&ports)
            .unwrap_or_default()
            .into_iter()
            .map(|slice| {
                // Endpoints still wanted stay where they are, in their new form (taken out
                // of `wanted`, so a pod listed twice stays only in the first slice).
                let endpoints = slice
                    .endpoints
                    .iter()
                    .filter_map(|e| wanted.remove(&endpoint_key(e)))
                    .collect();
                Slot {
                    stored: Some(slice),
                    endpoints,
                }
            })
            .collect();
        // New endpoints fill the room left in stored slices, then new slices.
        let mut fresh = wanted.into_values();
        for slot in &mut slots {
            while slot.endpoints.len() < MAX_ENDPOINTS_PER_SLICE {
                match fresh.next() {
                    Some(e) => slot.endpoints.push(e),
                    None => break,
                }
            }
        }
        let rest: Vec<Endpoint> = fresh.collect();
        for chunk in rest.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slots.push(Slot {
                stored: None,
                endpoints: chunk.to_vec(),
            });
        }
        let slice_ports: Vec<EndpointPort> = ports.iter().map(slice_port).collect();
        for slot in slots {
            match slot.stored {
                Some(slice) if slot.endpoints.is_empty() => out.delete.push(name_of(slice)),
                Some(slice) => {
                    template.keep_or_update(slice, slot.endpoints, slice_ports.clone(), &mut out)
                }
                None => match spare.next() {
                    Some(slice) => template.keep_or_update(
                        slice,
                        slot.endpoints,
                        slice_ports.clone(),
                        &mut out,
                    ),
                    None => out
                        .create
                        .push(template.new_slice(slot.endpoints, slice_ports.clone())),
                },
            }
        }
    }
    out.delete.extend(spare.map(name_of));
    out
}

fn name_of(slice: &EndpointSlice) -> String {
    slice.metadata.name.clone().unwrap_or_default()
}

/// What every slice of the service shares.
struct Template<'a> {
    svc: &'a Service,
    owner: &'a OwnerReference,
    labels: &'a BTreeMap<String, String>,
    address_type: &'static str,
}

impl Template<'_> {
    fn new_slice(&self, mut endpoints: Vec<Endpoint>, ports: Vec<EndpointPort>) -> EndpointSlice {
        sort_endpoints(&mut endpoints);
        let name = self.svc.metadata.name.clone().unwrap_or_default();
        EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}-")),
                namespace: self.svc.metadata.namespace.clone(),
                labels: Some(self.labels.clone()),
                owner_references: Some(vec![self.owner.clone()]),
                ..Default::default()
            },
            address_type: self.address_type.to_string(),
            endpoints,
            ports: (!ports.is_empty()).then_some(ports),
        }
    }

    /// Plan an update of `stored` to hold `endpoints` and `ports`, unless it already does.
    fn keep_or_update(
        &self,
        stored: &EndpointSlice,
        mut endpoints: Vec<Endpoint>,
        ports: Vec<EndpointPort>,
        out: &mut SlicePlan,
    ) {
        sort_endpoints(&mut endpoints);
        let ports = (!ports.is_empty()).then_some(ports);
        let stored_ports = stored.ports.clone().filter(|p| !p.is_empty());
        let owners = Some(vec![self.owner.clone()]);
        let current = stored.metadata.labels.as_ref() == Some(self.labels)
            && stored.metadata.owner_references == owners
            && stored_ports == ports
            && stored.endpoints == endpoints;
        if current {
            return;
        }
        let mut updated = stored.clone();
        updated.metadata.labels = Some(self.labels.clone());
        updated.metadata.owner_references = owners;
        updated.endpoints = endpoints;
        updated.ports = ports;
        out.update.push(updated);
    }
}

#[cfg(test)]
mod tests;
