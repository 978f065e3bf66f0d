//! Service, Endpoints and EndpointSlice validation: ports (numbers, names, protocols, target
//! ports, node ports), type and session affinity, cluster IPs and IP families, selectors, and
//! the addresses of endpoints.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort as SlicePort, EndpointSlice};
use serde_json::Value;

use super::container::{validate_port_num_or_name, validate_protocol};
use super::meta::{NameRule, Scope, validate_labels, validate_object_meta};
use super::path::{Path, q};
use crate::error::{FieldError, FieldErrorReason};
use crate::names;

/// The default NodePort range.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

pub(super) fn validate_service(svc: &Service) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&svc.metadata, Scope::Namespaced, NameRule::Rfc1035);
    let spec = svc.spec.clone().unwrap_or_default();
    errs.extend(validate_service_spec(&spec, &Path::new("spec")));
    errs
}

fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ip.as_deref() == Some("None")
        || spec
            .cluster_ips
            .as_ref()
            .and_then(|ips| ips.first())
            .map(String::as_str)
            == Some("None")
}

fn validate_service_spec(spec: &ServiceSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let svc_type = spec.type_.as_deref().unwrap_or("");
    let headless = is_headless(spec);
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required(path.child("ports")));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            path.child("clusterIPs").index(0),
            q("None"),
            format!("may not be set to 'None' for {svc_type} services"),
        )),
        "ExternalName" => {
            if spec.cluster_ips.as_ref().is_some_and(|ips| !ips.is_empty())
                || spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            {
                errs.push(FieldError::forbidden(
                    path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let cname = spec
                .external_name
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('.');
            if cname.is_empty() {
                errs.push(FieldError::required(path.child("externalName")));
            } else {
                errs.extend(
                    names::is_dns1123_subdomain(cname)
                        .into_iter()
                        .map(|m| FieldError::invalid(path.child("externalName"), q(cname), m)),
                );
            }
        }
        _ => {}
    }
    errs.extend(validate_service_ports(
        ports,
        svc_type,
        &path.child("ports"),
    ));
    errs.extend(validate_labels(
        spec.selector.as_ref(),
        &path.child("selector"),
    ));
    match spec.session_affinity.as_deref().unwrap_or("") {
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            match timeout {
                None => errs.push(FieldError::required(path.children(&[
                    "sessionAffinityConfig",
                    "clientIP",
                    "timeoutSeconds",
                ]))),
                Some(t) if !(1..=86400).contains(&t) => errs.push(FieldError::invalid(
                    path.children(&["sessionAffinityConfig", "clientIP", "timeoutSeconds"]),
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                Some(_) => {}
            }
        }
        "" => errs.push(FieldError::required(path.child("sessionAffinity"))),
        other => errs.push(FieldError::not_supported(
            path.child("sessionAffinity"),
            q(other),
            &["ClientIP", "None"],
        )),
    }
    if svc_type != "ExternalName" {
        errs.extend(validate_cluster_ips(spec, path));
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        errs.extend(
            names::is_valid_ip(ip)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("externalIPs").index(i), q(ip), m)),
        );
    }
    match svc_type {
        "" => errs.push(FieldError::required(path.child("type"))),
        t if !SERVICE_TYPES.contains(&t) => errs.push(FieldError::not_supported(
            path.child("type"),
            q(t),
            SERVICE_TYPES,
        )),
        _ => {}
    }
    let externally_accessible = svc_type == "NodePort"
        || svc_type == "LoadBalancer"
        || (svc_type == "ClusterIP"
            && spec
                .external_ips
                .as_ref()
                .is_some_and(|ips| !ips.is_empty()));
    if let Some(policy) = spec
        .external_traffic_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !externally_accessible {
            errs.push(FieldError::invalid(
                path.child("externalTrafficPolicy"),
                q(policy),
                "may only be set for externally-accessible services",
            ));
        } else if policy != "Cluster" && policy != "Local" {
            errs.push(FieldError::not_supported(
                path.child("externalTrafficPolicy"),
                q(policy),
                &["Cluster", "Local"],
            ));
        }
    }
    if let Some(policy) = spec.internal_traffic_policy.as_deref()
        && policy != "Cluster"
        && policy != "Local"
    {
        errs.push(FieldError::not_supported(
            path.child("internalTrafficPolicy"),
            q(policy),
            &["Cluster", "Local"],
        ));
    }
    errs
}

