//! Allocation of service virtual IPs and NodePorts. Each allocation is a reservation key
//! (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`) written in
//! the same transaction as the Service, guarded by "key absent" — so two services can never
//! get the same address, and a crash can never leak half an allocation.

use std::net::Ipv4Addr;

use rand::Rng;
use serde_json::{Value, json};
use tutti_core::FieldError;

use crate::ApiConfig;
use crate::error::{ApiError, ApiResult};

pub const IP_PREFIX: &str = "/registry/ranges/serviceips/";
pub const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// One reservation a write must make: the key, and whether the user chose the value (a
/// conflict is then the user's error; otherwise we pick again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub key: String,
    pub user_chosen: bool,
    pub field: String,
    pub value: String,
}

/// What a service write reserves and releases.
#[derive(Debug, Default)]
pub struct Plan {
    pub reserve: Vec<Reservation>,
    pub release: Vec<String>,
}

fn range_size(prefix: u8) -> u32 {
    1u32 << (32 - u32::from(prefix.min(32)))
}

/// How many low addresses of a range of `size` are left to users who choose their
/// service's address: a sixteenth, at least 16 and at most 256 (2 for tiny ranges: the
/// network address and .1).
fn static_band(size: u32) -> u32 {
    if size < 64 {
        2
    } else {
        (size / 16).clamp(16, 256)
    }
}

fn in_range(cfg: &ApiConfig, ip: Ipv4Addr) -> bool {
    let (base, prefix) = cfg.service_cidr;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    (u32::from(ip) & mask) == (u32::from(base) & mask)
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(
        svc.pointer("/spec/type").and_then(Value::as_str),
        Some("NodePort") | Some("LoadBalancer")
    )
}

/// Every reservation key a stored service holds.
pub fn held_keys(svc: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str)
        && ip.parse::<Ipv4Addr>().is_ok()
    {
        keys.push(format!("{IP_PREFIX}{ip}"));
    }
    for p in svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
            keys.push(format!("{PORT_PREFIX}{np}"));
        }
    }
    keys
}

/// Fill in the clusterIP and nodePorts of `svc` (created, or updated from `old`) and say
/// which reservation keys to take and to give back.
pub fn plan_service(cfg: &ApiConfig, old: Option<&Value>, svc: &mut Value) -> ApiResult<Plan> {
    let mut plan = Plan::default();
    let mut rng = rand::rng();
    let is_external_name =
        svc.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    // Cluster IP: kept from the old object, taken as given, or picked at random.
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let given = svc
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ip = match (&old_ip, given.as_str()) {
        // Becoming an ExternalName gives the address back, as Kubernetes does.
        (Some(old), g) if is_external_name && (g.is_empty() || g == old) => String::new(),
        (Some(old), "") => old.clone(),
        (_, "") if is_external_name => String::new(),
        (_, "") => {
            let (base, prefix) = cfg.service_cidr;
            // Picked addresses come from above a low band kept for chosen ones (the
            // `kubernetes` service at .1, kube-dns at .10, ...), as Kubernetes does; the
            // network and broadcast addresses are never handed out.
            let size = range_size(prefix);
            let low = static_band(size);
            let offset = rng.random_range(low..size.saturating_sub(1).max(low + 1));
            let ip = Ipv4Addr::from(u32::from(base).wrapping_add(offset)).to_string();
            plan.reserve.push(Reservation {
                key: format!("{IP_PREFIX}{ip}"),
                user_chosen: false,
                field: "spec.clusterIPs".into(),
                value: ip.clone(),
            });
            ip
        }
        (_, "None") => "None".into(),
        (Some(old), ip) if old == ip => ip.to_string(),
        (_, ip) => {
            let parsed: Ipv4Addr = ip
                .parse()
                .map_err(|_| invalid_ip(ip, "must be a valid IP address"))?;
            if !in_range(cfg, parsed) {
                let (b, p) = cfg.service_cidr;
                return Err(invalid_ip(
                    ip,
                    &format!(
                        "failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is {b}/{p}"
                    ),
                ));
            }
            plan.reserve.push(Reservation {
                key: format!("{IP_PREFIX}{ip}"),
                user_chosen: true,
                field: "spec.clusterIPs".into(),
                value: ip.to_string(),
            });
            ip.to_string()
        }
    };
    if !ip.is_empty() {
        svc["spec"]["clusterIP"] = json!(ip);
        svc["spec"]["clusterIPs"] = json!([ip]);
    } else if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    // Node ports.
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let keep_ports = wants_node_ports(svc);
    let mut held: Vec<i64> = Vec::new();
    if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            if !keep_ports {
                if let Some(o) = p.as_object_mut() {
                    o.remove("nodePort");
                }
                continue;
            }
            let np = match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) => np,
                None => {
                    let proto = |v: &Value| {
                        v.get("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_string()
                    };
                    let same = old_ports
                        .iter()
                        .find(|o| o.get("port") == p.get("port") && proto(o) == proto(p));
                    match same.and_then(|o| o.get("nodePort")).and_then(Value::as_i64) {
                        Some(np) => np,
                        None => {
                            let np =
                                i64::from(rng.random_range(cfg.node_ports.0..=cfg.node_ports.1));
                            plan.reserve.push(Reservation {
                                key: format!("{PORT_PREFIX}{np}"),
                                user_chosen: false,
                                field: format!("spec.ports[{i}].nodePort"),
                                value: np.to_string(),
                            });
                            p["nodePort"] = json!(np);
                            held.push(np);
                            continue;
                        }
                    }
                }
            };
            let was_held = old
                .map(held_keys)
                .unwrap_or_default()
                .contains(&format!("{PORT_PREFIX}{np}"));
            if !was_held {
                if np < i64::from(cfg.node_ports.0) || np > i64::from(cfg.node_ports.1) {
                    return Err(ApiError::Invalid {
                        group_kind: "Service".into(),
                        kind: "Service".into(),
                        name: String::new(),
                        causes: vec![FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            np,
                            format!(
                                "provided port is not in the valid range. The range of valid ports is {}-{}",
                                cfg.node_ports.0, cfg.node_ports.1
                            ),
                        )],
                    });
                }
                plan.reserve.push(Reservation {
                    key: format!("{PORT_PREFIX}{np}"),
                    user_chosen: true,
                    field: format!("spec.ports[{i}].nodePort"),
                    value: np.to_string(),
                });
            }
            p["nodePort"] = json!(np);
            held.push(np);
        }
    }
    if let Some(old) = old {
        let now_held = held_keys(svc);
        plan.release = held_keys(old)
            .into_iter()
            .filter(|k| !now_held.contains(k))
            .collect();
    }
    Ok(plan)
}

