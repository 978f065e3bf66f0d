//! Hollow nodes (the idea of Kubernetes' kubemark and KWOK): many simulated nodes in one
//! process, for measuring the control plane at scale without machines.
//!
//! Each hollow node registers a Node (given capacity and labels, Ready, label
//! `tutti.dev/hollow=true`), keeps its Lease in `kube-node-lease` fresh, moves the pods the
//! scheduler binds to it to Running (status only: no container exists), and finishes their
//! deletion when they are deleted. A node costs a name, a Lease and a few hundred bytes of
//! state here; the pods are one shared watch for all of them, not one per node.
//!
//! It speaks the API as any agent does (create Node/Lease, patch pod status, delete pods),
//! so every write passes the API server's admission and the store like a real agent's.
//! Authorization: one identity for all of them, so it needs a credential that may act for
//! every node (the admin kubeconfig).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::error::AgentError;
use crate::{kubetime, lease};

/// The label every hollow node carries (real agents skip such nodes for routes).
pub const HOLLOW_LABEL: &str = "tutti.dev/hollow";

/// What the hollow nodes look like and how they behave.
#[derive(Clone, Debug)]
pub struct HollowConfig {
    /// How many nodes.
    pub count: usize,
    /// Node names are `<prefix><index>` (`hollow-0`, `hollow-1`, ...).
    pub prefix: String,
    /// Capacity (= allocatable) of each node.
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    /// Extra labels on every node.
    pub labels: BTreeMap<String, String>,
    /// The duration each node's Lease is created with; renewals come every quarter of the
    /// duration the leases carry (the server lengthens them in a large cluster), spread
    /// evenly over that interval.
    pub lease_duration: Duration,
    /// How many API writes are in flight at once.
    pub concurrency: usize,
}

impl Default for HollowConfig {
    fn default() -> Self {
        HollowConfig {
            count: 10,
            prefix: "hollow-".into(),
            cpu: "8".into(),
            memory: "32Gi".into(),
            pods: 110,
            labels: BTreeMap::new(),
            lease_duration: Duration::from_secs(10),
            concurrency: 32,
        }
    }
}

impl HollowConfig {
    pub fn name(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// A fake InternalIP for node `i` from 100.64.0.0/10 (shared address space: never
    /// routed here; real agents do not route to hollow nodes anyway).
    fn address(i: usize) -> Ipv4Addr {
        let i = (i as u32) & 0x003f_ffff;
        Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + i + 1)
    }
}

/// The Node object of hollow node `i`.
pub fn node_object(cfg: &HollowConfig, i: usize) -> Value {
    let name = cfg.name(i);
    let mut labels = cfg.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    labels.insert(HOLLOW_LABEL.into(), "true".into());
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": node_status(cfg, i),
    })
}

fn node_status(cfg: &HollowConfig, i: usize) -> Value {
    let now = json!(kubetime::now());
    let capacity = json!({"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.pods.to_string()});
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "hollow node is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now,
        }],
        "addresses": [
            {"type": "InternalIP", "address": HollowConfig::address(i).to_string()},
            {"type": "Hostname", "address": cfg.name(i)},
        ],
        "nodeInfo": {
            "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "hollow://0",
            "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": crate::node::KUBELET_VERSION,
            "machineID": "", "operatingSystem": "linux", "osImage": "hollow", "systemUUID": "",
        },
    })
}

/// Register every node and its Lease. Existing ones (a restart) get a fresh status.
async fn register(client: &kube::Client, cfg: &HollowConfig) -> Result<(), AgentError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let results: Vec<Result<(), kube::Error>> = stream::iter(0..cfg.count)
        .map(|i| {
            let (nodes, leases) = (nodes.clone(), leases.clone());
            async move {
                let obj: Node =
                    serde_json::from_value(node_object(cfg, i)).map_err(kube::Error::SerdeError)?;
                match nodes.create(&PostParams::default(), &obj).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        let status = json!({"status": node_status(cfg, i)});
                        nodes
                            .patch_status(
                                &cfg.name(i),
                                &PatchParams::default(),
                                &Patch::Merge(status),
                            )
                            .await?;
                    }
                    Err(e) => return Err(e),
                }
                let lease: Lease = serde_json::from_value(lease_object(cfg, i))
                    .map_err(kube::Error::SerdeError)?;
                match leases.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let failed: Vec<&kube::Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(e) = failed.first() {
        return Err(AgentError::Hollow(format!(
            "{} of {} hollow nodes could not register; first error: {e}",
            failed.len(),
            cfg.count
        )));
    }
    Ok(())
}

fn lease_object(cfg: &HollowConfig, i: usize) -> Value {
    let name = cfg.name(i);
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": cfg.lease_duration.as_secs().max(1),
            "renewTime": kubetime::micro_now(),
        },
    })
}