fn validate_service_ports(ports: &[ServicePort], svc_type: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let require_name = ports.len() > 1;
    let mut names_seen = BTreeSet::new();
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = port.name.as_deref().unwrap_or("");
        if name.is_empty() {
            if require_name {
                errs.push(FieldError::required(p.child("name")));
            }
        } else {
            errs.extend(
                names::is_dns1123_label(name)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("name"), q(name), m)),
            );
            if !names_seen.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), q(name)));
            }
        }
        for msg in names::is_valid_port_num(i64::from(port.port)) {
            errs.push(FieldError::invalid(p.child("port"), port.port, msg));
        }
        errs.extend(validate_protocol(
            port.protocol.as_deref(),
            &p.child("protocol"),
        ));
        if let Some(target) = &port.target_port {
            errs.extend(validate_port_num_or_name(target, &p.child("targetPort")));
        }
        if let Some(app_protocol) = port.app_protocol.as_deref() {
            errs.extend(
                names::is_qualified_name(app_protocol)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("appProtocol"), q(app_protocol), m)),
            );
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if let Some(node_port) = port.node_port.filter(|n| *n != 0) {
            let np = p.child("nodePort");
            if svc_type == "ClusterIP" {
                errs.push(FieldError::forbidden(
                    &np,
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if svc_type == "ExternalName" {
                errs.push(FieldError::forbidden(
                    &np,
                    "may not be used when `type` is 'ExternalName'",
                ));
            } else if !NODE_PORT_RANGE.contains(&node_port) {
                errs.push(FieldError::invalid(
                    &np,
                    node_port,
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        NODE_PORT_RANGE.start(),
                        NODE_PORT_RANGE.end()
                    ),
                ));
            }
            if !node_ports.insert((protocol, node_port)) {
                errs.push(FieldError::duplicate(&np, node_port));
            }
        }
        if !port_keys.insert((protocol, port.port)) {
            errs.push(FieldError::duplicate(
                &p,
                format!("{{\"port\":{},\"protocol\":{}}}", port.port, q(protocol)),
            ));
        }
    }
    errs
}

