use serde_json::json;

use crate::table::fixtures::{ago, row};

#[test]
fn node_port_service() {
    let svc = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(7 * 86400 + 3 * 3600)},
        "spec": {"type": "NodePort", "clusterIP": "10.96.14.2", "clusterIPs": ["10.96.14.2"],
            "selector": {"app": "web", "tier": "front"},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"},
                      {"name": "dns", "port": 53, "nodePort": 30053, "protocol": "UDP"}]}
    });
    assert_eq!(
        row("Service", &svc),
        [
            "web",
            "NodePort",
            "10.96.14.2",
            "<none>",
            "80:30080/TCP,53:30053/UDP",
            "7d3h",
            "app=web,tier=front"
        ]
    );
}

#[test]
fn headless_service() {
    let svc = json!({
        "metadata": {"name": "db", "creationTimestamp": ago(90)},
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "db"},
            "ports": [{"port": 5432}]}
    });
    assert_eq!(
        row("Service", &svc),
        [
            "db",
            "ClusterIP",
            "None",
            "<none>",
            "5432/TCP",
            "90s",
            "app=db"
        ]
    );
}

#[test]
fn load_balancer_external_ips() {
    let pending = json!({"metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.50"], "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}});
    assert_eq!(
        row("Service", &pending)[..5],
        [
            "lb",
            "LoadBalancer",
            "10.96.0.50",
            "<pending>",
            "443:31443/TCP"
        ]
    );

    let mut ready = pending.clone();
    ready["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.10"}]}});
    ready["spec"]["externalIPs"] = json!(["198.51.100.1"]);
    assert_eq!(
        row("Service", &ready)[3],
        "203.0.113.10,203.0.113.9,lb.example.com,198.51.100.1"
    );
}

#[test]
fn external_name_and_cluster_ip_with_external_ips() {
    let ext = json!({"metadata": {"name": "search"},
        "spec": {"type": "ExternalName", "externalName": "search.example.com"}});
    assert_eq!(
        row("Service", &ext),
        [
            "search",
            "ExternalName",
            "<none>",
            "search.example.com",
            "<none>",
            "<unknown>",
            "<none>"
        ]
    );

    let with_external = json!({"metadata": {"name": "s"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.9", "externalIPs": ["192.0.2.1", "192.0.2.2"], "ports": [{"port": 80, "protocol": "SCTP"}]}});
    assert_eq!(
        row("Service", &with_external)[2..5],
        ["10.96.0.9", "192.0.2.1,192.0.2.2", "80/SCTP"]
    );
}

#[test]
fn endpoints_list_three_then_summarise() {
    let ep = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(600)},
        "subsets": [{
            "addresses": [{"ip": "10.244.1.7"}, {"ip": "10.244.1.8"}, {"ip": "10.244.2.3"},
                          {"ip": "10.244.2.4"}, {"ip": "10.244.3.9"}],
            "notReadyAddresses": [{"ip": "10.244.3.10"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }]
    });
    assert_eq!(
        row("Endpoints", &ep),
        [
            "web",
            "10.244.1.7:8080,10.244.1.8:8080,10.244.2.3:8080 + 2 more...",
            "10m"
        ]
    );
}

#[test]
fn endpoints_few_headless_ipv6_and_empty() {
    let two_ports = json!({"metadata": {"name": "a"}, "subsets": [{"addresses": [{"ip": "fd00::1"}],
        "ports": [{"port": 80}, {"port": 443}]}]});
    assert_eq!(
        row("Endpoints", &two_ports)[1],
        "[fd00::1]:80,[fd00::1]:443"
    );

    let headless = json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}]});
    assert_eq!(row("Endpoints", &headless)[1], "10.0.0.1,10.0.0.2");

    let exactly_three = json!({"metadata": {"name": "t"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}], "ports": [{"port": 53}]}]});
    assert_eq!(
        row("Endpoints", &exactly_three)[1],
        "10.0.0.1:53,10.0.0.2:53,10.0.0.3:53"
    );

    let empty = json!({"metadata": {"name": "e"}});
    assert_eq!(row("Endpoints", &empty)[1], "<none>");
}

#[test]
fn endpoint_slices_list_ports_and_addresses() {
    let slice = json!({
        "metadata": {"name": "web-x7k2p", "creationTimestamp": ago(300)},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9100, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.1.7"], "conditions": {"ready": true}},
            {"addresses": ["10.244.1.8"], "conditions": {"ready": false}},
            {"addresses": ["10.244.2.3"]},
            {"addresses": ["10.244.2.4"]}
        ]
    });
    assert_eq!(
        row("EndpointSlice", &slice),
        [
            "web-x7k2p",
            "IPv4",
            "8080,9100",
            "10.244.1.7,10.244.1.8,10.244.2.3 + 1 more...",
            "5m"
        ]
    );
}

#[test]
fn endpoint_slice_placeholders_and_port_ranges() {
    let placeholder =
        json!({"metadata": {"name": "idle-abcde"}, "addressType": "IPv4", "endpoints": null});
    assert_eq!(
        row("EndpointSlice", &placeholder)[1..4],
        ["IPv4", "<unset>", "<unset>"]
    );
    let all_ports = json!({"metadata": {"name": "any"}, "addressType": "FQDN",
        "ports": [{"name": "web"}, {}, {"port": 1}, {"port": 2}, {"port": 3}],
        "endpoints": [{"addresses": ["db.example.com"]}]});
    assert_eq!(
        row("EndpointSlice", &all_ports)[1..4],
        ["FQDN", "web,*,1 + 2 more...", "db.example.com"]
    );
}
