//! The garbage collector: keeps a graph of every object's ownerReferences (fed by one watch
//! per kind) and deletes dependents whose owners are all gone. Deletion propagation:
//! - Background: the owner is deleted at once; its dependents are collected here after.
//! - Foreground (`foregroundDeletion` finalizer on the owner): dependents are deleted first,
//!   then the finalizer is removed and the owner goes.
//! - Orphan (`orphan` finalizer): the owner's reference is removed from its dependents, then
//!   the finalizer is removed.
//!
//! Before deleting a dependent whose owner is missing from the graph, the owner is looked up
//! live (by name, checking the uid), so a dependent created just before the watch has seen
//! its owner is never collected by mistake.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tutti_core::registry::{RESOURCES, ResourceInfo};

use crate::kinds::{api_for, by_owner, metadata_api_for};

/// One object as the collector sees it.
#[derive(Debug, Clone)]
struct Node {
    info: &'static ResourceInfo,
    namespace: Option<String>,
    name: String,
    owners: Vec<Owner>,
    finalizers: Vec<String>,
    deleting: bool,
}

#[derive(Debug, Clone)]
struct Owner {
    uid: String,
    api_version: String,
    kind: String,
    name: String,
}

#[derive(Default)]
struct Graph {
    nodes: BTreeMap<String, Node>,
    /// owner uid → dependent uids
    dependents: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Insert or replace; returns uids to look at again.
    fn upsert(&mut self, uid: String, node: Node) -> Vec<String> {
        let mut touched = vec![uid.clone()];
        if let Some(old) = self.nodes.get(&uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(&uid);
                }
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
            // Only an owner being deleted waits on its dependents; looking at any other owner
            // on every change of one of its pods would cost O(pods) per change.
            if self.nodes.get(&o.uid).is_some_and(|n| n.deleting) {
                touched.push(o.uid.clone());
            }
        }
        self.nodes.insert(uid, node);
        touched
    }

    /// Remove; returns uids to look at again (its dependents and owners).
    fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut touched: Vec<String> = self
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        if let Some(old) = self.nodes.remove(uid) {
            for o in &old.owners {
                if let Some(d) = self.dependents.get_mut(&o.uid) {
                    d.remove(uid);
                    if d.is_empty() {
                        self.dependents.remove(&o.uid);
                    }
                }
                touched.push(o.uid.clone());
            }
        }
        touched
    }
}

fn node_of(info: &'static ResourceInfo, meta: &ObjectMeta) -> Option<(String, Node)> {
    let uid = meta.uid.clone()?;
    let owners = meta
        .owner_references
        .iter()
        .flatten()
        .map(|o| Owner {
            uid: o.uid.clone(),
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
        .collect();
    Some((
        uid,
        Node {
            info,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            owners,
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        },
    ))
}

struct Collector {
    client: kube::Client,
    graph: Mutex<Graph>,
    queue: mpsc::UnboundedSender<String>,
    queued: Mutex<HashSet<String>>,
}

impl Collector {
    fn enqueue(&self, uids: impl IntoIterator<Item = String>) {
        let Ok(mut q) = self.queued.lock() else {
            return;
        };
        for uid in uids {
            if q.insert(uid.clone()) {
                let _ = self.queue.send(uid);
            }
        }
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        // A poisoned lock only means another task panicked mid-update; the graph is rebuilt
        // by the next relist, so carrying on with its contents is safe.
        self.graph.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether the collector follows a kind: all but Events, as Kubernetes' collector by
/// default (one per scheduled pod and more; they expire by their TTL instead).
fn collected(info: &ResourceInfo) -> bool {
    !(info.plural == "events" && matches!(info.group, "" | "events.k8s.io"))
}

/// Start the collector: one metadata watch per kind and one worker.
pub fn spawn(client: kube::Client) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gc = Arc::new(Collector {
        client,
        graph: Mutex::default(),
        queue: tx,
        queued: Mutex::default(),
    });
    for info in RESOURCES.iter().filter(|info| collected(info)) {
        tokio::spawn(watch_kind(gc.clone(), info));
    }
    tokio::spawn(async move {
        while let Some(uid) = rx.recv().await {
            if let Ok(mut q) = gc.queued.lock() {
                q.remove(&uid);
            }
            if let Err(e) = process(&gc, &uid).await {
                tracing::debug!(%uid, error = %e, "garbage collection will retry");
                let gc = gc.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    gc.enqueue([uid]);
                });
            }
        }
    });
}

async fn watch_kind(gc: Arc<Collector>, info: &'static ResourceInfo) {
    let api = metadata_api_for(&gc.client, info);
    // Metadata only (PartialObjectMetadata): owners, finalizers and deletion are all the
    // graph keeps, and whole objects of every kind cost the server and this decode.
    let mut stream = watcher(api, watcher::Config::default()).boxed();
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!(kind = info.kind, error = %e, "watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let touched = match ev {
            watcher::Event::Init => {
                seen.clear();
                vec![]
            }
            watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                match node_of(info, &obj.metadata) {
                    Some((uid, node)) => {
                        seen.insert(uid.clone());
                        gc.graph().upsert(uid, node)
                    }
                    None => vec![],
                }
            }
            watcher::Event::Delete(obj) => match obj.metadata.uid {
                Some(uid) => gc.graph().remove(&uid),
                None => vec![],
            },
            watcher::Event::InitDone => {
                let mut g = gc.graph();
                let stale: Vec<String> = g
                    .nodes
                    .iter()
                    .filter(|(u, n)| std::ptr::eq(n.info, info) && !seen.contains(*u))
                    .map(|(u, _)| u.clone())
                    .collect();
                let mut touched = Vec::new();
                for uid in stale {
                    touched.extend(g.remove(&uid));
                }
                // Everything with owners gets one look after a (re)list.
                touched.extend(
                    g.nodes
                        .iter()
                        .filter(|(_, n)| !n.owners.is_empty() || n.deleting)
                        .map(|(u, _)| u.clone()),
                );
                touched
            }
        };
        gc.enqueue(touched);
    }
}

