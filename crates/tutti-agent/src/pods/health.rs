//! Container health: starting a container's probe tasks (its startup probe first, then
//! liveness and readiness once it passed) and applying their results — thresholds,
//! `Unhealthy` events, and marking a container whose liveness or startup probe failed
//! so the next sync kills it.

use k8s_openapi::api::core::v1::Container;
use tracing::{debug, info};
use tutti_client::EventType;

use super::actions::Target;
use super::prober::ProbeResult;
use super::probes::{Outcome, ProbeKind, Tracker};
use super::worker::Worker;

impl Worker {
    /// What probes and hooks of container `c` (attempt `id`) run against.
    pub(super) fn target(&self, c: &Container, id: &str) -> Target {
        Target {
            driver: self.driver.clone(),
            container_id: id.to_string(),
            pod_ip: self.pod_ip(),
            ports: c.ports.clone().unwrap_or_default(),
        }
    }

    /// Start the probes container `name` needs now (none if it is not running).
    pub(super) fn start_probes(&mut self, name: &str) {
        let Some(rec) = self.records().find(|r| r.name() == name) else {
            return;
        };
        let Some(id) = rec
            .current()
            .filter(|_| rec.running())
            .map(|c| c.id.clone())
        else {
            return;
        };
        let spec = rec.spec.clone();
        let startup_pending = spec.startup_probe.is_some()
            && rec
                .probes
                .get(&ProbeKind::Startup)
                .and_then(Tracker::outcome)
                != Some(Outcome::Success);
        let kinds: &[ProbeKind] = if startup_pending {
            &[ProbeKind::Startup]
        } else {
            &[ProbeKind::Liveness, ProbeKind::Readiness]
        };
        let target = self.target(&spec, &id);
        for kind in kinds {
            if let Some(probe) = kind.of(&spec)
                && !self.probes.running(&id, *kind)
            {
                debug!(container = %name, probe = kind.name(), "starting probe");
                self.probes.start(*kind, probe.clone(), target.clone());
            }
        }
    }

    /// Count one probe result.
    pub(super) async fn on_probe(&mut self, r: ProbeResult) {
        let Some(rec) = self
            .init
            .iter_mut()
            .chain(self.app.iter_mut())
            .find(|rec| rec.current().is_some_and(|c| c.id == r.container_id))
        else {
            return;
        };
        if !rec.running() {
            return;
        }
        let Some(probe) = r.kind.of(&rec.spec).cloned() else {
            return;
        };
        let name = rec.spec.name.clone();
        let flip = rec
            .probes
            .entry(r.kind)
            .or_insert_with(|| Tracker::new(r.kind, &probe))
            .record(r.result.is_ok());
        let failure = r.result.as_ref().err().cloned();
        match (r.kind, flip) {
            (ProbeKind::Startup, Some(Outcome::Success)) => {
                info!(container = %name, "startup probe succeeded");
                self.probes.stop_kind(&r.container_id, ProbeKind::Startup);
                self.start_probes(&name);
            }
            (ProbeKind::Startup | ProbeKind::Liveness, Some(Outcome::Failure)) => {
                info!(container = %name, probe = r.kind.name(), "probe failed: container will be killed");
                rec.unhealthy = Some((r.kind, failure.clone().unwrap_or_default()));
            }
            (kind, Some(outcome)) => {
                debug!(container = %name, probe = kind.name(), ?outcome, "probe outcome changed");
            }
            _ => {}
        }
        if let Some(msg) = failure {
            let text = format!("{} probe failed: {msg}", r.kind.name());
            self.event(Some(&name), EventType::Warning, "Unhealthy", &text)
                .await;
        }
    }
}
