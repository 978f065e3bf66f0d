use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use tutti_store::Store;
use tutti_store::memory::MemoryStore;

use super::*;
use crate::client::in_process_client;
use crate::{ApiConfig, Authenticator};

type Res = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn server(store: Arc<dyn Store>, config: ApiConfig) -> ApiResult<Arc<ApiServer>> {
    let api = ApiServer::new(store, config, Authenticator::default());
    api.start().await?;
    Ok(api)
}

#[test]
fn well_known_addresses_come_from_the_service_range() {
    let default = ApiConfig::default().service_cidr;
    assert_eq!(cluster_dns_ip(default), Ipv4Addr::new(10, 96, 0, 10));
    assert_eq!(api_service_ip(default), Ipv4Addr::new(10, 96, 0, 1));
    assert_eq!(
        cluster_dns_ip((Ipv4Addr::new(172, 20, 0, 0), 16)),
        Ipv4Addr::new(172, 20, 0, 10)
    );
    // A base address that is not the network address is read as its network.
    assert_eq!(
        cluster_dns_ip((Ipv4Addr::new(10, 96, 3, 7), 12)),
        Ipv4Addr::new(10, 96, 0, 10)
    );
}

#[tokio::test]
async fn a_fresh_cluster_has_the_api_and_dns_services() -> Res {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let api = server(store, ApiConfig::default()).await?;
    let client = in_process_client(&api);

    let dns = Api::<Service>::namespaced(client.clone(), "kube-system")
        .get("kube-dns")
        .await?;
    assert_eq!(
        dns.metadata
            .labels
            .unwrap_or_default()
            .get("k8s-app")
            .map(String::as_str),
        Some("kube-dns")
    );
    let spec = dns.spec.unwrap_or_default();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(spec.cluster_ips, Some(vec!["10.96.0.10".to_string()]));
    assert_eq!(spec.selector, None, "node agents answer DNS themselves");
    let ports: Vec<(String, i32, String)> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.name.unwrap_or_default(),
                p.port,
                p.protocol.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("dns".to_string(), 53, "UDP".to_string()),
            ("dns-tcp".to_string(), 53, "TCP".to_string())
        ]
    );

    let kubernetes = Api::<Service>::namespaced(client.clone(), "default")
        .get("kubernetes")
        .await?;
    let spec = kubernetes.spec.unwrap_or_default();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(spec.selector, None, "the leader keeps its Endpoints");
    let port = &spec.ports.unwrap_or_default()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("https"), 443));

    // Both addresses are reserved: nobody else can take them.
    let thief: Service = serde_json::from_value(json!({
        "metadata": {"name": "thief"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}}))?;
    let err = Api::<Service>::namespaced(client, "default")
        .create(&PostParams::default(), &thief)
        .await
        .err()
        .ok_or("a second service got 10.96.0.10")?;
    assert!(err.to_string().contains("already allocated"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_restart_changes_nothing() -> Res {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = server(store.clone(), ApiConfig::default()).await?;
    let services = Api::<Service>::namespaced(in_process_client(&first), "kube-system");
    let before = services.get("kube-dns").await?.metadata.resource_version;

    let second = server(store, ApiConfig::default()).await?;
    let services = Api::<Service>::namespaced(in_process_client(&second), "kube-system");
    assert_eq!(
        services.get("kube-dns").await?.metadata.resource_version,
        before
    );
    Ok(())
}

#[tokio::test]
async fn a_taken_dns_address_does_not_stop_the_server() -> Res {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = server(store.clone(), ApiConfig::default()).await?;
    let client = in_process_client(&first);
    // As on a cluster from before kube-dns existed: a user service holds the address.
    Api::<Service>::namespaced(client.clone(), "kube-system")
        .delete("kube-dns", &DeleteParams::default())
        .await?;
    let squatter: Service = serde_json::from_value(json!({
        "metadata": {"name": "squatter"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}))?;
    Api::<Service>::namespaced(client, "default")
        .create(&PostParams::default(), &squatter)
        .await?;

    let second = server(store, ApiConfig::default()).await?;
    assert!(second.is_ready());
    let dns = Api::<Service>::namespaced(in_process_client(&second), "kube-system")
        .get_opt("kube-dns")
        .await?;
    assert!(dns.is_none());
    Ok(())
}

#[tokio::test]
async fn another_service_range_moves_both_addresses() -> Res {
    let config = ApiConfig {
        service_cidr: (Ipv4Addr::new(10, 100, 0, 0), 16),
        ..ApiConfig::default()
    };
    let api = server(Arc::new(MemoryStore::new()), config).await?;
    let client = in_process_client(&api);
    let dns = Api::<Service>::namespaced(client.clone(), "kube-system")
        .get("kube-dns")
        .await?;
    assert_eq!(
        dns.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some("10.100.0.10")
    );
    let kubernetes = Api::<Service>::namespaced(client, "default")
        .get("kubernetes")
        .await?;
    assert_eq!(
        kubernetes.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some("10.100.0.1")
    );
    Ok(())
}
