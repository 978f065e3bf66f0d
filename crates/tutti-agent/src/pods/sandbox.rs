//! The pod sandbox a driver creates first: hostname, host network, published host ports
//! and resolv.conf (dnsPolicy + dnsConfig over the cluster DNS or the host's resolv.conf).

use k8s_openapi::api::core::v1::Pod;
use tutti_runtime::{PortMapping, SandboxSpec};

/// What resolv.conf holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolv {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Parse resolv.conf. Loopback nameservers are dropped: they do not answer inside a
/// pod's own network namespace (docker does the same).
pub fn parse_resolv_conf(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(s) = words.next().filter(|s| !is_loopback(s)) {
                    r.servers.push(s.to_string());
                }
            }
            Some("search") | Some("domain") => r.search = words.map(str::to_string).collect(),
            Some("options") => r.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    r
}

fn is_loopback(server: &str) -> bool {
    server.starts_with("127.") || server == "::1"
}

/// The pod's resolv.conf from its dnsPolicy and dnsConfig.
pub fn pod_dns(pod: &Pod, cluster_dns: &[String], cluster_domain: &str, host: &Resolv) -> Resolv {
    let spec = pod.spec.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let host_network = spec.and_then(|s| s.host_network) == Some(true);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let mut r = match policy {
        "None" => Resolv::default(),
        _ if cluster_first && !cluster_dns.is_empty() => {
            let mut search = vec![
                format!("{ns}.svc.{cluster_domain}"),
                format!("svc.{cluster_domain}"),
                cluster_domain.to_string(),
            ];
            search.extend(host.search.iter().cloned());
            Resolv {
                servers: cluster_dns.to_vec(),
                search,
                options: vec!["ndots:5".to_string()],
            }
        }
        _ => host.clone(),
    };
    if let Some(cfg) = spec.and_then(|s| s.dns_config.as_ref()) {
        r.servers.extend(cfg.nameservers.iter().flatten().cloned());
        r.search.extend(cfg.searches.iter().flatten().cloned());
        for o in cfg.options.iter().flatten() {
            let Some(name) = o.name.as_deref() else {
                continue;
            };
            r.options.retain(|x| x.split(':').next() != Some(name));
            r.options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name.to_string(),
            });
        }
    }
    r
}

/// The sandbox the driver should create for `pod`.
pub fn sandbox_spec(pod: &Pod, dns: Resolv) -> SandboxSpec {
    let spec = pod.spec.as_ref();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| name.chars().take(63).collect());
    let ports = spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?;
            Some(PortMapping {
                container_port: u16::try_from(p.container_port).ok()?,
                host_port,
                host_ip: p.host_ip.clone().filter(|h| !h.is_empty()),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
            })
        })
        .collect();
    SandboxSpec {
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        pod_name: name,
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        hostname,
        network: None,
        host_network: spec.and_then(|s| s.host_network) == Some(true),
        ports,
        dns_servers: dns.servers,
        dns_search: dns.search,
        dns_options: dns.options,
        labels: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOST: &str =
        "nameserver 127.0.0.53\nnameserver 1.1.1.1\nsearch corp.example\noptions edns0\n";

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "prod", "uid": "u"}, "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn resolv_conf() {
        let r = parse_resolv_conf(HOST);
        assert_eq!(r.servers, ["1.1.1.1"]);
        assert_eq!(r.search, ["corp.example"]);
        assert_eq!(r.options, ["edns0"]);
    }

    #[test]
    fn dns_policies() {
        let host = parse_resolv_conf(HOST);
        let p = pod(json!({"containers": []}));
        assert_eq!(
            pod_dns(&p, &[], "cluster.local", &host),
            host,
            "no cluster DNS yet"
        );
        let cluster = pod_dns(&p, &["10.96.0.10".into()], "cluster.local", &host);
        assert_eq!(cluster.servers, ["10.96.0.10"]);
        assert_eq!(
            cluster.search,
            [
                "prod.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
        let host_net = pod(json!({"hostNetwork": true, "containers": []}));
        assert_eq!(
            pod_dns(&host_net, &["10.96.0.10".into()], "cluster.local", &host),
            host
        );
        let none = pod(json!({"dnsPolicy": "None", "containers": [],
            "dnsConfig": {"nameservers": ["8.8.8.8"], "options": [{"name": "ndots", "value": "2"}]}}));
        let r = pod_dns(&none, &[], "cluster.local", &host);
        assert_eq!(r.servers, ["8.8.8.8"]);
        assert_eq!(r.options, ["ndots:2"]);
    }

    #[test]
    fn host_ports_and_hostname() {
        let p = pod(json!({"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 443},
            {"containerPort": 53, "hostPort": 53, "protocol": "UDP"}]}]}));
        let s = sandbox_spec(&p, Resolv::default());
        assert_eq!(s.hostname, "web");
        assert_eq!(s.ports.len(), 2);
        assert_eq!(
            (s.ports[0].container_port, s.ports[0].host_port),
            (80, 8080)
        );
        assert_eq!(s.ports[1].protocol, "UDP");
    }
}
