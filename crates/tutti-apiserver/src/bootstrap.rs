//! What a fresh cluster has before anyone asks: the `default`, `kube-system`, `kube-public`
//! and `kube-node-lease` namespaces, the `default/kubernetes` Service (the API on the first
//! address of the service range) and the `kube-system/kube-dns` Service (cluster DNS on the
//! tenth address, answered by every node agent).
//!
//! Everything is created through the normal create path, so defaults, validation and the
//! cluster IP reservation apply as to any user object; each step is skipped when the object
//! already exists, so a restart changes nothing.

use std::net::Ipv4Addr;
use std::sync::Arc;

use serde_json::{Value, json};
use tutti_core::registry;

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::handlers::create::create_object;

pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// The port the API serves on, which the `kubernetes` Service's `targetPort` names. Managers
/// may listen elsewhere: the Endpoints the leader publishes carry each one's real port.
pub const API_TARGET_PORT: u16 = 6443;

/// The address at `offset` in the service range (the base address is masked to the prefix
/// first, so `10.96.3.7/12` is read as `10.96.0.0/12`).
fn nth_address(service_cidr: (Ipv4Addr, u8), offset: u32) -> Ipv4Addr {
    let (base, prefix) = service_cidr;
    let mask = match prefix.min(32) {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    };
    Ipv4Addr::from((u32::from(base) & mask).wrapping_add(offset))
}

/// The cluster IP of `default/kubernetes`: the first address of the service range
/// (`10.96.0.1` for `10.96.0.0/12`).
pub fn api_service_ip(service_cidr: (Ipv4Addr, u8)) -> Ipv4Addr {
    nth_address(service_cidr, 1)
}

/// The cluster IP of `kube-system/kube-dns`, the address pods use as their nameserver: the
/// tenth address of the service range (`10.96.0.10` for `10.96.0.0/12`), as kubeadm picks it.
/// Node agents compute it the same way to answer DNS there. A range smaller than /28 has no
/// tenth address; the result then lies outside it and bootstrap skips the service.
pub fn cluster_dns_ip(service_cidr: (Ipv4Addr, u8)) -> Ipv4Addr {
    nth_address(service_cidr, 10)
}

/// Create whatever of the built-in namespaces and services is missing.
pub async fn ensure_defaults(api: &Arc<ApiServer>) -> ApiResult<()> {
    let info = registry::find_by_plural("", "namespaces").ok_or(ApiError::NoSuchResource)?;
    for ns in DEFAULT_NAMESPACES {
        if api.store.get(&info.key(None, ns)).await?.is_some() {
            continue;
        }
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match create_object(api, info, None, obj, Default::default()).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let cidr = api.config.service_cidr;
    ensure_service(api, api_service(api_service_ip(cidr))).await?;
    ensure_service(api, dns_service(cluster_dns_ip(cidr))).await?;
    Ok(())
}

/// `default/kubernetes`: no selector, its Endpoints are the managers (kept by the leader).
fn api_service(ip: Ipv4Addr) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip.to_string(),
            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                "targetPort": API_TARGET_PORT}]},
    })
}

/// `kube-system/kube-dns`: no selector, since every node agent answers on the address itself.
fn dns_service(ip: Ipv4Addr) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip.to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
    })
}

/// Create a built-in Service unless one of that name exists. Its address being held by a user
/// Service (or outside a tiny range) is logged, not fatal: the API must still come up.
async fn ensure_service(api: &Arc<ApiServer>, svc: Value) -> ApiResult<()> {
    let info = registry::find_by_plural("", "services").ok_or(ApiError::NoSuchResource)?;
    let name = svc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ns = svc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    if api.store.get(&info.key(Some(&ns), &name)).await?.is_some() {
        return Ok(());
    }
    match create_object(api, info, Some(&ns), svc, Default::default()).await {
        Ok(_) => {
            tracing::info!(service = %format!("{ns}/{name}"), "built-in service created");
            Ok(())
        }
        Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e @ ApiError::Invalid { .. }) => {
            tracing::warn!(service = %format!("{ns}/{name}"), error = %e,
                "built-in service not created; its cluster IP is unavailable");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