/// Renew every Lease once per quarter of its duration, spread evenly over the interval;
/// forever. The duration is the one the server's last renewals returned.
async fn renew_leases(client: kube::Client, cfg: Arc<HollowConfig>) {
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    // Ten slices per interval: each tick renews a tenth of the nodes.
    const SLICES: usize = 10;
    let tick_for = |duration| {
        let mut tick = tokio::time::interval(lease::renew_period(duration) / SLICES as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    };
    let mut duration = cfg.lease_duration;
    let mut tick = tick_for(duration);
    let mut slice = 0usize;
    loop {
        tick.tick().await;
        let names: Vec<String> = (0..cfg.count)
            .filter(|i| i % SLICES == slice)
            .map(|i| cfg.name(i))
            .collect();
        slice = (slice + 1) % SLICES;
        let results: Vec<Result<Lease, kube::Error>> = stream::iter(names)
            .map(|name| {
                let leases = leases.clone();
                async move {
                    let patch = json!({"spec": {"renewTime": kubetime::micro_now()}});
                    leases
                        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await
                }
            })
            .buffer_unordered(cfg.concurrency.max(1))
            .collect()
            .await;
        let mut failures = results.iter().filter_map(|r| r.as_ref().err());
        if let Some(e) = failures.next() {
            warn!(failed = failures.count() + 1, error = %e, "renewing hollow node leases failed");
        }
        // The shortest duration any lease carries: nobody renews late while the server is
        // still rewriting them.
        if let Some(shortest) = results
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(lease::lease_duration))
            .min()
            && shortest != duration
        {
            duration = shortest;
            tick = tick_for(duration);
            tick.tick().await; // an interval's first tick is immediate
        }
    }
}

/// What a hollow node does with a pod it is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodAction {
    /// Report it Running (and Ready) with this address.
    Start(Ipv4Addr),
    /// Finish its deletion (nothing runs, so there is nothing to stop).
    Finish,
    Nothing,
}

/// The pod's next step on hollow node number `node` (None: not one of ours).
pub fn pod_action(pod: &Pod, node: usize, seq: u32) -> PodAction {
    if pod.metadata.deletion_timestamp.is_some() {
        return PodAction::Finish;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending");
    if phase != "Pending" {
        return PodAction::Nothing;
    }
    // 10.128.0.0/9 split into a /20 per node: 4,094 addresses each, up to 2,048 nodes
    // before wrapping (addresses are only reported, never used).
    let base = u32::from(Ipv4Addr::new(10, 128, 0, 0));
    let node_part = ((node as u32) & 0x7ff) << 12;
    let host = (seq % 4094) + 1;
    PodAction::Start(Ipv4Addr::from(base + node_part + host))
}

fn running_status(pod: &Pod, node_ip: Ipv4Addr, pod_ip: Ipv4Addr) -> Value {
    let now = json!(kubetime::now());
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "containerID": format!("hollow://{}/{}", pod.metadata.uid.clone().unwrap_or_default(), c.name),
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    json!({"status": {
        "phase": "Running",
        "hostIP": node_ip.to_string(), "hostIPs": [{"ip": node_ip.to_string()}],
        "podIP": pod_ip.to_string(), "podIPs": [{"ip": pod_ip.to_string()}],
        "startTime": now,
        "conditions": [condition("PodScheduled"), condition("Initialized"),
                       condition("ContainersReady"), condition("Ready")],
        "containerStatuses": containers,
    }})
}

/// Pods seen and acted on, so repeated events do not repeat writes.
#[derive(Default)]
struct Seen {
    started: HashSet<String>,
    finished: HashSet<String>,
    per_node: HashMap<usize, u32>,
}

/// Watch every pod and act for the ones bound to hollow nodes; forever.
async fn drive_pods(client: kube::Client, cfg: Arc<HollowConfig>) {
    let index: Arc<HashMap<String, usize>> =
        Arc::new((0..cfg.count).map(|i| (cfg.name(i), i)).collect());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let pods: Api<Pod> = Api::all(client.clone());
    // Every pod, not `spec.nodeName!=`: a field selector makes the API server decode each
    // event for this watcher, which cost it more than the unbound pods cost here.
    let events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let work = events.filter_map(|event| {
        let index = index.clone();
        let seen = seen.clone();
        async move {
            let pod = match event {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "hollow nodes: pod watch failed; retrying");
                    return None;
                }
            };
            let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())?;
            let i = *index.get(node)?;
            let uid = pod.metadata.uid.clone()?;
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let seq = seen.per_node.entry(i).or_default();
            *seq += 1;
            let action = pod_action(&pod, i, *seq);
            let fresh = match &action {
                PodAction::Start(_) => seen.started.insert(uid.clone()),
                PodAction::Finish => seen.finished.insert(uid.clone()),
                PodAction::Nothing => false,
            };
            fresh.then_some((pod, i, action))
        }
    });
    let client = &client;
    let seen_for_cleanup = seen.clone();
    work.for_each_concurrent(cfg.concurrency.max(1), |(pod, i, action)| {
        let seen = seen_for_cleanup.clone();
        async move {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let result = match action {
                PodAction::Start(ip) => {
                    let status = running_status(&pod, HollowConfig::address(i), ip);
                    patch_status(client, &ns, &name, &status).await
                }
                PodAction::Finish => {
                    let dp = DeleteParams {
                        grace_period_seconds: Some(0),
                        preconditions: Some(Preconditions {
                            uid: pod.metadata.uid.clone(),
                            resource_version: None,
                        }),
                        ..DeleteParams::default()
                    };
                    let r = api.delete(&name, &dp).await.map(|_| ());
                    // Gone: forget it.
                    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(uid) = &pod.metadata.uid {
                        seen.started.remove(uid);
                        seen.finished.remove(uid);
                    }
                    r
                }
                PodAction::Nothing => Ok(()),
            };
            match result {
                Ok(()) => debug!(pod = %format!("{ns}/{name}"), node = i, "hollow pod step done"),
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(e) => {
                    warn!(pod = %format!("{ns}/{name}"), error = %e, "hollow pod step failed");
                    // Let the next event for it try again.
                    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(uid) = &pod.metadata.uid {
                        seen.started.remove(uid);
                        seen.finished.remove(uid);
                    }
                }
            }
        }
    })
    .await;
}

