//! The namespace controller: when a Namespace is terminating, delete every object in it,
//! and once nothing is left, clear its `kubernetes` finalizer through `/finalize` so the API
//! server removes it.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use tokio::sync::mpsc;
use tutti_core::registry::RESOURCES;

use crate::kinds::api_for;

pub fn spawn(client: kube::Client) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let watch_tx = tx.clone();
    tokio::spawn(async move {
        let mut stream = watcher(namespaces, watcher::Config::default()).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Apply(ns)) | Ok(watcher::Event::InitApply(ns)) => {
                    if ns.metadata.deletion_timestamp.is_some() {
                        let _ = watch_tx.send(ns.metadata.name.unwrap_or_default());
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "namespace watch failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(name) = rx.recv().await {
            match finalize(&client, &name).await {
                Ok(true) => tracing::info!(namespace = %name, "namespace emptied and finalized"),
                Ok(false) | Err(_) => {
                    // Content is still going away (or a call failed): look again shortly.
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = tx.send(name);
                    });
                }
            }
        }
    });
}

/// Delete what is left in the namespace; true once it was empty and has been finalized.
async fn finalize(client: &kube::Client, name: &str) -> Result<bool, kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let Some(mut ns) = namespaces.get_opt(name).await? else {
        return Ok(true);
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(true);
    }
    let mut remaining = 0;
    for info in RESOURCES.iter().filter(|r| r.namespaced) {
        let api = api_for(client, info, Some(name));
        // One name is enough to know whether anything is left (listing every object of
        // a kind each second kept the server busy while it deleted them).
        let list = api.list_metadata(&ListParams::default().limit(1)).await?;
        remaining += list.items.len();
        if !list.items.is_empty() {
            api.delete_collection(&DeleteParams::background(), &ListParams::default())
                .await?;
        }
    }
    if remaining > 0 {
        return Ok(false);
    }
    if let Some(spec) = ns.spec.as_mut() {
        spec.finalizers = Some(vec![]);
    }
    namespaces
        .replace_subresource("finalize", name, &PostParams::default(), &ns)
        .await?;
    Ok(true)
}
