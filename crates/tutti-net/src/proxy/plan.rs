//! Which sockets the proxy should have open for a snapshot: a pure function from
//! [`Snapshot`] and the node's addresses to a table of listen address → service port.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::catalog::{Protocol, ServiceKey, ServiceType, Snapshot};

/// One socket: address, port and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListenKey {
    pub addr: SocketAddrV4,
    pub protocol: Protocol,
}

/// The service port a socket serves. Every socket of the same service port (cluster IP,
/// external IPs, node ports) shares one balancer and one set of counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frontend {
    pub service: ServiceKey,
    /// `""` for a single unnamed port.
    pub port_name: String,
    pub protocol: Protocol,
}

/// Why a socket exists; decides how loudly a failure to open it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// `spec.clusterIP:port`: the node agent makes the address local, so failing to bind it
    /// is a real problem.
    ClusterIp,
    /// `spec.externalIPs` / load-balancer ingress: often an address of another node, so
    /// failing to bind it is expected.
    ExternalIp,
    /// `<node address>:nodePort`.
    NodePort,
}

/// A socket the plan wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub frontend: Frontend,
    pub origin: Origin,
}

/// The whole table, and what could not be placed in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub listeners: BTreeMap<ListenKey, Planned>,
    /// Sockets claimed by more than one service port: the first in service order keeps
    /// it, these lose.
    pub conflicts: Vec<(ListenKey, Frontend)>,
    /// Ports the proxy cannot carry (SCTP).
    pub unsupported: Vec<Frontend>,
}

