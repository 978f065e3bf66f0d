//! Host ports: which (protocol, host IP, port) triples a pod takes on its node, and when two of
//! them collide (as Kubernetes' `HostPortInfo`: `0.0.0.0` collides with every address).

use k8s_openapi::api::core::v1::PodSpec;

/// The wildcard host address.
pub const ANY_IP: &str = "0.0.0.0";

/// One host port taken by a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Whether the two cannot be bound on one node at the same time.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }
}

/// The host ports of a pod's containers (init containers included); `hostNetwork` pods take
/// their container ports. Protocol defaults to TCP, address to `0.0.0.0`.
pub fn host_ports(spec: &PodSpec) -> Vec<HostPort> {
    let host_network = spec.host_network == Some(true);
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut out: Vec<HostPort> = Vec::new();
    for port in containers.flat_map(|c| c.ports.iter().flatten()) {
        let number = match port.host_port {
            Some(p) if p > 0 => p,
            _ if host_network && port.container_port > 0 => port.container_port,
            _ => continue,
        };
        let hp = HostPort {
            protocol: port
                .protocol
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "TCP".into()),
            ip: port
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| ANY_IP.into()),
            port: number,
        };
        if !out.contains(&hp) {
            out.push(hp);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort};

    fn hp(protocol: &str, ip: &str, port: i32) -> HostPort {
        HostPort {
            protocol: protocol.into(),
            ip: ip.into(),
            port,
        }
    }

    #[test]
    fn wildcard_collides_with_any_address_but_protocols_are_separate() {
        assert!(hp("TCP", ANY_IP, 80).conflicts(&hp("TCP", "10.0.0.1", 80)));
        assert!(hp("TCP", "10.0.0.1", 80).conflicts(&hp("TCP", "10.0.0.1", 80)));
        assert!(!hp("TCP", "10.0.0.1", 80).conflicts(&hp("TCP", "10.0.0.2", 80)));
        assert!(!hp("TCP", ANY_IP, 80).conflicts(&hp("UDP", ANY_IP, 80)));
        assert!(!hp("TCP", ANY_IP, 80).conflicts(&hp("TCP", ANY_IP, 81)));
    }

    #[test]
    fn only_ports_with_a_host_port_count_unless_host_network() {
        let container = Container {
            name: "c".into(),
            ports: Some(vec![
                ContainerPort {
                    container_port: 8080,
                    host_port: Some(80),
                    ..Default::default()
                },
                ContainerPort {
                    container_port: 9090,
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let mut spec = PodSpec {
            containers: vec![container],
            ..Default::default()
        };
        assert_eq!(host_ports(&spec), vec![hp("TCP", ANY_IP, 80)]);
        spec.host_network = Some(true);
        assert_eq!(
            host_ports(&spec),
            vec![hp("TCP", ANY_IP, 80), hp("TCP", ANY_IP, 9090)]
        );
    }
}
