//! Which pods back a Service, and how: the pod's address in the service's IP family, its node,
//! its DNS hostname, its readiness, whether it is terminating, and the service ports it offers
//! with each `targetPort` resolved against the pod's own container ports. Pure: the Endpoints
//! and EndpointSlice writers ([`super::subsets`], [`super::slices`]) start from these.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::pods;

/// One service port as a particular pod offers it: the service port's name, protocol and
/// appProtocol, with the pod's port number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResolvedPort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

/// A pod that is an endpoint of a service, before the Endpoints or EndpointSlice view of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The pod's address in the service's IP family.
    pub ip: String,
    pub node_name: Option<String>,
    /// `spec.hostname`, when the pod's `spec.subdomain` names this service.
    pub hostname: Option<String>,
    /// `{kind: Pod, namespace, name, uid}`.
    pub pod: ObjectReference,
    /// The pod's Ready condition is True.
    pub serving: bool,
    /// The pod has a deletionTimestamp.
    pub terminating: bool,
    /// The service's ports this pod offers, in the service's order; ports whose named
    /// `targetPort` the pod does not declare are missing.
    pub ports: Vec<ResolvedPort>,
}

/// The IP family a service's endpoints use: its first `ipFamilies` entry, IPv4 by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The EndpointSlice `addressType` of this family.
    pub fn address_type(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    fn holds(self, ip: &str) -> bool {
        match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => self == Family::V4,
            Ok(IpAddr::V6(_)) => self == Family::V6,
            Err(_) => false,
        }
    }
}

/// The service's IP family.
pub fn family(svc: &Service) -> Family {
    let first = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first());
    match first.map(String::as_str) {
        Some("IPv6") => Family::V6,
        _ => Family::V4,
    }
}

/// The service's `spec.selector`, or `None` when it has none (or an empty one): such a
/// service's endpoints are written by hand, never by the controller.
pub fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Whether the controller maintains this service's endpoints: it has a selector and is not
/// an ExternalName service.
pub fn is_managed(svc: &Service) -> bool {
    selector(svc).is_some() && !is_external_name(svc)
}

pub fn is_external_name(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName")
}

/// A headless service (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// `spec.publishNotReadyAddresses`: every pod with an address counts as ready.
pub fn publishes_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// Whether the service's selector matches a pod with these labels (the pod must also be in
/// the service's namespace).
pub fn selects(svc: &Service, labels: &BTreeMap<String, String>) -> bool {
    selector(svc).is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The pods among `pods` that are endpoints of `svc`, sorted by address then name: in the
/// service's namespace, selected by it, not finished (Succeeded/Failed), and with an address
/// in the service's family. Terminating pods are included (marked); the Endpoints view drops
/// them, the EndpointSlice view shows them as terminating.
pub fn targets(svc: &Service, pods: &[Pod]) -> Vec<Target> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let family = family(svc);
    let mut out: Vec<Target> = pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("") == ns)
        .filter(|p| selects(svc, p.metadata.labels.as_ref().unwrap_or(&BTreeMap::new())))
        .filter(|p| !matches!(pods::phase(p), "Succeeded" | "Failed"))
        .filter_map(|p| target(svc, p, family))
        .collect();
    out.sort_by(|a, b| (&a.ip, &a.pod.name).cmp(&(&b.ip, &b.pod.name)));
    out
}

fn target(svc: &Service, pod: &Pod, family: Family) -> Option<Target> {
    let ip = pod_ip(pod, family)?;
    let spec = pod.spec.as_ref();
    let svc_name = svc.metadata.name.as_deref().unwrap_or("");
    let hostname = spec
        .filter(|s| s.subdomain.as_deref() == Some(svc_name))
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|sp| {
            resolve_port(sp, pod).map(|port| ResolvedPort {
                name: sp.name.clone().unwrap_or_default(),
                port,
                protocol: protocol(sp.protocol.as_deref()).to_string(),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect();
    Some(Target {
        ip,
        node_name: spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        hostname,
        pod: ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        serving: pods::is_ready(pod),
        terminating: pods::is_terminating(&pod.metadata),
        ports,
    })
}

/// The pod's first address in `family` (`status.podIPs`, else `status.podIP`).
fn pod_ip(pod: &Pod, family: Family) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .find(|ip| family.holds(ip))
        .map(str::to_string)
}

fn protocol(p: Option<&str>) -> &str {
    match p {
        None | Some("") => "TCP",
        Some(p) => p,
    }
}

/// The port number `svc_port` reaches on `pod`: a numeric `targetPort` as it is (an absent or
/// zero one means the service port), a named one looked up among the pod's container ports
/// (and its sidecars', restartable init containers) with the same protocol. `None` when the
/// pod declares no such port.
pub fn resolve_port(svc_port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &svc_port.target_port {
        None => Some(svc_port.port),
        Some(IntOrString::Int(0)) => Some(svc_port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) if name.is_empty() => Some(svc_port.port),
        Some(IntOrString::String(name)) => {
            let wanted = protocol(svc_port.protocol.as_deref());
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && protocol(p.protocol.as_deref()) == wanted
                })
                .map(|p| p.container_port)
        }
    }
}
