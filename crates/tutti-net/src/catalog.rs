//! The cluster's services as the data path and DNS see them: one immutable [`Snapshot`],
//! rebuilt from the watched Services and Endpoints on every change.

mod build;
pub mod watch;

pub use build::build;
pub use watch::{Catalog, CatalogFeed};

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// A service's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

/// L4 protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// `TCP`, `UDP`, `SCTP` as in the API; anything else (and absent) is TCP.
    pub fn parse(s: Option<&str>) -> Protocol {
        match s {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// `spec.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIp,
    NodePort,
    LoadBalancer,
    /// A DNS alias (CNAME) to this name; no data path.
    ExternalName(String),
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Empty for a single unnamed port.
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Set for NodePort and LoadBalancer services.
    pub node_port: Option<u16>,
}

/// One endpoint address of a service (from Endpoints `addresses`/`notReadyAddresses`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    /// From `addresses` (true) or `notReadyAddresses` (false). Traffic goes only to ready
    /// endpoints (a service with `publishNotReadyAddresses` lists its unready pods under
    /// `addresses`, so they count as ready here).
    pub ready: bool,
    /// `hostname` of the address (pods with `spec.hostname` + `spec.subdomain`).
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    /// The pod behind the address, if any (`targetRef.name`).
    pub pod: Option<String>,
    /// Target port per service port name (`""` for an unnamed port) and protocol: where to
    /// connect on this endpoint for that service port.
    pub ports: BTreeMap<(String, Protocol), u16>,
}

/// One service with its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub key: ServiceKey,
    pub service_type: ServiceType,
    /// `spec.clusterIP`; None for headless services (`None`), ExternalName and unset.
    pub cluster_ip: Option<Ipv4Addr>,
    /// `spec.clusterIP: None`.
    pub headless: bool,
    pub ports: Vec<ServicePort>,
    /// `sessionAffinity: ClientIP` with its timeout (default 10,800 s); None otherwise.
    pub session_affinity: Option<Duration>,
    /// `spec.externalIPs` and `status.loadBalancer.ingress[].ip`: more addresses the
    /// service's ports answer on.
    pub external_ips: Vec<Ipv4Addr>,
    /// Sorted by IP, ready and not ready alike.
    pub endpoints: Vec<Endpoint>,
}

impl ServiceEntry {
    /// The ready endpoints: where new connections may go.
    pub fn ready(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.ready)
    }
}

/// Every service of the cluster at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// How long the session-affinity stickiness lasts when `timeoutSeconds` is unset.
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10_800);