fn invalid_ip(ip: &str, detail: &str) -> ApiError {
    ApiError::Invalid {
        group_kind: "Service".into(),
        kind: "Service".into(),
        name: String::new(),
        causes: vec![FieldError::invalid(
            "spec.clusterIPs",
            format!("[\"{ip}\"]"),
            detail,
        )],
    }
}

/// The error for a user-chosen value someone else holds.
pub fn taken(name: &str, r: &Reservation) -> ApiError {
    let detail = if r.key.starts_with(IP_PREFIX) {
        format!(
            "failed to allocate IP {}: provided IP is already allocated",
            r.value
        )
    } else {
        "provided port is already allocated".to_string()
    };
    ApiError::Invalid {
        group_kind: "Service".into(),
        kind: "Service".into(),
        name: name.to_string(),
        causes: vec![FieldError::invalid(&r.field, &r.value, detail)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ip_and_node_ports_are_allocated_in_range() {
        let cfg = ApiConfig::default();
        let mut svc =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let plan = plan_service(&cfg, None, &mut svc).unwrap();
        let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(in_range(&cfg, ip));
        let np = svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!((30000..=32767).contains(&np));
        assert_eq!(plan.reserve.len(), 2);
        // An update keeps both and reserves nothing new.
        let old = svc.clone();
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let plan = plan_service(&cfg, Some(&old), &mut new).unwrap();
        assert!(plan.reserve.is_empty() && plan.release.is_empty());
        assert_eq!(new["spec"]["clusterIP"], old["spec"]["clusterIP"]);
        assert_eq!(new["spec"]["ports"][0]["nodePort"], np);
        // Switching to ClusterIP gives the node port back.
        let mut cip =
            json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let plan = plan_service(&cfg, Some(&old), &mut cip).unwrap();
        assert_eq!(plan.release, vec![format!("{PORT_PREFIX}{np}")]);
    }

    #[test]
    fn out_of_range_choices_are_invalid() {
        let cfg = ApiConfig::default();
        let mut svc = json!({"spec": {"clusterIP": "192.168.1.1", "ports": [{"port": 80}]}});
        assert!(matches!(
            plan_service(&cfg, None, &mut svc),
            Err(ApiError::Invalid { .. })
        ));
        let mut svc =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}});
        assert!(matches!(
            plan_service(&cfg, None, &mut svc),
            Err(ApiError::Invalid { .. })
        ));
        let mut headless = json!({"spec": {"clusterIP": "None", "ports": [{"port": 80}]}});
        assert!(
            plan_service(&cfg, None, &mut headless)
                .unwrap()
                .reserve
                .is_empty()
        );
    }

    #[test]
    fn picked_addresses_stay_out_of_the_low_band() {
        let cfg = ApiConfig::default();
        for _ in 0..200 {
            let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
            plan_service(&cfg, None, &mut svc).unwrap();
            let ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
            // 10.96.0.0/12 keeps its first 256 addresses (10.96.0.0-10.96.0.255) for choosing.
            assert!(
                u32::from(ip) >= u32::from(Ipv4Addr::new(10, 96, 1, 0)),
                "{ip}"
            );
        }
        assert_eq!(static_band(16), 2);
        assert_eq!(static_band(256), 16);
        assert_eq!(static_band(1 << 20), 256);
    }

    #[test]
    fn becoming_an_external_name_gives_the_address_back() {
        let cfg = ApiConfig::default();
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        plan_service(&cfg, None, &mut svc).unwrap();
        let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
        let mut ext = svc.clone();
        ext["spec"]["type"] = json!("ExternalName");
        ext["spec"]["externalName"] = json!("db.example.com");
        let plan = plan_service(&cfg, Some(&svc), &mut ext).unwrap();
        assert_eq!(plan.release, vec![format!("{IP_PREFIX}{ip}")]);
        assert!(ext["spec"].get("clusterIP").is_none());
        assert!(ext["spec"].get("clusterIPs").is_none());
    }
}
