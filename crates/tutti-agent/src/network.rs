//! The node's part of the cluster network: its pod bridge on the node's pod CIDR, routes to
//! the other nodes' pod CIDRs, the firewall rules that let pod traffic through, and the
//! service data path and DNS server its pods use (from `tutti-net`).
//!
//! Off unless [`AgentConfig::network`](crate::AgentConfig) is set: in-process test agents
//! and unprivileged agents run pods without touching the host's network.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::task::JoinSet;
use tracing::{info, warn};
use tutti_net::catalog::Catalog;
use tutti_net::dns::{self, DnsConfig};
use tutti_net::host::{self, Cidr};
use tutti_net::proxy::{Proxy, ProxyConfig};
use tutti_runtime::{PodNetworkSpec, RuntimeDriver};

/// How the node joins the cluster network.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The cluster's pod range (`10.244.0.0/16`); each node's pod CIDR is inside it.
    pub cluster_cidr: Cidr,
    /// The service range (`10.96.0.0/12`): made local on the node, the proxy binds in it.
    pub service_cidr: Cidr,
    /// Where the node's DNS server listens (the 10th address of the service range, the
    /// `kube-system/kube-dns` Service's cluster IP).
    pub dns_ip: Ipv4Addr,
    /// The DNS port (53; tests use a high one).
    pub dns_port: u16,
    /// Change the host: forwarding, local service range, routes, firewall rules. Needs
    /// CAP_NET_ADMIN; without it only the proxy and DNS run (NodePorts still work).
    pub program_host: bool,
    /// The resolvers the DNS server forwards names outside the cluster to.
    pub upstream_resolv_conf: std::path::PathBuf,
    /// How long to wait for the control plane to assign the node's pod CIDR before
    /// starting pods on the driver's default network instead.
    pub pod_cidr_wait: Duration,
}

impl NetworkConfig {
    /// The defaults: cluster range 10.244.0.0/16, services 10.96.0.0/12, DNS on 10.96.0.10:53.
    pub fn new(cluster_cidr: Cidr, service_cidr: Cidr) -> NetworkConfig {
        NetworkConfig {
            cluster_cidr,
            service_cidr,
            dns_ip: service_cidr.nth(10),
            dns_port: 53,
            program_host: true,
            upstream_resolv_conf: "/etc/resolv.conf".into(),
            pod_cidr_wait: Duration::from_secs(30),
        }
    }
}

