//! One pod's worker: it owns what the agent knows about the pod (sandbox, container
//! records, probe tasks) and loops — take the latest pod, sync it one step, report its
//! status, then wait for a pod update, a probe result or the next tick.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, info_span, warn};
use tutti_client::EventType;
use tutti_runtime::{ContainerInfo, ContainerState as RtState, RuntimeDriver, SandboxInfo};

use super::driver_fit::{self, Fit};
use super::prober::{ProbeResult, ProbeSet};
use super::record::ContainerRecord;
use super::sync::{self, KillReason, RestartPolicy, Step};
use super::volumes::Planned;
use super::{PodUpdate, Shared};
use crate::adopt::Found;
use crate::kubetime;

/// How long a finished (Succeeded/Failed) pod's worker sleeps between checks.
const IDLE: Duration = Duration::from_secs(60);

pub(crate) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) uid: String,
    pub(super) driver: Arc<dyn RuntimeDriver>,
    rx: watch::Receiver<PodUpdate>,
    pub(super) pod: Arc<Pod>,
    pub(super) sandbox: Option<SandboxInfo>,
    pub(super) init: Vec<ContainerRecord>,
    pub(super) app: Vec<ContainerRecord>,
    pub(super) volumes: Option<Vec<Planned>>,
    pub(super) fit: Fit,
    pub(super) probes: ProbeSet,
    probe_rx: mpsc::Receiver<ProbeResult>,
    pub(super) start_time: Time,
    /// App containers have run: the init containers are done.
    pub(super) initialized: bool,
    /// The resourceVersion of our last status write (older pod versions are ignored).
    pub(super) written_rv: Option<u64>,
    /// The earliest time a back-off ends.
    pub(super) wake_at: Option<SystemTime>,
    /// The last sandbox/volume setup failure: when to retry, and its message.
    pub(super) setup_failure: Option<(SystemTime, String)>,
    /// The phase last reported.
    pub(super) phase: String,
    /// Attempts found on adoption that are too old to keep, or not in the spec.
    pub(super) stale: Vec<ContainerInfo>,
    /// What other drivers run for this pod (removed on the first sync).
    pub(super) foreign: Vec<Found>,
}

