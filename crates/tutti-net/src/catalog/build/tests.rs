use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use serde_json::json;

use super::build;
use crate::catalog::{
    DEFAULT_AFFINITY_TIMEOUT, Protocol, ServiceEntry, ServiceKey, ServicePort, ServiceType,
    Snapshot,
};

fn service(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

fn endpoints(v: serde_json::Value) -> Endpoints {
    serde_json::from_value(v).unwrap()
}

fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey {
        namespace: ns.to_string(),
        name: name.to_string(),
    }
}

fn entry<'a>(snap: &'a Snapshot, ns: &str, name: &str) -> &'a ServiceEntry {
    snap.services.get(&key(ns, name)).unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn cluster_ip_service_gets_its_endpoints_flattened() {
    let svc = service(json!({
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {
            "clusterIP": "10.96.0.20",
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "dns", "port": 53, "protocol": "UDP"}
            ]
        }
    }));
    let eps = endpoints(json!({
        "metadata": {"namespace": "shop", "name": "web"},
        "subsets": [
            {
                "addresses": [
                    {"ip": "10.244.1.7", "nodeName": "n1",
                     "targetRef": {"kind": "Pod", "name": "web-b"}},
                    {"ip": "10.244.1.3", "hostname": "web-0"}
                ],
                "notReadyAddresses": [{"ip": "10.244.2.9"}],
                "ports": [
                    {"name": "http", "port": 8080},
                    {"name": "dns", "port": 5353, "protocol": "UDP"}
                ]
            },
            {
                "addresses": [{"ip": "10.244.1.3"}, {"ip": "fd00::1"}],
                "ports": [{"name": "metrics", "port": 9090}]
            }
        ]
    }));
    let snap = build(&[svc], &[eps]);
    let web = entry(&snap, "shop", "web");
    assert_eq!(web.service_type, ServiceType::ClusterIp);
    assert_eq!(web.cluster_ip, Some(ip("10.96.0.20")));
    assert!(!web.headless);
    assert_eq!(
        web.ports,
        vec![
            ServicePort {
                name: "http".into(),
                protocol: Protocol::Tcp,
                port: 80,
                node_port: None
            },
            ServicePort {
                name: "dns".into(),
                protocol: Protocol::Udp,
                port: 53,
                node_port: None
            },
        ]
    );
    let ips: Vec<(Ipv4Addr, bool)> = web.endpoints.iter().map(|e| (e.ip, e.ready)).collect();
    assert_eq!(
        ips,
        vec![
            (ip("10.244.1.3"), true),
            (ip("10.244.1.7"), true),
            (ip("10.244.2.9"), false),
        ],
        "sorted by IP, IPv6 skipped"
    );
    let first = &web.endpoints[0];
    assert_eq!(first.hostname.as_deref(), Some("web-0"));
    assert_eq!(
        first.ports.get(&("metrics".to_string(), Protocol::Tcp)),
        Some(&9090),
        "an address in two subsets has the ports of both"
    );
    assert_eq!(
        first.ports.get(&("dns".to_string(), Protocol::Udp)),
        Some(&5353)
    );
    assert_eq!(web.endpoints[1].pod.as_deref(), Some("web-b"));
    assert_eq!(web.endpoints[1].node_name.as_deref(), Some("n1"));
    assert_eq!(web.endpoints[1].ports.len(), 2);
    assert_eq!(web.ready().count(), 2);
    assert_eq!(web.session_affinity, None);
}

#[test]
fn headless_external_name_and_missing_endpoints() {
    let headless = service(json!({
        "metadata": {"namespace": "db", "name": "pg"},
        "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
    }));
    let alias = service(json!({
        "metadata": {"namespace": "db", "name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "10.96.0.9"}
    }));
    let orphan = endpoints(json!({
        "metadata": {"namespace": "db", "name": "nobody"},
        "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 1}]}]
    }));
    let snap = build(&[headless, alias], &[orphan]);
    assert_eq!(
        snap.services.len(),
        2,
        "endpoints without a service are ignored"
    );
    let pg = entry(&snap, "db", "pg");
    assert!(pg.headless);
    assert_eq!(pg.cluster_ip, None);
    assert!(pg.endpoints.is_empty());
    assert_eq!(pg.ports[0].name, "");
    assert_eq!(pg.ports[0].protocol, Protocol::Tcp);
    let ext = entry(&snap, "db", "ext");
    assert_eq!(
        ext.service_type,
        ServiceType::ExternalName("db.example.com".into())
    );
    assert_eq!(ext.cluster_ip, None);
    assert!(!ext.headless);
}

#[test]
fn node_ports_affinity_and_external_addresses() {
    let lb = service(json!({
        "metadata": {"namespace": "default", "name": "front"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.3.3",
            "externalIPs": ["192.0.2.10", "not-an-ip", "2001:db8::1"],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]
        },
        "status": {"loadBalancer": {"ingress": [
            {"ip": "192.0.2.1"}, {"hostname": "lb.example.com"}, {"ip": "192.0.2.10"}
        ]}}
    }));
    let np = service(json!({
        "metadata": {"name": "plain"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.3.4",
            "sessionAffinity": "ClientIP",
            "ports": [{"port": 8080, "nodePort": 31000, "protocol": "UDP"}]
        }
    }));
    let cip = service(json!({
        "metadata": {"namespace": "default", "name": "inner"},
        "spec": {"clusterIP": "10.96.3.5", "ports": [{"port": 80, "nodePort": 30999}]}
    }));
    let snap = build(&[lb, np, cip], &Vec::<Endpoints>::new());
    let front = entry(&snap, "default", "front");
    assert_eq!(front.service_type, ServiceType::LoadBalancer);
    assert_eq!(front.ports[0].node_port, Some(30080));
    assert_eq!(front.session_affinity, Some(Duration::from_secs(60)));
    assert_eq!(
        front.external_ips,
        vec![ip("192.0.2.1"), ip("192.0.2.10")],
        "externalIPs and ingress IPs, deduplicated, IPv4 only"
    );
    let plain = entry(&snap, "default", "plain");
    assert_eq!(plain.service_type, ServiceType::NodePort);
    assert_eq!(plain.ports[0].node_port, Some(31000));
    assert_eq!(plain.ports[0].protocol, Protocol::Udp);
    assert_eq!(plain.session_affinity, Some(DEFAULT_AFFINITY_TIMEOUT));
    let inner = entry(&snap, "default", "inner");
    assert_eq!(
        inner.ports[0].node_port, None,
        "a ClusterIP service has no node port"
    );
}

#[test]
fn equal_inputs_build_equal_snapshots() {
    let svc = service(json!({
        "metadata": {"namespace": "a", "name": "s"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}
    }));
    let eps = endpoints(json!({
        "metadata": {"namespace": "a", "name": "s"},
        "subsets": [{"addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.1"}], "ports": [{"port": 6443}]}]
    }));
    let one = build(std::slice::from_ref(&svc), std::slice::from_ref(&eps));
    let arcs = [std::sync::Arc::new(svc)];
    let two = build(&arcs, &[std::sync::Arc::new(eps)]);
    assert_eq!(one, two);
    let s = entry(&one, "a", "s");
    assert_eq!(s.endpoints[0].ip, ip("10.0.0.1"));
    assert_eq!(
        s.endpoints[0].ports.get(&(String::new(), Protocol::Tcp)),
        Some(&6443)
    );
}
