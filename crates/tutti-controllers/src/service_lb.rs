//! LoadBalancer services without a cloud: every Ready node is the load balancer. The
//! controller writes the Ready nodes' InternalIPs into `status.loadBalancer.ingress` of every
//! `type: LoadBalancer` Service, and each node's service proxy answers on its own address at
//! the service port (plus the NodePort, as for any NodePort service) — what k3s's ServiceLB
//! does, without a helper pod per node. A service that stops being a LoadBalancer loses its
//! ingress list.
//!
//! Wiring: a kube-runtime `Controller` on Services, re-run for every service when a Node
//! changes (nodes come, go, turn NotReady), and resynced periodically.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Node, Service};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::json;

use crate::replicaset::backoff::ErrorBackoff;

const RESYNC: Duration = Duration::from_secs(60);

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

struct Context {
    client: kube::Client,
    backoff: ErrorBackoff,
}

/// Start the controller on the current tokio runtime.
pub fn spawn(client: kube::Client) {
    crate::supervise::supervise("service-lb", move || run(client.clone()));
}

async fn run(client: kube::Client) {
    let services = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let store = services.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        backoff: ErrorBackoff::default(),
    });
    tracing::info!("load balancer controller started");
    services
        .watches(
            Api::<Node>::all(client),
            watcher::Config::default(),
            move |_node| every_load_balancer(&store),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "load balancer controller stream error");
            }
        })
        .await;
}

fn every_load_balancer(store: &Store<Service>) -> Vec<ObjectRef<Service>> {
    store
        .state()
        .into_iter()
        .filter(|s| is_load_balancer(s))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn is_load_balancer(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The ingress list for a LoadBalancer service: the Ready nodes' InternalIPs, sorted.
pub fn ingress(nodes: &[Arc<Node>]) -> Vec<LoadBalancerIngress> {
    let mut ips: Vec<String> = nodes
        .iter()
        .filter(|n| node_ready(n))
        .filter_map(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                .map(|a| a.address.clone())
        })
        .collect();
    ips.sort();
    ips.dedup();
    ips.into_iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip),
            ip_mode: Some("VIP".to_string()),
            ..Default::default()
        })
        .collect()
}

fn error_policy(svc: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any());
    let delay = ctx.backoff.next(&key);
    tracing::warn!(service = %key, error = %error, retry_in = ?delay, "load balancer status update failed");
    Action::requeue(delay)
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let want = if is_load_balancer(&svc) {
        let nodes = Api::<Node>::all(ctx.client.clone())
            .list(&Default::default())
            .await?;
        let nodes: Vec<Arc<Node>> = nodes.items.into_iter().map(Arc::new).collect();
        ingress(&nodes)
    } else {
        Vec::new()
    };
    let have = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.clone())
        .unwrap_or_default();
    if have != want {
        let status = LoadBalancerStatus {
            ingress: Some(want.clone()),
        };
        let patch = json!({"status": {"loadBalancer": status}});
        Api::<Service>::namespaced(ctx.client.clone(), &ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        tracing::info!(service = %format!("{ns}/{name}"), addresses = want.len(), "load balancer addresses updated");
    }
    ctx.backoff.reset(&format!("{ns}/{name}"));
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, ready: bool) -> Arc<Node> {
        let value = json!({
            "metadata": {"name": name},
            "status": {
                "addresses": [{"type": "InternalIP", "address": ip}],
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
            }
        });
        Arc::new(serde_json::from_value(value).unwrap_or_default())
    }

    #[test]
    fn ready_nodes_are_the_load_balancer() {
        let nodes = vec![
            node("b", "10.0.0.12", true),
            node("a", "10.0.0.11", true),
            node("c", "10.0.0.13", false),
        ];
        let ips: Vec<_> = ingress(&nodes).into_iter().filter_map(|i| i.ip).collect();
        assert_eq!(ips, vec!["10.0.0.11", "10.0.0.12"]);
    }
}