fn validate_cluster_ips(spec: &ServiceSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    if !cluster_ip.is_empty() && !ips.is_empty() && ips[0] != cluster_ip {
        errs.push(FieldError::invalid(
            path.child("clusterIPs"),
            format!(
                "[]string{{{}}}",
                ips.iter().map(|ip| q(ip)).collect::<Vec<_>>().join(", ")
            ),
            "first value must match `clusterIP`",
        ));
    }
    let checked: Vec<(Path, &str)> = if ips.is_empty() {
        if cluster_ip.is_empty() {
            Vec::new()
        } else {
            vec![(path.child("clusterIP"), cluster_ip)]
        }
    } else {
        ips.iter()
            .enumerate()
            .map(|(i, ip)| (path.child("clusterIPs").index(i), ip.as_str()))
            .collect()
    };
    let families = spec.ip_families.clone().unwrap_or_default();
    for (i, (p, ip)) in checked.iter().enumerate() {
        if *ip == "None" {
            if i > 0 || checked.len() > 1 {
                errs.push(FieldError::invalid(
                    p,
                    q(ip),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        match ip.parse::<IpAddr>() {
            Err(_) => errs.extend(
                names::is_valid_ip(ip)
                    .into_iter()
                    .map(|m| FieldError::invalid(p, q(ip), m)),
            ),
            Ok(addr) => {
                let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                if let Some(expected) = families.get(i)
                    && expected != family
                {
                    errs.push(FieldError::invalid(
                        p,
                        q(ip),
                        format!("expected an {expected} value as indicated by `ipFamilies[{i}]`"),
                    ));
                }
            }
        }
    }
    for (i, family) in families.iter().enumerate() {
        if family != "IPv4" && family != "IPv6" {
            errs.push(FieldError::not_supported(
                path.child("ipFamilies").index(i),
                q(family),
                &["IPv4", "IPv6"],
            ));
        }
    }
    if families.len() > 2 {
        errs.push(FieldError::invalid(
            path.child("ipFamilies"),
            families.len(),
            "may specify no more than two IP families",
        ));
    }
    if let Some(policy) = spec.ip_family_policy.as_deref()
        && !matches!(
            policy,
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        errs.push(FieldError::not_supported(
            path.child("ipFamilyPolicy"),
            q(policy),
            &["SingleStack", "PreferDualStack", "RequireDualStack"],
        ));
    }
    errs
}

pub(super) fn validate_endpoints(ep: &Endpoints) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ep.metadata, Scope::Namespaced, NameRule::Subdomain);
    for (i, subset) in ep.subsets.iter().flatten().enumerate() {
        let p = Path::new("subsets").index(i);
        let ready = subset.addresses.as_deref().unwrap_or_default();
        let not_ready = subset.not_ready_addresses.as_deref().unwrap_or_default();
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(
                FieldError::required(&p)
                    .with_message("must specify `addresses` or `notReadyAddresses`"),
            );
        }
        for (field, addresses) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (j, address) in addresses.iter().enumerate() {
                let ap = p.child(field).index(j);
                errs.extend(
                    names::is_valid_ip(&address.ip)
                        .into_iter()
                        .map(|m| FieldError::invalid(ap.child("ip"), q(&address.ip), m)),
                );
                if let Some(host) = address.hostname.as_deref().filter(|h| !h.is_empty()) {
                    errs.extend(
                        names::is_dns1123_label(host)
                            .into_iter()
                            .map(|m| FieldError::invalid(ap.child("hostname"), q(host), m)),
                    );
                }
                if let Some(node) = address.node_name.as_deref().filter(|n| !n.is_empty()) {
                    errs.extend(
                        names::is_dns1123_subdomain(node)
                            .into_iter()
                            .map(|m| FieldError::invalid(ap.child("nodeName"), q(node), m)),
                    );
                }
            }
        }
        // A headless service's subsets may have no ports: only the addresses are required.
        let ports = subset.ports.as_deref().unwrap_or_default();
        for (j, port) in ports.iter().enumerate() {
            let pp = p.child("ports").index(j);
            let name = port.name.as_deref().unwrap_or("");
            if name.is_empty() {
                if ports.len() > 1 {
                    errs.push(FieldError::required(pp.child("name")));
                }
            } else {
                errs.extend(
                    names::is_dns1123_label(name)
                        .into_iter()
                        .map(|m| FieldError::invalid(pp.child("name"), q(name), m)),
                );
            }
            for msg in names::is_valid_port_num(i64::from(port.port)) {
                errs.push(FieldError::invalid(pp.child("port"), port.port, msg));
            }
            errs.extend(validate_protocol(
                port.protocol.as_deref(),
                &pp.child("protocol"),
            ));
        }
    }
    errs
}

/// The address types an EndpointSlice may carry.
const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
/// Most endpoints one slice may hold.
const MAX_SLICE_ENDPOINTS: usize = 1000;
/// Most addresses one endpoint may list.
const MAX_ENDPOINT_ADDRESSES: usize = 100;
/// Most ports one slice may list.
const MAX_SLICE_PORTS: usize = 100;

/// Kubernetes' `field.TooMany`: `Too many: 1001: must have at most 1000 items`.
fn too_many(path: &Path, actual: usize, max: usize) -> FieldError {
    FieldError {
        field: path.into(),
        reason: FieldErrorReason::TooMany,
        message: format!("Too many: {actual}: must have at most {max} items"),
    }
}

