//! Re-adoption after an agent restart (even `kill -9`): before watching pods, ask every
//! driver what it runs. Containers of pods still bound to this node go to their pods'
//! workers, which adopt them as they are (running ones are not restarted); everything of
//! pods that are gone — containers, sandboxes, pod directories — is removed.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use tutti_runtime::{ContainerInfo, RuntimeDriver, SandboxInfo};

use crate::config::AgentConfig;

/// Grace given to containers of pods that no longer exist.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// What one driver runs for one pod.
#[derive(Clone)]
pub struct Found {
    pub driver: Arc<dyn RuntimeDriver>,
    pub containers: Vec<ContainerInfo>,
    pub sandboxes: Vec<SandboxInfo>,
}

/// Everything the drivers run, by pod uid.
#[derive(Clone, Default)]
pub struct Inventory {
    pods: BTreeMap<String, Vec<Found>>,
}

/// The distinct drivers of a config (the process driver may also be the default).
pub fn drivers(config: &AgentConfig) -> Vec<Arc<dyn RuntimeDriver>> {
    let mut out = vec![config.default_driver.clone()];
    if config.process_driver.name() != config.default_driver.name() {
        out.push(config.process_driver.clone());
    }
    out
}

impl Inventory {
    /// Ask every driver for its containers and sandboxes.
    pub async fn take_stock(drivers: &[Arc<dyn RuntimeDriver>]) -> Inventory {
        let mut inv = Inventory::default();
        for d in drivers {
            let containers = d.list().await.unwrap_or_else(|e| {
                warn!(driver = d.name(), error = %e, "cannot list containers to re-adopt");
                Vec::new()
            });
            let sandboxes = d.list_sandboxes().await.unwrap_or_else(|e| {
                warn!(driver = d.name(), error = %e, "cannot list sandboxes to re-adopt");
                Vec::new()
            });
            let mut by_pod: BTreeMap<String, Found> = BTreeMap::new();
            let empty = || Found {
                driver: d.clone(),
                containers: Vec::new(),
                sandboxes: Vec::new(),
            };
            for c in containers {
                by_pod
                    .entry(c.pod_uid.clone())
                    .or_insert_with(empty)
                    .containers
                    .push(c);
            }
            for s in sandboxes {
                by_pod
                    .entry(s.pod_uid.clone())
                    .or_insert_with(empty)
                    .sandboxes
                    .push(s);
            }
            for (uid, found) in by_pod {
                info!(driver = d.name(), uid = %uid, containers = found.containers.len(), "found pod containers");
                inv.pods.entry(uid).or_default().push(found);
            }
        }
        inv
    }

    /// Hand a pod's containers to its worker.
    pub fn take(&mut self, uid: &str) -> Vec<Found> {
        self.pods.remove(uid).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

/// Pod directories (on disk and tmpfs) of pods not in `desired`. Listed synchronously so
/// pods that appear later are not mistaken for leftovers.
pub fn leftover_dirs(config: &AgentConfig, desired: &HashSet<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in [config.data_dir.join("pods"), config.shm_dir.clone()] {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !desired.contains(&name) && e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Remove what belongs to pods that are gone.
pub async fn remove_orphans(orphans: Inventory, desired: &HashSet<String>, dirs: Vec<PathBuf>) {
    for (uid, found) in orphans.pods {
        if desired.contains(&uid) {
            continue;
        }
        for f in found {
            remove_pod_containers(&f, &uid).await;
        }
    }
    for d in dirs {
        info!(dir = %d.display(), "removing leftover pod directory");
        if let Err(e) = tokio::fs::remove_dir_all(&d).await {
            warn!(dir = %d.display(), error = %e, "cannot remove leftover pod directory");
        }
    }
}

/// Stop and remove one driver's containers and sandbox of pod `uid`.
pub async fn remove_pod_containers(f: &Found, uid: &str) {
    let d = &f.driver;
    for c in &f.containers {
        info!(driver = d.name(), uid = %uid, container = %c.name, id = %c.id, "removing container of a pod that is gone");
        if let Err(e) = d.stop_container(&c.id, ORPHAN_GRACE).await {
            warn!(driver = d.name(), id = %c.id, error = %e, "cannot stop container");
        }
        if let Err(e) = d.remove_container(&c.id).await {
            warn!(driver = d.name(), id = %c.id, error = %e, "cannot remove container");
        }
    }
    if !f.sandboxes.is_empty()
        && let Err(e) = d.remove_sandbox(uid).await
    {
        warn!(driver = d.name(), uid = %uid, error = %e, "cannot remove sandbox");
    }
}
