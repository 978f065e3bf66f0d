//! Removing the endpoints of deleted services. A kube-runtime `Controller` never reconciles
//! an object that is gone, so a watch of its own sees each Service deletion and removes that
//! service's marked Endpoints (which have no owner) and its slices (the garbage collector
//! would get those too, through their owner reference). After every (re)list of services it
//! also sweeps what was left behind while no controller ran — say, during a leader change.

use std::collections::BTreeSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use super::write::{self, is_marked};
use super::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, SKIP_MIRROR_LABEL};

/// Start the deletion watch on the current tokio runtime.
pub(super) fn spawn(client: kube::Client) {
    tokio::spawn(run(client));
}

async fn run(client: kube::Client) {
    let services: Api<Service> = Api::all(client.clone());
    let mut events = watcher(services, watcher::Config::default())
        .default_backoff()
        .boxed();
    // Services seen by the current (re)list, `namespace/name`.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed.clear(),
            Ok(watcher::Event::InitApply(svc)) => {
                listed.insert(key(&svc.namespace().unwrap_or_default(), &svc.name_any()));
            }
            Ok(watcher::Event::InitDone) => {
                if let Err(e) = sweep(&client, &listed).await {
                    tracing::warn!(error = %e, "sweeping endpoints of deleted services failed");
                }
            }
            Ok(watcher::Event::Delete(svc)) => forget(&client, &svc).await,
            Ok(watcher::Event::Apply(_)) => {}
            Err(e) => tracing::debug!(error = %e, "service watch failed; retrying"),
        }
    }
}

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

/// Remove the endpoints of a service that was just deleted. Its Endpoints go only if no new
/// service of the same name exists by now; its own slices go in any case.
async fn forget(client: &kube::Client, svc: &Service) {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let uid = svc.uid();
    let result = async {
        let recreated = Api::<Service>::namespaced(client.clone(), &ns)
            .get_opt(&name)
            .await?
            .is_some();
        write::remove_managed(client, &ns, &name, uid.as_deref(), !recreated).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::debug!(service = %key(&ns, &name), "endpoints of a deleted service removed")
        }
        Err(e) => {
            tracing::warn!(service = %key(&ns, &name), error = %e, "removing the endpoints of a deleted service failed")
        }
    }
}

/// Remove marked Endpoints and managed slices whose service does not exist. `listed` are the
/// services of the last list; anything else is checked live before it is deleted, as the
/// service may have been created since.
async fn sweep(client: &kube::Client, listed: &BTreeSet<String>) -> kube::Result<()> {
    let mut orphans: BTreeSet<(String, String)> = BTreeSet::new();
    let endpoints = Api::<Endpoints>::all(client.clone())
        .list(&ListParams::default().labels(&format!("{SKIP_MIRROR_LABEL}=true")))
        .await?;
    for ep in endpoints.items.iter().filter(|ep| is_marked(ep)) {
        orphans.insert((ep.namespace().unwrap_or_default(), ep.name_any()));
    }
    let slices = Api::<EndpointSlice>::all(client.clone())
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")))
        .await?;
    for slice in &slices.items {
        if let Some(svc) = slice.labels().get(SERVICE_NAME_LABEL) {
            orphans.insert((slice.namespace().unwrap_or_default(), svc.clone()));
        }
    }
    orphans.retain(|(ns, name)| !listed.contains(&key(ns, name)));
    for (ns, name) in orphans {
        let exists = Api::<Service>::namespaced(client.clone(), &ns)
            .get_opt(&name)
            .await?
            .is_some();
        if !exists {
            tracing::debug!(service = %key(&ns, &name), "removing endpoints left by a deleted service");
            write::remove_managed(client, &ns, &name, None, true).await?;
        }
    }
    Ok(())
}
