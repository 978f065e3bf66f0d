//! `describe service`: selector, type, cluster IPs, each port with its target and node port,
//! the ready endpoints behind it, and session affinity.

use serde_json::Value;

use super::metadata;
use super::writer::{NONE, Writer, array, int, scalar, selector_text, text};

/// The service's description; `endpoints` is its Endpoints object, if there is one.
pub fn write(w: &mut Writer, s: &Value, endpoints: Option<&Value>) {
    metadata(w, s, false);
    w.field(
        0,
        "Selector",
        selector_text(s.pointer("/spec/selector").and_then(Value::as_object)),
    );
    let ty = text(s, "/spec/type");
    w.field(0, "Type", if ty.is_empty() { "ClusterIP" } else { ty });
    let policy = text(s, "/spec/ipFamilyPolicy");
    if !policy.is_empty() {
        w.field(0, "IP Family Policy", policy);
    }
    let families: Vec<String> = array(s, "/spec/ipFamilies").iter().map(scalar).collect();
    if !families.is_empty() {
        w.field(0, "IP Families", families.join(","));
    }
    let ip = text(s, "/spec/clusterIP");
    w.field(0, "IP", if ip.is_empty() { NONE } else { ip });
    let ips: Vec<String> = array(s, "/spec/clusterIPs").iter().map(scalar).collect();
    w.field(
        0,
        "IPs",
        if ips.is_empty() {
            ip.to_string()
        } else {
            ips.join(",")
        },
    );
    let external = text(s, "/spec/externalName");
    if !external.is_empty() {
        w.field(0, "External Name", external);
    }
    let ingress: Vec<String> = array(s, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| text(i, "/ip").to_string())
        .filter(|i| !i.is_empty())
        .collect();
    if !ingress.is_empty() {
        w.field(0, "LoadBalancer Ingress", ingress.join(", "));
    }
    for port in array(s, "/spec/ports") {
        let name = text(port, "/name");
        let shown = if name.is_empty() { "<unset>" } else { name };
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP");
        w.field(
            0,
            "Port",
            format!("{shown}  {}/{protocol}", int(port, "/port", 0)),
        );
        let target = port.get("targetPort").map(scalar).unwrap_or_default();
        let target = if target.is_empty() {
            int(port, "/port", 0).to_string()
        } else {
            target
        };
        w.field(0, "TargetPort", format!("{target}/{protocol}"));
        if let Some(node_port) = port.get("nodePort").and_then(Value::as_i64) {
            w.field(0, "NodePort", format!("{shown}  {node_port}/{protocol}"));
        }
        w.field(0, "Endpoints", endpoints_for(endpoints, name));
    }
    let affinity = text(s, "/spec/sessionAffinity");
    w.field(
        0,
        "Session Affinity",
        if affinity.is_empty() {
            "None"
        } else {
            affinity
        },
    );
}

/// `10.244.0.5:80,10.244.0.6:80 + 2 more...`: the ready addresses of the port named `port_name`
/// (the only port when unnamed), at most three shown.
pub fn endpoints_for(endpoints: Option<&Value>, port_name: &str) -> String {
    let mut all = Vec::new();
    for subset in endpoints.map(|e| array(e, "/subsets")).unwrap_or_default() {
        for port in array(subset, "/ports") {
            if text(port, "/name") != port_name {
                continue;
            }
            for address in array(subset, "/addresses") {
                all.push(format!(
                    "{}:{}",
                    text(address, "/ip"),
                    int(port, "/port", 0)
                ));
            }
        }
    }
    match all.len() {
        0 => NONE.to_string(),
        n if n <= 3 => all.join(","),
        n => format!("{} + {} more...", all[..3].join(","), n - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_match_the_port_name_and_are_capped() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
            "ports": [{"port": 80}, {"name": "metrics", "port": 9090}]}]});
        assert_eq!(
            endpoints_for(Some(&ep), ""),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
        );
        assert_eq!(
            endpoints_for(Some(&ep), "metrics").split(',').next(),
            Some("10.0.0.1:9090")
        );
        assert_eq!(endpoints_for(None, ""), "<none>");
    }

    #[test]
    fn the_seed_service_reads_like_kubectl() {
        let s = json!({"metadata": {"name": "nginx-service", "namespace": "default", "labels": {"name": "nginx-service"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "nginx"},
                "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}]}});
        let mut w = Writer::default();
        write(&mut w, &s, None);
        let out = w.finish();
        for line in [
            "Selector:          app=nginx\n",
            "Port:              <unset>  80/TCP\n",
            "TargetPort:        80/TCP\n",
            "Endpoints:         <none>\n",
            "Session Affinity:  None\n",
        ] {
            assert!(out.contains(line), "missing {line:?} in\n{out}");
        }
    }
}
