//! Rows of Service, Endpoints and EndpointSlice (kube's `printService`, `printEndpoints`,
//! `printEndpointSlice`): TYPE, CLUSTER-IP, EXTERNAL-IP by service type, PORT(S) like
//! `80:30080/TCP`, and the first three endpoints (and, for slices, ports).

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::age;
use super::column::{AGE, Column, NAME};
use super::fields::{int, int_opt, items, name, text};
use super::labels::format_labels;

pub(super) const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Type",
        "string",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
    ),
    Column::new(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    Column::new(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    Column::new(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    Column::new(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    )
    .wide(),
];

pub(super) fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    // `spec.type` defaults to ClusterIP in the API.
    let ty = match text(svc, "/spec/type") {
        "" => "ClusterIP",
        ty => ty,
    };
    // kube prints `clusterIPs[0]`; older writers set only `clusterIP`, which conversion copies over.
    let cluster_ip = match items(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
    {
        Some(ip) => ip,
        None => text(svc, "/spec/clusterIP"),
    };
    vec![
        name(svc),
        json!(ty),
        json!(if cluster_ip.is_empty() {
            "<none>"
        } else {
            cluster_ip
        }),
        json!(external_ip(svc, ty)),
        json!(ports(svc)),
        age(svc, now),
        json!(format_labels(svc.pointer("/spec/selector"))),
    ]
}

/// kube's `getServiceExternalIP` (wide form, as the server always renders it).
fn external_ip(svc: &Value, ty: &str) -> String {
    let external_ips: Vec<&str> = items(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match ty {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let mut ips = load_balancer_ingress(svc);
            ips.extend(external_ips.iter().map(|ip| ip.to_string()));
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// The load balancer's ingress points (IP, else hostname), sorted and de-duplicated as kube's
/// string set does.
fn load_balancer_ingress(svc: &Value) -> Vec<String> {
    let mut ingress: Vec<String> = items(svc, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| match text(i, "/ip") {
            "" => text(i, "/hostname"),
            ip => ip,
        })
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    ingress.sort();
    ingress.dedup();
    ingress
}

/// `80/TCP,443:30443/TCP`, or `<none>` for a service without ports.
fn ports(svc: &Value) -> String {
    let pieces: Vec<String> = items(svc, "/spec/ports")
        .iter()
        .map(|p| {
            // `protocol` defaults to TCP in the API.
            let protocol = match text(p, "/protocol") {
                "" => "TCP",
                protocol => protocol,
            };
            match int(p, "/nodePort") {
                node_port if node_port > 0 => format!("{}:{node_port}/{protocol}", int(p, "/port")),
                _ => format!("{}/{protocol}", int(p, "/port")),
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".to_string()
    } else {
        pieces.join(",")
    }
}

pub(super) const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

pub(super) fn endpoints_cells(endpoints: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(endpoints),
        json!(format_endpoints(endpoints)),
        age(endpoints, now),
    ]
}

/// How many endpoints the ENDPOINTS cell lists before summarising the rest.
const MAX_LISTED: usize = 3;

/// kube's `formatEndpoints`: up to three `ip:port` (or bare IPs for port-less subsets), then
/// ` + N more...`; `<none>` without subsets. Only ready addresses are counted.
fn format_endpoints(endpoints: &Value) -> String {
    let subsets = items(endpoints, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut listed: Vec<String> = Vec::new();
    let mut total = 0;
    for subset in subsets {
        let addresses = items(subset, "/addresses");
        // Headless services may have no ports: their addresses are listed as bare IPs.
        let ports: Vec<Option<i64>> = match items(subset, "/ports") {
            [] => vec![None],
            ports => ports.iter().map(|p| Some(int(p, "/port"))).collect(),
        };
        for port in ports {
            for address in addresses {
                total += 1;
                if listed.len() < MAX_LISTED {
                    let ip = text(address, "/ip");
                    listed.push(match port {
                        Some(port) => join_host_port(ip, port),
                        None => ip.to_string(),
                    });
                }
            }
        }
    }
    let joined = listed.join(",");
    if total > MAX_LISTED {
        format!("{joined} + {} more...", total - MAX_LISTED)
    } else {
        joined
    }
}

pub(super) const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
    ),
    Column::new(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.",
    ),
    Column::new(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
    ),
    AGE,
];

pub(super) fn endpoint_slice_cells(slice: &Value, now: Timestamp) -> Vec<Value> {
    let ports: Vec<String> = items(slice, "/ports")
        .iter()
        .map(|p| match int_opt(p, "/port") {
            Some(port) => port.to_string(),
            // A port without a number stands for every port; kube shows its name, else `*`.
            None => match p.pointer("/name").and_then(Value::as_str) {
                Some(name) => name.to_string(),
                None => "*".to_string(),
            },
        })
        .collect();
    let addresses: Vec<String> = items(slice, "/endpoints")
        .iter()
        .flat_map(|e| items(e, "/addresses"))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        name(slice),
        json!(text(slice, "/addressType")),
        json!(first_three(&ports)),
        json!(first_three(&addresses)),
        age(slice, now),
    ]
}

/// kube's `listWithMoreString` over at most [`MAX_LISTED`] entries: `a,b,c + 2 more...`, or
/// `<unset>` for an empty list.
fn first_three(all: &[String]) -> String {
    let shown = all[..all.len().min(MAX_LISTED)].join(",");
    if all.len() > MAX_LISTED {
        format!("{shown} + {} more...", all.len() - MAX_LISTED)
    } else if shown.is_empty() {
        "<unset>".to_string()
    } else {
        shown
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
