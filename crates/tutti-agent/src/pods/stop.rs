//! Stopping containers gracefully — one container (a failed liveness/startup probe, a
//! finished pod's sidecar) or a whole pod being deleted: preStop hook, then SIGTERM and
//! the rest of the grace period, then SIGKILL (the driver's `stop_container`). A deleted
//! pod's containers, sandbox and volume directories are then removed, and the pod is
//! deleted from the API for good (grace 0, uid precondition).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Preconditions};
use tracing::{info, warn};
use tutti_client::EventType;
use tutti_runtime::RuntimeDriver;

use super::actions::Target;
use super::probes::ProbeKind;
use super::sync::KillReason;
use super::worker::Worker;
use super::{Shared, hooks, volume_setup};

/// kubelet's minimum grace: after a preStop hook, and for pods deleted outright.
const MIN_GRACE: Duration = Duration::from_secs(2);

/// A running container to stop.
struct Victim {
    name: String,
    id: String,
    spec: Container,
    target: Target,
    message: String,
}

/// preStop, then SIGTERM → grace → SIGKILL, all before `deadline`.
async fn stop_container(
    shared: &Shared,
    pod: &Pod,
    driver: &dyn RuntimeDriver,
    v: &Victim,
    deadline: Instant,
) {
    shared
        .event(pod, Some(&v.name), EventType::Normal, "Killing", &v.message)
        .await;
    let pre_stop = v.spec.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref());
    if let Some(hook) = pre_stop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if let Err(e) = hooks::run(hook, &v.target, remaining).await {
            let msg = format!("PreStopHook failed: {e}");
            shared
                .event(
                    pod,
                    Some(&v.name),
                    EventType::Warning,
                    "FailedPreStopHook",
                    &msg,
                )
                .await;
        }
    }
    let mut grace = deadline.saturating_duration_since(Instant::now());
    if pre_stop.is_some() {
        grace = grace.max(MIN_GRACE);
    }
    info!(container = %v.name, id = %v.id, grace_secs = grace.as_secs(), "stopping container");
    if let Err(e) = driver.stop_container(&v.id, grace).await {
        warn!(container = %v.name, id = %v.id, error = %e, "stop failed");
    }
}

impl Worker {
    fn victim(&self, name: &str, message: String) -> Option<Victim> {
        let rec = self.records().find(|r| r.name() == name && r.running())?;
        let id = rec.current()?.id.clone();
        Some(Victim {
            name: name.to_string(),
            target: self.target(&rec.spec, &id),
            spec: rec.spec.clone(),
            id,
            message,
        })
    }

    /// Stop one running container; it is restarted (or not) per the restart policy.
    pub(super) async fn kill(&mut self, name: &str, reason: KillReason) {
        let unhealthy = self
            .records()
            .find(|r| r.name() == name)
            .and_then(|r| r.unhealthy.clone());
        let (message, probe_grace) = match (reason, &unhealthy) {
            (KillReason::Unhealthy, Some((kind, _))) => {
                let which = if *kind == ProbeKind::Startup {
                    "startup"
                } else {
                    "liveness"
                };
                let grace = self
                    .records()
                    .find(|r| r.name() == name)
                    .and_then(|r| kind.of(&r.spec))
                    .and_then(|p| p.termination_grace_period_seconds);
                (
                    format!("Container {name} failed {which} probe, will be restarted"),
                    grace,
                )
            }
            (KillReason::SpecChanged, _) => (
                format!("Container {name} definition changed, will be restarted"),
                None,
            ),
            _ => (format!("Stopping container {name}"), None),
        };
        let grace = probe_grace
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or_else(|| self.grace_period());
        if let Some(v) = self.victim(name, message) {
            self.probes.stop(&v.id);
            let deadline = Instant::now() + grace;
            stop_container(&self.shared, &self.pod, self.driver.as_ref(), &v, deadline).await;
        }
        if let Some(rec) = self.record_mut(name) {
            rec.unhealthy = None;
        }
        self.refresh().await;
    }

    /// Tear the pod down. `from_api`: it has a deletionTimestamp and is deleted from the
    /// API once everything is gone; otherwise it is already gone from the API. Returns
    /// whether the pod is done with.
    pub(super) async fn terminate(&mut self, from_api: bool) -> bool {
        let meta_grace = self.pod.metadata.deletion_grace_period_seconds;
        let mut grace = meta_grace
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or_else(|| self.grace_period());
        if !from_api {
            grace = grace.max(MIN_GRACE);
        }
        self.probes.stop_all();
        let deadline = Instant::now() + grace;
        // App containers (and plain init containers) first, in parallel; sidecars after.
        for sidecars in [false, true] {
            let names: Vec<String> = self
                .records()
                .filter(|r| r.sidecar == sidecars && r.running())
                .map(|r| r.name().to_string())
                .collect();
            let victims: Vec<Victim> = names
                .iter()
                .filter_map(|n| self.victim(n, format!("Stopping container {n}")))
                .collect();
            let stops = victims.iter().map(|v| {
                stop_container(&self.shared, &self.pod, self.driver.as_ref(), v, deadline)
            });
            futures::future::join_all(stops).await;
        }
        self.refresh().await;
        // Clean up before the last status write: the API server may remove a terminating
        // pod on any write.
        self.remove_everything().await;
        if from_api {
            self.report(true).await;
        }
        if !from_api {
            info!("pod is gone; cleaned up");
            return true;
        }
        let meta = &self.pod.metadata;
        let api: Api<Pod> = Api::namespaced(
            self.shared.client.clone(),
            meta.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(meta.name.as_deref().unwrap_or(""), &params)
            .await
        {
            Ok(_) => {
                info!("pod stopped and deleted");
                true
            }
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
            Err(e) => {
                warn!(error = %e, "cannot delete the stopped pod; will retry");
                false
            }
        }
    }

    /// Remove every container attempt, the sandbox and the pod's directories.
    async fn remove_everything(&mut self) {
        let stale = std::mem::take(&mut self.stale);
        let ids: Vec<String> = self
            .records()
            .flat_map(|r| r.attempts.iter().map(|c| c.id.clone()))
            .chain(stale.into_iter().map(|c| c.id))
            .collect();
        for id in ids {
            if let Err(e) = self.driver.remove_container(&id).await {
                warn!(id = %id, error = %e, "cannot remove container");
            }
        }
        for f in std::mem::take(&mut self.foreign) {
            crate::adopt::remove_pod_containers(&f, &self.uid).await;
        }
        if let Err(e) = self.driver.remove_sandbox(&self.uid).await {
            warn!(error = %e, "cannot remove sandbox");
        }
        self.sandbox = None;
        let cfg = &self.shared.config;
        let dirs = vec![cfg.pod_dir(&self.uid), cfg.pod_shm_dir(&self.uid)];
        if let Err(e) = volume_setup::remove(dirs).await {
            warn!(error = %e, "cannot remove pod directories");
        }
        let meta = &self.pod.metadata;
        self.shared.logs.remove_pod(
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or(""),
            &self.uid,
        );
    }
}