/// The sockets for `snapshot`.
///
/// - Headless and ExternalName services have no data path.
/// - Each port of a service with a cluster IP listens on `cluster_ip:port` unless the
///   cluster IP is in `skip_ips`, and on `external_ip:port` for each external address not
///   in `skip_ips`.
/// - Each port with a node port listens on `node_ip:node_port` for every `node_ips` entry;
///   `0.0.0.0` among them stands for all addresses and replaces the others.
pub fn plan(snapshot: &Snapshot, node_ips: &[Ipv4Addr], skip_ips: &[Ipv4Addr]) -> Plan {
    let node_ips: Vec<Ipv4Addr> = if node_ips.iter().any(|ip| ip.is_unspecified()) {
        vec![Ipv4Addr::UNSPECIFIED]
    } else {
        let mut ips = node_ips.to_vec();
        ips.sort();
        ips.dedup();
        ips
    };
    let mut out = Plan::default();
    for entry in snapshot.services.values() {
        if entry.headless || matches!(entry.service_type, ServiceType::ExternalName(_)) {
            continue;
        }
        let service_ips: Vec<(Ipv4Addr, Origin)> = entry
            .cluster_ip
            .map(|ip| (ip, Origin::ClusterIp))
            .into_iter()
            .chain(
                entry
                    .external_ips
                    .iter()
                    .map(|ip| (*ip, Origin::ExternalIp)),
            )
            .filter(|(ip, _)| !ip.is_unspecified() && !skip_ips.contains(ip))
            .collect();
        for port in &entry.ports {
            let frontend = Frontend {
                service: entry.key.clone(),
                port_name: port.name.clone(),
                protocol: port.protocol,
            };
            if port.protocol == Protocol::Sctp {
                out.unsupported.push(frontend);
                continue;
            }
            let node_sockets = port
                .node_port
                .into_iter()
                .flat_map(|np| node_ips.iter().map(move |ip| (*ip, np, Origin::NodePort)));
            let sockets = service_ips
                .iter()
                .map(|(ip, origin)| (*ip, port.port, *origin))
                .chain(node_sockets);
            for (ip, number, origin) in sockets {
                let key = ListenKey {
                    addr: SocketAddrV4::new(ip, number),
                    protocol: port.protocol,
                };
                match out.listeners.get(&key) {
                    Some(taken) if taken.frontend != frontend => {
                        out.conflicts.push((key, frontend.clone()));
                    }
                    Some(_) => {}
                    None => {
                        out.listeners.insert(
                            key,
                            Planned {
                                frontend: frontend.clone(),
                                origin,
                            },
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::{ServiceEntry, ServicePort};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn svc(name: &str, service_type: ServiceType, cluster_ip: Option<&str>) -> ServiceEntry {
        ServiceEntry {
            key: ServiceKey {
                namespace: "default".into(),
                name: name.into(),
            },
            service_type,
            cluster_ip: cluster_ip.map(ip),
            headless: false,
            ports: vec![ServicePort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 80,
                node_port: None,
            }],
            session_affinity: None,
            external_ips: vec![],
            endpoints: vec![],
        }
    }

    fn snapshot(entries: Vec<ServiceEntry>) -> Snapshot {
        Snapshot {
            services: entries.into_iter().map(|e| (e.key.clone(), e)).collect(),
        }
    }

    fn sockets(p: &Plan) -> BTreeMap<String, (String, Origin)> {
        p.listeners
            .iter()
            .map(|(k, v)| {
                (
                    format!("{}/{}", k.addr, k.protocol.as_str()),
                    (v.frontend.service.name.clone(), v.origin),
                )
            })
            .collect()
    }

    #[test]
    fn cluster_external_and_node_sockets() {
        let mut web = svc("web", ServiceType::NodePort, Some("10.96.0.5"));
        web.external_ips = vec![ip("192.0.2.7")];
        web.ports[0].node_port = Some(30080);
        web.ports.push(ServicePort {
            name: "dns".into(),
            protocol: Protocol::Udp,
            port: 53,
            node_port: None,
        });
        let p = plan(
            &snapshot(vec![web]),
            &[ip("172.16.0.2"), ip("172.16.0.3")],
            &[],
        );
        let got = sockets(&p);
        let want: Vec<(&str, Origin)> = vec![
            ("10.96.0.5:53/UDP", Origin::ClusterIp),
            ("10.96.0.5:80/TCP", Origin::ClusterIp),
            ("172.16.0.2:30080/TCP", Origin::NodePort),
            ("172.16.0.3:30080/TCP", Origin::NodePort),
            ("192.0.2.7:53/UDP", Origin::ExternalIp),
            ("192.0.2.7:80/TCP", Origin::ExternalIp),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (sock, origin) in want {
            assert_eq!(got.get(sock), Some(&("web".to_string(), origin)), "{sock}");
        }
        assert!(p.conflicts.is_empty());
    }

    #[test]
    fn wildcard_node_address_replaces_the_others() {
        let mut web = svc("web", ServiceType::LoadBalancer, Some("10.96.0.5"));
        web.ports[0].node_port = Some(30080);
        let p = plan(
            &snapshot(vec![web]),
            &[ip("172.16.0.2"), Ipv4Addr::UNSPECIFIED],
            &[],
        );
        let got = sockets(&p);
        assert!(got.contains_key("0.0.0.0:30080/TCP"), "{got:?}");
        assert!(!got.contains_key("172.16.0.2:30080/TCP"), "{got:?}");
    }

    #[test]
    fn no_data_path_for_headless_external_name_skipped_or_sctp() {
        let mut headless = svc("headless", ServiceType::ClusterIp, None);
        headless.headless = true;
        let alias = svc(
            "alias",
            ServiceType::ExternalName("example.com".into()),
            None,
        );
        let dns = svc("kube-dns", ServiceType::ClusterIp, Some("10.96.0.10"));
        let mut sctp = svc("sctp", ServiceType::ClusterIp, Some("10.96.0.11"));
        sctp.ports[0].protocol = Protocol::Sctp;
        let unset = svc("pending", ServiceType::ClusterIp, None);
        let p = plan(
            &snapshot(vec![headless, alias, dns, sctp, unset]),
            &[Ipv4Addr::UNSPECIFIED],
            &[ip("10.96.0.10")],
        );
        assert!(p.listeners.is_empty(), "{:?}", sockets(&p));
        assert_eq!(p.unsupported.len(), 1);
        assert_eq!(p.unsupported[0].service.name, "sctp");
    }

    #[test]
    fn a_socket_claimed_twice_goes_to_the_first_service() {
        let mut a = svc("a", ServiceType::ClusterIp, Some("10.96.0.5"));
        a.external_ips = vec![ip("192.0.2.7")];
        let mut b = svc("b", ServiceType::ClusterIp, Some("10.96.0.6"));
        b.external_ips = vec![ip("192.0.2.7")];
        let p = plan(&snapshot(vec![b, a]), &[], &[]);
        let got = sockets(&p);
        assert_eq!(got.get("192.0.2.7:80/TCP").map(|v| v.0.as_str()), Some("a"));
        assert_eq!(p.conflicts.len(), 1);
        assert_eq!(p.conflicts[0].1.service.name, "b");
    }
}
