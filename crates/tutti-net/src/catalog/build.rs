//! The pure half of the catalog: Services joined with their Endpoints (same namespace and
//! name) into one [`Snapshot`]. No IO, no clock; the watcher calls it after every change.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointSubset, Endpoints, Service};

use super::{
    DEFAULT_AFFINITY_TIMEOUT, Endpoint, Protocol, ServiceEntry, ServiceKey, ServicePort,
    ServiceType, Snapshot,
};

/// Build the snapshot of `services`, each with the endpoints listed by the Endpoints object
/// of the same namespace and name. Endpoints without a Service are ignored; a Service
/// without Endpoints has no endpoints. IPv6 addresses are skipped (the data path is IPv4).
///
/// Accepts plain objects as well as the `Arc`s a reflector store hands out.
pub fn build<S, E>(services: &[S], endpoints: &[E]) -> Snapshot
where
    S: Borrow<Service>,
    E: Borrow<Endpoints>,
{
    let mut by_key: HashMap<ServiceKey, &Endpoints> = HashMap::with_capacity(endpoints.len());
    for eps in endpoints {
        let eps = eps.borrow();
        if let Some(key) = object_key(&eps.metadata) {
            by_key.insert(key, eps);
        }
    }
    let mut out = Snapshot::default();
    for svc in services {
        let svc = svc.borrow();
        let Some(key) = object_key(&svc.metadata) else {
            continue;
        };
        let endpoints = by_key.get(&key).map(|e| flatten(e)).unwrap_or_default();
        let entry = service_entry(key.clone(), svc, endpoints);
        out.services.insert(key, entry);
    }
    out
}

fn object_key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<ServiceKey> {
    let name = meta.name.as_deref().filter(|n| !n.is_empty())?;
    Some(ServiceKey {
        namespace: meta
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string()),
        name: name.to_string(),
    })
}

fn service_entry(key: ServiceKey, svc: &Service, endpoints: Vec<Endpoint>) -> ServiceEntry {
    let spec = svc.spec.clone().unwrap_or_default();
    let service_type = match spec.type_.as_deref() {
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => {
            ServiceType::ExternalName(spec.external_name.clone().unwrap_or_default())
        }
        _ => ServiceType::ClusterIp,
    };
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let cluster_ip = match service_type {
        ServiceType::ExternalName(_) => None,
        _ if headless => None,
        _ => spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
            .filter(|ip| !ip.is_unspecified()),
    };
    let has_node_ports = matches!(
        service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    );
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePort {
                name: p.name.clone().unwrap_or_default(),
                protocol: Protocol::parse(p.protocol.as_deref()),
                port: port_number(p.port)?,
                node_port: if has_node_ports {
                    p.node_port.and_then(port_number)
                } else {
                    None
                },
            })
        })
        .collect();
    let session_affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map_or(DEFAULT_AFFINITY_TIMEOUT, Duration::from_secs)
    });
    let ingress_ips = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref());
    let mut external_ips: Vec<Ipv4Addr> = spec
        .external_ips
        .iter()
        .flatten()
        .map(String::as_str)
        .chain(ingress_ips)
        .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_unspecified())
        .collect();
    external_ips.sort();
    external_ips.dedup();
    ServiceEntry {
        key,
        service_type,
        cluster_ip,
        headless,
        ports,
        session_affinity,
        external_ips,
        endpoints,
    }
}

fn port_number(p: i32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p > 0)
}

/// One [`Endpoint`] per (address, readiness), sorted by IP with the ready entry first. An
/// address listed in several subsets gets the ports of all of them.
fn flatten(eps: &Endpoints) -> Vec<Endpoint> {
    let mut by_addr: BTreeMap<(Ipv4Addr, bool), Endpoint> = BTreeMap::new();
    for subset in eps.subsets.iter().flatten() {
        let ports = subset_ports(subset);
        let lists = [
            (subset.addresses.as_deref(), true),
            (subset.not_ready_addresses.as_deref(), false),
        ];
        for (addresses, ready) in lists {
            for address in addresses.into_iter().flatten() {
                let Ok(ip) = address.ip.parse::<Ipv4Addr>() else {
                    continue;
                };
                // `!ready` in the key sorts the ready entry of an address first.
                let entry = by_addr
                    .entry((ip, !ready))
                    .or_insert_with(|| endpoint(ip, ready, address));
                entry.ports.extend(ports.iter().cloned());
            }
        }
    }
    by_addr.into_values().collect()
}

fn subset_ports(subset: &EndpointSubset) -> Vec<((String, Protocol), u16)> {
    subset
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let key = (
                p.name.clone().unwrap_or_default(),
                Protocol::parse(p.protocol.as_deref()),
            );
            Some((key, port_number(p.port)?))
        })
        .collect()
}

fn endpoint(ip: Ipv4Addr, ready: bool, address: &EndpointAddress) -> Endpoint {
    let pod = address
        .target_ref
        .as_ref()
        .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Pod"))
        .and_then(|r| r.name.clone());
    Endpoint {
        ip,
        ready,
        hostname: address.hostname.clone().filter(|h| !h.is_empty()),
        node_name: address.node_name.clone().filter(|n| !n.is_empty()),
        pod,
        ports: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests;
