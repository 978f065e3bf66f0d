//! Starting one container, as kubelet does: honour its back-off (CrashLoopBackOff,
//! ImagePullBackOff), make sure the image is there, build its environment, command and
//! mounts, start it in the sandbox, record Created/Started, run its postStart hook, and
//! start its probes. Every failure becomes the container's waiting reason and an Event.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, PodSecurityContext};
use tracing::{info, warn};
use tutti_client::EventType;
use tutti_core::quantity::Quantity;
use tutti_runtime::{ContainerSpec, PullPolicy, RuntimeError, Security};

use super::backoff::Gate;
use super::record::Retry;
use super::sync::KillReason;
use super::worker::Worker;
use super::{driver_fit, env, hooks, sources, volume_setup, volumes};
use crate::error::ContainerError;
use crate::kubetime::go_duration;

impl Worker {
    /// Start (or restart) container `name` if its back-offs allow.
    pub(super) async fn start(&mut self, name: &str) {
        let now = SystemTime::now();
        let desc = self.pod_desc();
        let base = self.shared.config.backoff_base;
        let Some(rec) = self.record_mut(name) else {
            return;
        };
        if let Some((finished, ran, _)) = rec.exit()
            && let Gate::Wait { until, delay } = rec.backoff.gate(finished, ran, now)
        {
            let msg = format!(
                "back-off {} restarting failed container={name} pod={desc}",
                go_duration(delay)
            );
            let event = format!("Back-off restarting failed container {name} in pod {desc}");
            self.wait(
                name,
                "CrashLoopBackOff",
                msg,
                Some(until),
                EventType::Warning,
                "BackOff",
                event,
            )
            .await;
            return;
        }
        if let Gate::Wait { until, .. } = rec.retry_backoff.gate(now) {
            if rec.retry == Some(Retry::ImagePull) {
                let image = rec.spec.image.clone().unwrap_or_default();
                let msg = format!("Back-off pulling image {image:?}");
                self.wait(
                    name,
                    "ImagePullBackOff",
                    msg.clone(),
                    Some(until),
                    EventType::Normal,
                    "BackOff",
                    msg,
                )
                .await;
            } else {
                self.wake(until);
            }
            return;
        }
        let spec = rec.spec.clone();
        let attempt = rec.next_attempt();
        if let Err(e) = self.try_start(&spec, attempt).await {
            let reason = e.reason();
            let message = e.to_string();
            warn!(container = %name, reason, error = %message, "container not started");
            if let Some(rec) = self.record_mut(name) {
                match e {
                    ContainerError::ImagePull(_) => {
                        rec.retry = Some(Retry::ImagePull);
                        rec.retry_backoff.failed(now);
                    }
                    ContainerError::Run(_) => {
                        rec.retry = Some(Retry::Start);
                        rec.retry_backoff.failed(now);
                    }
                    // Fixed by someone else (a ConfigMap created, an image loaded): retry
                    // at a steady pace.
                    ContainerError::Config(_) | ContainerError::ImageNeverPull(_) => {
                        rec.retry = Some(Retry::Start);
                        rec.retry_backoff.hold(now + base);
                    }
                }
            }
            let shown = match reason {
                "ErrImagePull" | "RunContainerError" => message.clone(),
                _ => format!("Error: {message}"),
            };
            self.wait(
                name,
                reason,
                message,
                None,
                EventType::Warning,
                "Failed",
                shown,
            )
            .await;
        }
    }

    /// Show container `name` waiting with `reason`, wake at `until`, and record the event
    /// when the waiting reason or message is new (not on every retry).
    #[allow(clippy::too_many_arguments)]
    async fn wait(
        &mut self,
        name: &str,
        reason: &str,
        message: String,
        until: Option<SystemTime>,
        kind: EventType,
        event_reason: &str,
        event: String,
    ) {
        let waiting = Some((reason.to_string(), message));
        let Some(rec) = self.record_mut(name) else {
            return;
        };
        let news = rec.waiting != waiting;
        rec.waiting = waiting;
        let retry_at = rec.retry_backoff.gate(SystemTime::now());
        if let Some(at) = until {
            self.wake(at);
        } else if let Gate::Wait { until, .. } = retry_at {
            self.wake(until);
        }
        if news {
            self.event(Some(name), kind, event_reason, &event).await;
        }
    }

