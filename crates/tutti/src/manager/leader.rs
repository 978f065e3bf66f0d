//! Work only the Raft leader does: the controllers, the scheduler, compaction, and keeping
//! `default/kubernetes` Endpoints listing every manager (agents learn the managers from it).
//!
//! A leadership term runs on its own tokio runtime. The controllers spawn tasks of their
//! own (watchers, workers); shutting the runtime down when leadership moves ends every one of
//! them at once, so two managers never reconcile side by side for longer than it takes this
//! manager to notice it lost the lead (one poll, 100 ms) — and a deposed leader's writes fail
//! anyway, as they need the quorum that now follows someone else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints};
use kube::api::{Api, PostParams};
use tutti_apiserver::ApiServer;
use tutti_store::RaftStore;

/// How often this manager checks whether it leads.
const POLL: Duration = Duration::from_millis(100);
/// How often the leader refreshes the managers' Endpoints.
const PUBLISH: Duration = Duration::from_secs(5);

/// Follow leadership for as long as the process runs.
pub fn spawn(
    store: RaftStore,
    api: Arc<ApiServer>,
    controllers: tutti_controllers::ControllerConfig,
) {
    tokio::spawn(async move {
        let me = store.node_id();
        let mut term = Term(None);
        loop {
            let leading = store.leader().is_some_and(|(id, _)| id == me);
            match (leading, term.0.is_some()) {
                (true, false) => match start(&store, &api, &controllers) {
                    Ok(rt) => {
                        tracing::info!(
                            node_id = me,
                            "leading: controllers and scheduler start here"
                        );
                        term.0 = Some(rt);
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the leader's work"),
                },
                (false, true) => {
                    term.stop();
                    tracing::info!(
                        node_id = me,
                        "no longer leading: controllers and scheduler stopped here"
                    );
                }
                _ => {}
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

/// The runtime of the current leadership term. Dropping a runtime blocks until its tasks
/// end, which tokio forbids inside async code; when the process's main runtime shuts down
/// and drops the task holding this, the term is let go without waiting instead.
struct Term(Option<tokio::runtime::Runtime>);

impl Term {
    fn stop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start(
    store: &RaftStore,
    api: &Arc<ApiServer>,
    controllers: &tutti_controllers::ControllerConfig,
) -> std::io::Result<tokio::runtime::Runtime> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tutti-leader")
        .enable_all()
        .build()?;
    let client = tutti_apiserver::client::in_process_client(api);
    let store = store.clone();
    let controllers = controllers.clone();
    rt.spawn(async move {
        tutti_controllers::spawn_all(client.clone(), controllers);
        tutti_scheduler::spawn(client.clone(), tutti_scheduler::SchedulerConfig::default());
        tutti_apiserver::compaction::spawn(Arc::new(store.clone()), Duration::from_secs(300));
        publish_managers(store, client).await;
    });
    Ok(rt)
}

/// Keep `default/kubernetes` Endpoints equal to the managers' API addresses.
async fn publish_managers(store: RaftStore, client: kube::Client) {
    let endpoints: Api<Endpoints> = Api::namespaced(client, "default");
    let mut last: Option<Vec<EndpointSubset>> = None;
    loop {
        let subsets = manager_subsets(&store);
        if last.as_ref() != Some(&subsets) {
            match put(&endpoints, subsets.clone()).await {
                Ok(()) => last = Some(subsets),
                Err(e) => tracing::warn!(error = %e, "publishing the managers' endpoints failed"),
            }
        }
        tokio::time::sleep(PUBLISH).await;
    }
}

/// One subset per API port (managers on one host differ by port), addresses sorted.
fn manager_subsets(store: &RaftStore) -> Vec<EndpointSubset> {
    let mut by_port: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for member in store.members() {
        if let Some((ip, port)) = host_port(&member.addr) {
            by_port.entry(port).or_default().push(ip);
        }
    }
    by_port
        .into_iter()
        .map(|(port, mut ips)| {
            ips.sort();
            ips.dedup();
            EndpointSubset {
                addresses: Some(
                    ips.into_iter()
                        .map(|ip| EndpointAddress {
                            ip,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ports: Some(vec![EndpointPort {
                    name: Some("https".into()),
                    port: i32::from(port),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }
        })
        .collect()
}

/// `https://10.0.0.2:6443` → ("10.0.0.2", 6443); IPv6 hosts lose their brackets.
pub(crate) fn host_port(addr: &str) -> Option<(String, u16)> {
    let rest = addr.strip_prefix("https://")?;
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>().ok()?;
    Some((host.to_string(), port.parse().ok()?))
}

async fn put(api: &Api<Endpoints>, subsets: Vec<EndpointSubset>) -> Result<(), kube::Error> {
    match api.get_opt("kubernetes").await? {
        Some(mut existing) => {
            existing.subsets = Some(subsets);
            api.replace("kubernetes", &PostParams::default(), &existing)
                .await?;
        }
        None => {
            let mut fresh = Endpoints::default();
            fresh.metadata.name = Some("kubernetes".into());
            fresh.subsets = Some(subsets);
            api.create(&PostParams::default(), &fresh).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_addresses_become_hosts_and_ports() {
        assert_eq!(
            host_port("https://10.0.0.2:6443"),
            Some(("10.0.0.2".into(), 6443))
        );
        assert_eq!(
            host_port("https://[fd00::2]:7443"),
            Some(("fd00::2".into(), 7443))
        );
        assert_eq!(host_port("node-1"), None);
        assert_eq!(host_port("https://example.com:6443"), None);
    }
}