/// Merge-patch a pod's status without decoding the pod the API server answers with.
async fn patch_status(
    client: &kube::Client,
    ns: &str,
    name: &str,
    status: &Value,
) -> Result<(), kube::Error> {
    let request = kube::core::Request::new(Pod::url_path(&(), Some(ns)))
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .map_err(kube::Error::BuildRequest)?;
    client
        .request::<serde::de::IgnoredAny>(request)
        .await
        .map(|_| ())
}

/// Run `cfg.count` hollow nodes until the process ends.
pub async fn run(client: kube::Client, cfg: HollowConfig) -> Result<(), AgentError> {
    let started = std::time::Instant::now();
    register(&client, &cfg).await?;
    info!(
        nodes = cfg.count,
        prefix = %cfg.prefix,
        took_ms = started.elapsed().as_millis() as u64,
        "hollow nodes registered"
    );
    let cfg = Arc::new(cfg);
    let leases = tokio::spawn(renew_leases(client.clone(), cfg.clone()));
    drive_pods(client, cfg).await;
    leases.abort();
    Err(AgentError::Hollow(
        "the pod watch of the hollow nodes ended".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: Option<&str>, deleting: bool) -> Pod {
        let mut v = json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
        if let Some(p) = phase {
            v["status"] = json!({"phase": p});
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn pending_pods_start_deleted_ones_finish_running_ones_rest() {
        assert!(matches!(
            pod_action(&pod(None, false), 0, 1),
            PodAction::Start(_)
        ));
        assert!(matches!(
            pod_action(&pod(Some("Pending"), false), 0, 1),
            PodAction::Start(_)
        ));
        assert_eq!(
            pod_action(&pod(Some("Running"), false), 0, 1),
            PodAction::Nothing
        );
        assert_eq!(
            pod_action(&pod(Some("Running"), true), 0, 1),
            PodAction::Finish
        );
    }

    #[test]
    fn pod_addresses_differ_per_node_and_pod() {
        let p = pod(None, false);
        let a = pod_action(&p, 0, 1);
        let b = pod_action(&p, 0, 2);
        let c = pod_action(&p, 1, 1);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, PodAction::Start(Ipv4Addr::new(10, 128, 0, 2)));
        assert_eq!(c, PodAction::Start(Ipv4Addr::new(10, 128, 16, 2)));
    }

    #[test]
    fn nodes_carry_capacity_labels_and_a_fake_address() {
        let cfg = HollowConfig::default();
        let n = node_object(&cfg, 3);
        assert_eq!(n["metadata"]["name"], "hollow-3");
        assert_eq!(n["metadata"]["labels"][HOLLOW_LABEL], "true");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/hostname"],
            "hollow-3"
        );
        assert_eq!(n["status"]["allocatable"]["cpu"], "8");
        assert_eq!(n["status"]["addresses"][0]["address"], "100.64.0.4");
        let node: Node = serde_json::from_value(n).unwrap();
        assert_eq!(node.metadata.name.as_deref(), Some("hollow-3"));
    }
}