    pub(super) fn wake(&mut self, at: SystemTime) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    async fn try_start(&mut self, c: &Container, attempt: u32) -> Result<(), ContainerError> {
        let name = c.name.as_str();
        if let Some(msg) = self.fit.refused.get(name) {
            return Err(ContainerError::Config(msg.clone()));
        }
        let image = c.image.clone().unwrap_or_default();
        let policy = match c.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        };
        let caps = self.driver.capabilities();
        let image_info = match self.driver.ensure_image(&image, policy).await {
            Ok(info) => info,
            Err(RuntimeError::ImageNeverPull { image }) => {
                return Err(ContainerError::ImageNeverPull(format!(
                    "Container image {image:?} is not present with pull policy of Never"
                )));
            }
            Err(RuntimeError::ImagePull { image, detail }) => {
                return Err(ContainerError::ImagePull(format!(
                    "Failed to pull image {image:?}: {detail}"
                )));
            }
            Err(e) => return Err(ContainerError::Run(e.to_string())),
        };
        if let Some(rec) = self.record_mut(name) {
            rec.retry_backoff.succeeded();
        }
        if caps.images {
            let msg = match policy {
                PullPolicy::Always => format!("Successfully pulled image {image:?}"),
                _ => format!("Container image {image:?} already present on machine"),
            };
            self.event(Some(name), EventType::Normal, "Pulled", &msg)
                .await;
        }
        let objects = sources::fetch(&self.shared.client, &self.pod)
            .await
            .map_err(|e| ContainerError::Run(format!("cannot read ConfigMaps and Secrets: {e}")))?;
        let pod_ip = self.pod_ip();
        let facts = self.facts(&pod_ip);
        let env = env::container_env(c, &facts, &objects).map_err(ContainerError::Config)?;
        let (command, args) = env::command_and_args(c, &env);
        let planned = self.volumes.clone().unwrap_or_default();
        let mounts = volumes::mounts(c, &planned, &env).map_err(ContainerError::Config)?;
        volume_setup::ensure_mount_sources(&mounts)
            .await
            .map_err(ContainerError::Run)?;
        let resources = c.resources.as_ref();
        let quantity = |which: &str, res: &str| {
            let map = match which {
                "limits" => resources.and_then(|r| r.limits.as_ref()),
                _ => resources.and_then(|r| r.requests.as_ref()),
            };
            map.and_then(|m| m.get(res))
                .and_then(|q| Quantity::parse(&q.0).ok())
        };
        let meta = &self.pod.metadata;
        let spec = ContainerSpec {
            pod_uid: self.uid.clone(),
            pod_name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: name.to_string(),
            attempt,
            image: image.clone(),
            command,
            args,
            env: env.into_vec(),
            working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
            mounts,
            cpu_limit_millis: quantity("limits", "cpu")
                .and_then(|q| u64::try_from(q.milli_value()).ok()),
            memory_limit_bytes: quantity("limits", "memory")
                .and_then(|q| u64::try_from(q.value()).ok()),
            cpu_request_millis: quantity("requests", "cpu")
                .and_then(|q| u64::try_from(q.milli_value()).ok()),
            security: security(
                c,
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.security_context.as_ref()),
            ),
            tty: c.tty == Some(true),
            stdin: c.stdin == Some(true),
            // The driver writes `<log_dir>/<container>/<attempt>.log`.
            log_dir: Some(self.shared.config.pod_dir(&self.uid).join("logs")),
            labels: Default::default(),
        };
        let mut spec = spec;
        driver_fit::strip(&mut spec, &caps);
        let Some(sandbox) = self.sandbox.clone() else {
            return Err(ContainerError::Run("the pod has no sandbox".to_string()));
        };
        let mut info = self
            .driver
            .start_container(&sandbox, &spec)
            .await
            .map_err(|e| ContainerError::Run(e.to_string()))?;
        if info.image_id.is_empty() {
            info.image_id = image_info.image_id;
        }
        info!(container = %name, attempt, id = %info.id, "started container");
        let id = info.id.clone();
        let Some(rec) = self.record_mut(name) else {
            return Ok(());
        };
        let stale = rec.push_attempt(info);
        let rec = rec.clone();
        self.publish_logs(&rec);
        for old in stale {
            if let Err(e) = self.driver.remove_container(&old.id).await {
                warn!(id = %old.id, error = %e, "cannot remove old attempt");
            }
        }
        self.event(
            Some(name),
            EventType::Normal,
            "Created",
            &format!("Created container: {name}"),
        )
        .await;
        self.event(
            Some(name),
            EventType::Normal,
            "Started",
            &format!("Started container {name}"),
        )
        .await;
        self.post_start(c, &id).await;
        self.start_probes(name);
        Ok(())
    }

    /// Run the postStart hook; if it fails the container is killed (and restarted per policy).
    async fn post_start(&mut self, c: &Container, id: &str) {
        let Some(handler) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) else {
            return;
        };
        let target = self.target(c, id);
        let timeout = self.grace_period();
        if let Err(e) = hooks::run(handler, &target, timeout).await {
            let msg = format!("PostStartHook failed: {e}");
            self.event(
                Some(&c.name),
                EventType::Warning,
                "FailedPostStartHook",
                &msg,
            )
            .await;
            self.kill(&c.name, KillReason::Unhealthy).await;
        }
    }

    /// The pod's termination grace period.
    pub(super) fn grace_period(&self) -> Duration {
        let secs = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }
}

/// The pod's and the container's securityContext, merged (the container's wins).
fn security(c: &Container, pod: Option<&PodSecurityContext>) -> Security {
    let sc = c.security_context.as_ref();
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    Security {
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user)),
        run_as_group: sc
            .and_then(|s| s.run_as_group)
            .or(pod.and_then(|p| p.run_as_group)),
        run_as_non_root: sc
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|p| p.run_as_non_root))
            == Some(true),
        read_only_root_filesystem: sc.and_then(|s| s.read_only_root_filesystem) == Some(true),
        privileged: sc.and_then(|s| s.privileged) == Some(true),
        cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        supplemental_groups: pod
            .and_then(|p| p.supplemental_groups.clone())
            .unwrap_or_default(),
    }
}