async fn process(gc: &Collector, uid: &str) -> Result<(), kube::Error> {
    let (node, dependents) = {
        let g = gc.graph();
        let Some(node) = g.nodes.get(uid).cloned() else {
            return Ok(());
        };
        // Only a deleting owner acts on its dependents: copy them only then.
        let deps: Vec<(String, Node)> = if node.deleting {
            g.dependents
                .get(uid)
                .into_iter()
                .flatten()
                .filter_map(|d| g.nodes.get(d).map(|n| (d.clone(), n.clone())))
                .collect()
        } else {
            Vec::new()
        };
        (node, deps)
    };
    if node.deleting && node.finalizers.iter().any(|f| f == "orphan") {
        for (_, dep) in &dependents {
            // Keep the other references whole (controller, blockOwnerDeletion) by re-reading them.
            let api = api_for(&gc.client, dep.info, dep.namespace.as_deref());
            let current = api.get(&dep.name).await?;
            let kept: Vec<_> = current
                .metadata
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o.uid != uid)
                .collect();
            let patch = json!({"metadata": {"ownerReferences": if kept.is_empty() { Value::Null } else { serde_json::to_value(&kept).unwrap_or(Value::Null) }}});
            api.patch(&dep.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        remove_finalizer(gc, &node, "orphan").await?;
        return Ok(());
    }
    if node.deleting && node.finalizers.iter().any(|f| f == "foregroundDeletion") {
        if dependents.is_empty() {
            remove_finalizer(gc, &node, "foregroundDeletion").await?;
        } else {
            for (dep_uid, dep) in &dependents {
                if !dep.deleting {
                    delete(gc, dep, dep_uid, PropagationPolicy::Foreground).await?;
                }
            }
        }
        return Ok(());
    }
    if node.owners.is_empty() || node.deleting {
        return Ok(());
    }
    // A dependent: collect it when none of its owners exists any more.
    for owner in &node.owners {
        let known = gc.graph().nodes.get(&owner.uid).cloned();
        match known {
            Some(o) if o.deleting && o.finalizers.iter().any(|f| f == "foregroundDeletion") => {
                delete(gc, &node, uid, PropagationPolicy::Foreground).await?;
                return Ok(());
            }
            Some(_) => return Ok(()),
            None => {
                if owner_exists(gc, &node, owner).await? {
                    return Ok(());
                }
            }
        }
    }
    tracing::info!(kind = node.info.kind, name = %node.name, namespace = ?node.namespace, "collecting orphaned dependent");
    delete(gc, &node, uid, PropagationPolicy::Background).await
}

async fn owner_exists(gc: &Collector, node: &Node, owner: &Owner) -> Result<bool, kube::Error> {
    let Some(info) = by_owner(&owner.api_version, &owner.kind) else {
        // An owner kind we do not serve cannot exist here.
        return Ok(false);
    };
    let ns = if info.namespaced {
        node.namespace.as_deref()
    } else {
        None
    };
    match api_for(&gc.client, info, ns).get_opt(&owner.name).await? {
        Some(o) => Ok(o.metadata.uid.as_deref() == Some(owner.uid.as_str())),
        None => Ok(false),
    }
}

async fn delete(
    gc: &Collector,
    node: &Node,
    uid: &str,
    policy: PropagationPolicy,
) -> Result<(), kube::Error> {
    let api = api_for(&gc.client, node.info, node.namespace.as_deref());
    let dp = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&node.name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

async fn remove_finalizer(gc: &Collector, node: &Node, finalizer: &str) -> Result<(), kube::Error> {
    let api = api_for(&gc.client, node.info, node.namespace.as_deref());
    let current = match api.get_opt(&node.name).await? {
        Some(o) => o,
        None => return Ok(()),
    };
    let rest: Vec<String> = current
        .metadata
        .finalizers
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": current.metadata.resource_version}});
    match api
        .patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, owner: Option<&str>, deleting: bool) -> Node {
        let info = RESOURCES
            .iter()
            .find(|r| r.kind == kind)
            .expect("a served kind");
        Node {
            info,
            namespace: Some("default".into()),
            name: kind.to_lowercase(),
            owners: owner
                .map(|uid| Owner {
                    uid: uid.into(),
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: "rs".into(),
                })
                .into_iter()
                .collect(),
            finalizers: Vec::new(),
            deleting,
        }
    }

    #[test]
    fn a_dependent_change_wakes_its_owner_only_while_the_owner_is_deleted() {
        let mut g = Graph::default();
        g.upsert("rs".into(), node("ReplicaSet", None, false));
        // A live owner is not looked at for every change of one of its many pods.
        assert_eq!(
            g.upsert("p1".into(), node("Pod", Some("rs"), false)),
            vec!["p1".to_string()]
        );
        g.upsert("rs".into(), node("ReplicaSet", None, true));
        assert_eq!(
            g.upsert("p1".into(), node("Pod", Some("rs"), true)),
            vec!["p1".to_string(), "rs".to_string()]
        );
        // A dependent gone always wakes its owners (foreground deletion waits for that).
        assert_eq!(g.remove("p1"), vec!["rs".to_string()]);
        assert!(!g.dependents.contains_key("rs"));
    }
}