pub(super) fn resource_version(pod: &Pod) -> Option<u64> {
    pod.metadata.resource_version.as_deref()?.parse().ok()
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        pod: Arc<Pod>,
        rx: watch::Receiver<PodUpdate>,
        adopted: Vec<Found>,
    ) -> Worker {
        let driver = shared.driver_for(&pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let base = shared.config.backoff_base;
        let record = |init| move |c| ContainerRecord::new(c, init, base);
        let init = spec.init_containers.unwrap_or_default();
        let process_requested = spec.runtime_class_name.as_deref() == Some("process");
        let fit = driver_fit::check(
            &pod,
            &driver.capabilities(),
            driver.name(),
            process_requested,
            shared.agent_uid,
        );
        let (probes, probe_rx) = ProbeSet::new();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let mut w = Worker {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            init: init.into_iter().map(record(true)).collect(),
            app: spec.containers.into_iter().map(record(false)).collect(),
            start_time: pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.clone())
                .unwrap_or_else(kubetime::now),
            shared,
            driver,
            rx,
            pod,
            sandbox: None,
            volumes: None,
            fit,
            probes,
            probe_rx,
            initialized: false,
            written_rv: None,
            wake_at: None,
            setup_failure: None,
            // A pod that finished before (say, before an agent restart) is never run again.
            phase,
            stale: Vec::new(),
            foreign: Vec::new(),
        };
        w.adopt(adopted);
        w
    }

    /// `namespace/name`.
    pub(super) fn key(&self) -> String {
        format!(
            "{}/{}",
            self.pod.metadata.namespace.as_deref().unwrap_or(""),
            self.pod.metadata.name.as_deref().unwrap_or("")
        )
    }

    /// `name_namespace(uid)`, as kubelet names pods in messages.
    pub(super) fn pod_desc(&self) -> String {
        format!(
            "{}_{}({})",
            self.pod.metadata.name.as_deref().unwrap_or(""),
            self.pod.metadata.namespace.as_deref().unwrap_or(""),
            self.uid
        )
    }

    pub(super) fn records(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.init.iter().chain(self.app.iter())
    }

    pub(super) fn record_mut(&mut self, name: &str) -> Option<&mut ContainerRecord> {
        self.init
            .iter_mut()
            .chain(self.app.iter_mut())
            .find(|r| r.name() == name)
    }

    pub(super) fn pod_ip(&self) -> String {
        self.sandbox
            .as_ref()
            .map(|s| s.ip.clone())
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(|| self.shared.config.node_ip.clone())
    }

    pub(super) async fn event(
        &self,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        self.shared
            .event(&self.pod, container, kind, reason, message)
            .await;
    }

    /// Accept a newer version of the pod (older ones, from before our last write, are not).
    fn accept(&mut self, pod: Arc<Pod>) {
        match (resource_version(&pod), self.written_rv) {
            (Some(new), Some(ours)) if new < ours => {}
            _ => self.pod = pod,
        }
    }

    pub async fn run(mut self) -> String {
        let span = info_span!("pod", pod = %self.key(), uid = %self.uid);
        async move {
            debug!(driver = self.driver.name(), "pod worker started");
            loop {
                let update = self.rx.borrow_and_update().clone();
                let wait = match update {
                    PodUpdate::Gone(pod) => {
                        self.pod = pod;
                        self.terminate(false).await;
                        break;
                    }
                    PodUpdate::Present(pod) => {
                        self.accept(pod);
                        if self.pod.metadata.deletion_timestamp.is_some() {
                            if self.terminate(true).await {
                                break;
                            }
                            Duration::from_secs(2)
                        } else {
                            self.sync().await;
                            self.report(false).await;
                            self.next_wake()
                        }
                    }
                };
                tokio::select! {
                    changed = self.rx.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    Some(result) = self.probe_rx.recv() => self.on_probe(result).await,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            self.probes.stop_all();
            debug!("pod worker done");
            self.uid.clone()
        }
        .instrument(span)
        .await
    }

    fn terminal(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }

    fn next_wake(&self) -> Duration {
        if self.terminal() {
            return IDLE;
        }
        let tick = self.shared.config.sync_period;
        let until_backoff = self
            .wake_at
            .and_then(|t| t.duration_since(SystemTime::now()).ok());
        match until_backoff {
            Some(d) => d.min(tick),
            None => tick,
        }
    }

    /// One step towards the spec.
    async fn sync(&mut self) {
        self.wake_at = None;
        self.refresh().await;
        if self.terminal() {
            self.probes.stop_all();
            return;
        }
        self.remove_leftovers().await;
        if !self.ensure_sandbox().await || !self.ensure_volumes().await {
            return;
        }
        // Probes of re-adopted containers start once the pod IP is known.
        let names: Vec<String> = self.records().map(|r| r.name().to_string()).collect();
        for name in &names {
            self.start_probes(name);
        }
        self.apply_image_changes().await;
        if self.app.iter().any(|r| r.current().is_some()) {
            self.initialized = true;
        }
        let policy = RestartPolicy::parse(
            self.pod
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref()),
        );
        let init: Vec<_> = self.init.iter().map(ContainerRecord::view).collect();
        let app: Vec<_> = self.app.iter().map(ContainerRecord::view).collect();
        for step in sync::decide(policy, &init, &app, self.initialized) {
            match step {
                Step::Start(name) => self.start(&name).await,
                Step::Kill(name, reason) => self.kill(&name, reason).await,
            }
        }
    }

    /// Ask the driver how the containers that may have changed are doing.
    pub(super) async fn refresh(&mut self) {
        let driver = self.driver.clone();
        let mut exited = Vec::new();
        for rec in self.init.iter_mut().chain(self.app.iter_mut()) {
            let Some(current) = rec.attempts.last_mut() else {
                continue;
            };
            if matches!(current.state, RtState::Exited { .. }) {
                continue;
            }
            match driver.inspect(&current.id).await {
                Ok(info) => current.state = info.state,
                Err(tutti_runtime::RuntimeError::NotFound { .. }) => {
                    let started_at = match current.state {
                        RtState::Running { started_at } => Some(started_at),
                        _ => None,
                    };
                    current.state = RtState::Exited {
                        exit_code: 137,
                        reason: Some("ContainerStatusUnknown".to_string()),
                        started_at,
                        finished_at: SystemTime::now(),
                    };
                }
                Err(e) => warn!(container = %rec.spec.name, error = %e, "inspect failed"),
            }
            if let Some(c) = rec
                .current()
                .filter(|c| matches!(c.state, RtState::Exited { .. }))
            {
                exited.push(c.id.clone());
            }
        }
        for id in exited {
            self.probes.stop(&id);
        }
    }

    /// The image is the one container field a pod update may change: take the new spec,
    /// and kill a running container so it restarts with it, as kubelet does.
    async fn apply_image_changes(&mut self) {
        let spec = self.pod.spec.clone().unwrap_or_default();
        let new: Vec<_> = spec
            .init_containers
            .into_iter()
            .flatten()
            .chain(spec.containers)
            .collect();
        let mut changed = Vec::new();
        for rec in self.init.iter_mut().chain(self.app.iter_mut()) {
            if let Some(c) = new.iter().find(|c| c.name == rec.spec.name)
                && c.image != rec.spec.image
            {
                rec.spec = c.clone();
                rec.retry_backoff.succeeded();
                if rec.running() {
                    changed.push(rec.spec.name.clone());
                }
            }
        }
        for name in changed {
            self.kill(&name, KillReason::SpecChanged).await;
        }
    }

    /// Remove attempts found on adoption that are not kept, and other drivers' containers.
    async fn remove_leftovers(&mut self) {
        for c in std::mem::take(&mut self.stale) {
            if let Err(e) = self.driver.remove_container(&c.id).await {
                warn!(id = %c.id, error = %e, "cannot remove old container");
            }
        }
        for f in std::mem::take(&mut self.foreign) {
            crate::adopt::remove_pod_containers(&f, &self.uid).await;
        }
    }
}
