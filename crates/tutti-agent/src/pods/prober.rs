//! Probe tasks: one per (container, probe), running after the probe's initial delay on its
//! period and reporting every result to the pod worker, which counts them (`probes`).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::actions::{self, Target};
use super::probes::{ProbeKind, Timing};

/// One probe run's result.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub container_id: String,
    pub kind: ProbeKind,
    pub result: Result<(), String>,
}

/// The probe tasks of one pod. Dropping it stops them all.
pub struct ProbeSet {
    tasks: JoinSet<()>,
    by_container: HashMap<String, Vec<(ProbeKind, AbortHandle)>>,
    tx: mpsc::Sender<ProbeResult>,
}

impl ProbeSet {
    pub fn new() -> (ProbeSet, mpsc::Receiver<ProbeResult>) {
        let (tx, rx) = mpsc::channel(64);
        let set = ProbeSet {
            tasks: JoinSet::new(),
            by_container: HashMap::new(),
            tx,
        };
        (set, rx)
    }

    /// Whether `kind` already runs for the container.
    pub fn running(&self, container_id: &str, kind: ProbeKind) -> bool {
        self.by_container
            .get(container_id)
            .is_some_and(|v| v.iter().any(|(k, _)| *k == kind))
    }

    /// Start probing the container with `probe`.
    pub fn start(&mut self, kind: ProbeKind, probe: Probe, target: Target) {
        while self.tasks.try_join_next().is_some() {}
        let tx = self.tx.clone();
        let id = target.container_id.clone();
        let handle = self.tasks.spawn(async move {
            let timing = Timing::of(&probe);
            tokio::time::sleep(timing.initial_delay).await;
            loop {
                // The driver's exec honours the timeout; the outer one guards the rest.
                let run = actions::probe(&target, &probe, timing.timeout);
                let result = tokio::time::timeout(timing.timeout + Duration::from_secs(1), run)
                    .await
                    .unwrap_or_else(|_| Err("probe timed out".to_string()));
                let report = ProbeResult {
                    container_id: target.container_id.clone(),
                    kind,
                    result,
                };
                if tx.send(report).await.is_err() {
                    return;
                }
                tokio::time::sleep(timing.period).await;
            }
        });
        self.by_container
            .entry(id)
            .or_default()
            .push((kind, handle));
    }

    /// Stop one probe of one container.
    pub fn stop_kind(&mut self, container_id: &str, kind: ProbeKind) {
        if let Some(list) = self.by_container.get_mut(container_id) {
            list.retain(|(k, h)| {
                if *k == kind {
                    h.abort();
                }
                *k != kind
            });
        }
    }

    /// Stop every probe of one container.
    pub fn stop(&mut self, container_id: &str) {
        for (_, h) in self.by_container.remove(container_id).into_iter().flatten() {
            h.abort();
        }
    }

    /// Stop every probe of the pod.
    pub fn stop_all(&mut self) {
        self.by_container.clear();
        self.tasks.abort_all();
    }
}