/// `discovery.k8s.io/v1` EndpointSlice: the address type, each endpoint's addresses (in the
/// slice's family), node name and hostname, and the ports (unique names, protocols).
pub(super) fn validate_endpoint_slice(slice: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&slice.metadata, Scope::Namespaced, NameRule::Subdomain);
    let address_type = slice.address_type.as_str();
    match address_type {
        "" => errs.push(FieldError::required("addressType")),
        t if !ADDRESS_TYPES.contains(&t) => errs.push(FieldError::not_supported(
            "addressType",
            q(t),
            ADDRESS_TYPES,
        )),
        _ => {}
    }
    let path = Path::new("endpoints");
    if slice.endpoints.len() > MAX_SLICE_ENDPOINTS {
        errs.push(too_many(&path, slice.endpoints.len(), MAX_SLICE_ENDPOINTS));
    } else {
        for (i, endpoint) in slice.endpoints.iter().enumerate() {
            errs.extend(validate_slice_endpoint(
                endpoint,
                address_type,
                &path.index(i),
            ));
        }
    }
    errs.extend(validate_slice_ports(
        slice.ports.as_deref().unwrap_or_default(),
        &Path::new("ports"),
    ));
    errs
}

fn validate_slice_endpoint(
    endpoint: &Endpoint,
    address_type: &str,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ap = path.child("addresses");
    match endpoint.addresses.len() {
        0 => errs.push(FieldError::required(&ap).with_message("must contain at least 1 address")),
        n if n > MAX_ENDPOINT_ADDRESSES => errs.push(too_many(&ap, n, MAX_ENDPOINT_ADDRESSES)),
        _ => {}
    }
    for (j, address) in endpoint.addresses.iter().enumerate() {
        if let Some(msg) = address_error(address_type, address) {
            errs.push(FieldError::invalid(ap.index(j), q(address), msg));
        }
    }
    if let Some(node) = endpoint.node_name.as_deref() {
        errs.extend(
            names::is_dns1123_subdomain(node)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("nodeName"), q(node), m)),
        );
    }
    if let Some(host) = endpoint.hostname.as_deref() {
        errs.extend(
            names::is_dns1123_label(host)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("hostname"), q(host), m)),
        );
    }
    errs
}

/// Why `address` is not an address of `address_type`; unknown types are not checked here
/// (the type itself is reported).
fn address_error(address_type: &str, address: &str) -> Option<String> {
    match address_type {
        "IPv4" if address.parse::<Ipv4Addr>().is_err() => {
            Some("must be a valid IPv4 address".to_string())
        }
        "IPv6" if address.parse::<Ipv6Addr>().is_err() => {
            Some("must be a valid IPv6 address".to_string())
        }
        "FQDN" => {
            let mut msgs = names::is_dns1123_subdomain(address);
            if msgs.is_empty() && !address.contains('.') {
                msgs.push("should be a domain with at least two segments separated by dots".into());
            }
            (!msgs.is_empty()).then(|| msgs.join(", "))
        }
        _ => None,
    }
}

fn validate_slice_ports(ports: &[SlicePort], path: &Path) -> Vec<FieldError> {
    if ports.len() > MAX_SLICE_PORTS {
        return vec![too_many(path, ports.len(), MAX_SLICE_PORTS)];
    }
    let mut errs = Vec::new();
    let mut names_seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            errs.extend(
                names::is_dns1123_label(name)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("name"), q(name), m)),
            );
        }
        if !names_seen.insert(name) {
            errs.push(FieldError::duplicate(p.child("name"), q(name)));
        }
        // A port without a number means "all ports"; a number must be a real port.
        if let Some(number) = port.port {
            for msg in names::is_valid_port_num(i64::from(number)) {
                errs.push(FieldError::invalid(p.child("port"), number, msg));
            }
        }
        errs.extend(validate_protocol(
            port.protocol.as_deref(),
            &p.child("protocol"),
        ));
        if let Some(app_protocol) = port.app_protocol.as_deref() {
            errs.extend(
                names::is_qualified_name(app_protocol)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("appProtocol"), q(app_protocol), m)),
            );
        }
    }
    errs
}

/// An EndpointSlice's address type is fixed once it exists.
pub(super) fn validate_endpoint_slice_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let at = |v: &Value| {
        v.get("addressType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (before, after) = (at(old), at(new));
    if before == after {
        return Vec::new();
    }
    vec![FieldError::invalid(
        "addressType",
        q(&after),
        "field is immutable",
    )]
}

#[cfg(test)]
mod tests;