/// Wait for the node's pod CIDR (assigned by the control plane's IPAM), up to `wait`.
async fn pod_cidr(client: &kube::Client, node: &str, wait: Duration) -> Option<Cidr> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        match nodes.get(node).await {
            Ok(n) => {
                let cidr = n.spec.as_ref().and_then(|s| s.pod_cidr.as_deref());
                if let Some(c) = cidr.and_then(Cidr::parse) {
                    return Some(c);
                }
            }
            Err(e) => warn!(error = %e, "reading the node's pod CIDR failed"),
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        if !told {
            info!(
                node,
                "waiting for the control plane to assign this node's pod CIDR"
            );
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Set up the node's network and start what keeps it current. Returns the docker network
/// name pods join (None: the driver's default one).
pub(crate) async fn start(
    client: &kube::Client,
    node_name: &str,
    node_ip: &str,
    driver: &Arc<dyn RuntimeDriver>,
    cluster_domain: &str,
    net: &NetworkConfig,
    background: &mut JoinSet<()>,
) -> Option<String> {
    if net.program_host {
        if let Err(e) = host::enable_forwarding().await {
            warn!(error = %e, "cannot enable IPv4 forwarding: pods on other nodes are unreachable");
        }
        if let Err(e) = host::make_local(net.service_cidr).await {
            warn!(error = %e, "cannot make the service range local: service addresses will not answer on this node");
        }
    }
    let mut network = None;
    let cidr = if driver.capabilities().pod_network {
        pod_cidr(client, node_name, net.pod_cidr_wait).await
    } else {
        None
    };
    match cidr {
        Some(cidr) => {
            let spec = PodNetworkSpec {
                subnet: cidr.to_string(),
                gateway: cidr.nth(1).to_string(),
            };
            match driver.ensure_pod_network(&spec).await {
                Ok(name) => {
                    info!(network = %name, pod_cidr = %cidr, "pod network ready");
                    network = Some(name);
                }
                Err(e) => {
                    warn!(error = %e, "cannot create the pod network; pods use the driver's default network")
                }
            }
        }
        None if driver.capabilities().pod_network => warn!(
            wait = ?net.pod_cidr_wait,
            "no pod CIDR assigned to this node; pods use the driver's default network"
        ),
        None => {}
    }
    background.spawn(serve_services(
        client.clone(),
        net.clone(),
        cluster_domain.to_string(),
    ));
    if net.program_host {
        if let Err(e) = host::install_rules(net.cluster_cidr, cidr).await {
            warn!(error = %e, "cannot install the pod network's firewall rules");
        }
        let client = client.clone();
        let me = node_name.to_string();
        let my_ip = node_ip.to_string();
        background.spawn(keep_routes(client, me, my_ip));
    }
    network
}

/// Run the service data path and the DNS server for this node's pods, forever.
async fn serve_services(client: kube::Client, net: NetworkConfig, cluster_domain: String) {
    let catalog = Catalog::spawn(client);
    catalog.synced().await;
    let proxy = Proxy::start(
        catalog.subscribe(),
        ProxyConfig {
            skip_ips: vec![net.dns_ip],
            ..ProxyConfig::default()
        },
    )
    .await;
    let resolv = tokio::fs::read_to_string(&net.upstream_resolv_conf)
        .await
        .unwrap_or_default();
    let upstreams = dns::upstreams_from_resolv_conf(&resolv);
    if upstreams.is_empty() {
        warn!(file = %net.upstream_resolv_conf.display(), "no upstream nameservers: names outside the cluster will not resolve in pods");
    }
    let config = DnsConfig {
        listen: SocketAddr::from((net.dns_ip, net.dns_port)),
        cluster_domain,
        upstreams,
        ..DnsConfig::default()
    };
    let listen = config.listen;
    // Retry while the address is not ours (making the service range local may have failed).
    let mut delay = Duration::from_millis(500);
    let dns = loop {
        match dns::serve(config.clone(), catalog.subscribe()).await {
            Ok(handle) => break handle,
            Err(e) => {
                warn!(listen = %listen, error = %e, retry_in = ?delay, "cluster DNS cannot start");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    info!(
        dns = %listen,
        services = catalog.current().services.len(),
        "service proxy and cluster DNS serving this node's pods"
    );
    // The catalog, proxy and DNS server live as long as this task.
    let _alive = (catalog, proxy, dns);
    std::future::pending::<()>().await
}

/// The routes to every other node's pod CIDR through that node's InternalIP.
pub fn peer_routes(nodes: &[Arc<Node>], me: &str, my_ip: &str) -> BTreeMap<Cidr, Ipv4Addr> {
    let mut routes = BTreeMap::new();
    for node in nodes {
        let hollow = node
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(crate::hollow::HOLLOW_LABEL));
        if node.metadata.name.as_deref() == Some(me) || hollow {
            continue;
        }
        let Some(cidr) = node
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(Cidr::parse)
        else {
            continue;
        };
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .and_then(|a| a.address.parse::<Ipv4Addr>().ok());
        if let Some(ip) = ip.filter(|ip| ip.to_string() != my_ip) {
            routes.insert(cidr, ip);
        }
    }
    routes
}

/// Watch the Nodes and keep the peer routes equal to [`peer_routes`]; forever.
async fn keep_routes(client: kube::Client, me: String, my_ip: String) {
    let nodes: Api<Node> = Api::all(client);
    let (store, writer) = reflector::store::<Node>();
    // The watch is driven by a task of its own: the reflector's store only fills while its
    // stream is polled, so waiting for it here must not stop the polling.
    let (changed, mut change) = tokio::sync::mpsc::channel::<()>(1);
    tokio::spawn(async move {
        let stream = reflector(writer, watcher(nodes, watcher::Config::default()))
            .default_backoff()
            .touched_objects();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                // A full channel already holds a wake-up: nothing is lost.
                Ok(_) => drop(changed.try_send(())),
                Err(e) => warn!(error = %e, "watching nodes for routes failed"),
            }
        }
    });
    if store.wait_until_ready().await.is_err() {
        return;
    }
    let mut applied: Option<BTreeMap<Cidr, Ipv4Addr>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        let desired = peer_routes(&store.state(), &me, &my_ip);
        if applied.as_ref() != Some(&desired) {
            match host::sync_routes(&desired).await {
                Ok(_) => applied = Some(desired),
                Err(e) => warn!(error = %e, "updating pod network routes failed"),
            }
        }
        tokio::select! {
            woke = change.recv() => if woke.is_none() {
                warn!("the node watch ended: pod network routes are no longer kept");
                return;
            },
            // Re-check now and then: someone may have removed a route by hand.
            _ = tick.tick() => applied = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cidr: Option<&str>, ip: &str) -> Arc<Node> {
        let spec = match cidr {
            Some(c) => json!({"podCIDR": c, "podCIDRs": [c]}),
            None => json!({}),
        };
        let value = json!({
            "metadata": {"name": name},
            "spec": spec,
            "status": {"addresses": [{"type": "Hostname", "address": name},
                                     {"type": "InternalIP", "address": ip}]}
        });
        Arc::new(serde_json::from_value(value).unwrap_or_default())
    }

    #[test]
    fn routes_go_to_every_other_node_with_a_pod_cidr() {
        let nodes = vec![
            node("a1", Some("10.244.1.0/24"), "10.77.0.11"),
            node("a2", Some("10.244.2.0/24"), "10.77.0.12"),
            node("a3", None, "10.77.0.13"),
        ];
        let routes = peer_routes(&nodes, "a1", "10.77.0.11");
        let shown: Vec<String> = routes.iter().map(|(c, v)| format!("{c} via {v}")).collect();
        assert_eq!(shown, vec!["10.244.2.0/24 via 10.77.0.12"]);
    }
}
