//! A pod's own setup before any container starts: its sandbox (network namespace, host
//! ports, resolv.conf) and its volumes (planned, rendered from ConfigMaps/Secrets and the
//! downward API, written to the host). Failures are retried every back-off base (10 s),
//! with an Event whenever the failure changes.

use std::time::SystemTime;

use tracing::{debug, warn};
use tutti_client::EventType;

use super::downward::PodFacts;
use super::worker::Worker;
use super::{sandbox, sources, volume_setup, volumes};

impl Worker {
    /// Whether a failed setup may be retried now.
    fn setup_due(&mut self) -> bool {
        match self.setup_failure.clone() {
            Some((at, _)) if SystemTime::now() < at => {
                self.wake(at);
                false
            }
            _ => true,
        }
    }

    async fn setup_failed(&mut self, reason: &str, message: String) {
        let news = self
            .setup_failure
            .as_ref()
            .is_none_or(|(_, m)| *m != message);
        let at = SystemTime::now() + self.shared.config.backoff_base;
        self.setup_failure = Some((at, message.clone()));
        self.wake(at);
        if news {
            self.event(None, EventType::Warning, reason, &message).await;
        }
    }

    pub(super) async fn ensure_sandbox(&mut self) -> bool {
        if self.sandbox.is_some() {
            return true;
        }
        if !self.setup_due() {
            return false;
        }
        let cfg = &self.shared.config;
        let dns = sandbox::pod_dns(
            &self.pod,
            &cfg.cluster_dns,
            &cfg.cluster_domain,
            &self.shared.host_resolv,
        );
        let mut spec = sandbox::sandbox_spec(&self.pod, dns);
        if self.driver.capabilities().pod_network {
            spec.network = self.shared.pod_network.clone();
        } else {
            // Remapped host ports are refused per container (driver_fit).
            spec.ports.retain(|p| p.host_port == p.container_port);
        }
        match self.driver.create_sandbox(&spec).await {
            Ok(info) => {
                debug!(ip = %info.ip, "sandbox ready");
                self.sandbox = Some(info);
                true
            }
            Err(e) => {
                warn!(error = %e, "sandbox creation failed");
                let msg = format!("Failed to create pod sandbox: {e}");
                self.setup_failed("FailedCreatePodSandBox", msg).await;
                false
            }
        }
    }

    pub(super) async fn ensure_volumes(&mut self) -> bool {
        if self.volumes.is_some() {
            return true;
        }
        if !self.setup_due() {
            return false;
        }
        let cfg = &self.shared.config;
        let planned = volumes::plan(
            &self.pod,
            &cfg.pod_dir(&self.uid),
            &cfg.pod_shm_dir(&self.uid),
        );
        let objects = match sources::fetch(&self.shared.client, &self.pod).await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "cannot read the pod's ConfigMaps and Secrets");
                return false;
            }
        };
        let pod_ip = self.pod_ip();
        let facts = self.facts(&pod_ip);
        let mut rendered = Vec::new();
        let mut failure = None;
        for p in &planned {
            match volumes::render(p, &objects, &facts) {
                Ok(files) => rendered.push((p.clone(), files)),
                Err(e) => {
                    failure = Some(format!(
                        "MountVolume.SetUp failed for volume {:?} : {e}",
                        p.name
                    ));
                    break;
                }
            }
        }
        let result = match failure {
            Some(msg) => Err(msg),
            None => volume_setup::prepare(rendered).await,
        };
        match result {
            Ok(()) => {
                self.volumes = Some(planned);
                self.setup_failure = None;
                true
            }
            Err(msg) => {
                warn!(error = %msg, "volume setup failed");
                self.setup_failed("FailedMount", msg).await;
                false
            }
        }
    }

    pub(super) fn facts<'a>(&'a self, pod_ip: &'a str) -> PodFacts<'a> {
        PodFacts {
            pod: &self.pod,
            pod_ip,
            host_ip: &self.shared.config.node_ip,
            node_cpu_millis: i64::from(self.shared.machine.cpus) * 1000,
            node_memory_bytes: i64::try_from(self.shared.machine.memory_kib.saturating_mul(1024))
                .unwrap_or(i64::MAX),
        }
    }
}
