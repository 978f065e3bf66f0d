//! What a pod worker knows about one of its containers: the attempts the driver reported
//! (the latest and the one before it, kept for `--previous` logs), the restart count, its
//! back-offs, probe results, and why it is waiting, if it is.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Container;
use tutti_runtime::{ContainerInfo, ContainerState as RtState};

use super::backoff::{Backoff, PullBackoff};
use super::probes::{Outcome, ProbeKind, Tracker};
use super::status::{Attempt, ContainerFacts};
use super::sync::{Observed, View};

/// Why the last start failed, which decides the waiting reason while retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    ImagePull,
    Start,
}

#[derive(Clone, Debug)]
pub struct ContainerRecord {
    pub spec: Container,
    /// An init container with `restartPolicy: Always`.
    pub sidecar: bool,
    /// Known attempts, oldest first: at most the previous and the current one.
    pub attempts: Vec<ContainerInfo>,
    pub restart_count: u32,
    pub backoff: Backoff,
    /// Back-off between failed image pulls and failed starts.
    pub retry_backoff: PullBackoff,
    pub retry: Option<Retry>,
    /// The waiting reason and message to report instead of the attempt's state.
    pub waiting: Option<(String, String)>,
    pub probes: BTreeMap<ProbeKind, Tracker>,
    /// A liveness or startup probe failed with this message: kill the container.
    pub unhealthy: Option<(ProbeKind, String)>,
}

impl ContainerRecord {
    pub fn new(spec: Container, init: bool, backoff_base: Duration) -> ContainerRecord {
        ContainerRecord {
            sidecar: init && spec.restart_policy.as_deref() == Some("Always"),
            spec,
            attempts: Vec::new(),
            restart_count: 0,
            backoff: Backoff::new(backoff_base),
            retry_backoff: PullBackoff::new(backoff_base),
            retry: None,
            waiting: None,
            probes: BTreeMap::new(),
            unhealthy: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn current(&self) -> Option<&ContainerInfo> {
        self.attempts.last()
    }

    pub fn previous(&self) -> Option<&ContainerInfo> {
        self.attempts
            .len()
            .checked_sub(2)
            .and_then(|i| self.attempts.get(i))
    }

    /// The attempt number of the next start.
    pub fn next_attempt(&self) -> u32 {
        match self.current() {
            Some(c) => self.restart_count.max(c.attempt) + 1,
            None => 0,
        }
    }

    /// Record a newly started attempt; returns attempts now too old to keep.
    pub fn push_attempt(&mut self, info: ContainerInfo) -> Vec<ContainerInfo> {
        self.restart_count = info.attempt;
        self.attempts.push(info);
        self.waiting = None;
        self.retry = None;
        self.unhealthy = None;
        self.probes.clear();
        let excess = self.attempts.len().saturating_sub(2);
        self.attempts.drain(..excess).collect()
    }

    pub fn running(&self) -> bool {
        matches!(
            self.current().map(|c| &c.state),
            Some(RtState::Running { .. })
        )
    }

    fn passed(&self, kind: ProbeKind) -> bool {
        kind.of(&self.spec).is_none()
            || self.probes.get(&kind).and_then(Tracker::outcome) == Some(Outcome::Success)
    }

    /// Running, and its startup probe (if any) passed.
    pub fn started(&self) -> bool {
        self.running() && self.passed(ProbeKind::Startup)
    }

    /// Started, and its readiness probe (if any) passes.
    pub fn ready(&self) -> bool {
        self.started() && self.passed(ProbeKind::Readiness)
    }

    /// How long the current attempt ran and when it finished, if it exited.
    pub fn exit(&self) -> Option<(SystemTime, Duration, i32)> {
        match self.current().map(|c| &c.state) {
            Some(RtState::Exited {
                exit_code,
                started_at,
                finished_at,
                ..
            }) => {
                let ran = started_at
                    .and_then(|s| finished_at.duration_since(s).ok())
                    .unwrap_or_default();
                Some((*finished_at, ran, *exit_code))
            }
            _ => None,
        }
    }

    pub fn observed(&self) -> Observed {
        match self.current().map(|c| &c.state) {
            None => Observed::NotStarted,
            Some(RtState::Created | RtState::Unknown) => Observed::Created,
            Some(RtState::Running { .. }) => Observed::Running {
                started: self.started(),
            },
            Some(RtState::Exited { exit_code, .. }) => Observed::Exited {
                exit_code: *exit_code,
            },
        }
    }

    pub fn view(&self) -> View {
        View {
            name: self.spec.name.clone(),
            sidecar: self.sidecar,
            observed: self.observed(),
            unhealthy: self.unhealthy.is_some(),
        }
    }

    pub fn facts(&self, driver: &str, default_waiting: &'static str) -> ContainerFacts {
        let attempt = |c: &ContainerInfo| Attempt {
            id: format!("{driver}://{}", c.id),
            state: c.state.clone(),
            image_id: c.image_id.clone(),
        };
        ContainerFacts {
            name: self.spec.name.clone(),
            image: self.spec.image.clone().unwrap_or_default(),
            current: self.current().map(attempt),
            previous: self.previous().map(attempt),
            waiting: self.waiting.clone(),
            default_waiting,
            restart_count: self.restart_count,
            ready: self.ready(),
            started: self.started(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(attempt: u32, state: RtState) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{attempt}"),
            pod_uid: "u".into(),
            name: "app".into(),
            attempt,
            image: "x".into(),
            image_id: String::new(),
            state,
        }
    }

    fn record() -> ContainerRecord {
        let spec = Container {
            name: "app".into(),
            ..Default::default()
        };
        ContainerRecord::new(spec, false, Duration::from_secs(10))
    }

    #[test]
    fn keeps_the_current_and_previous_attempt() {
        let mut r = record();
        assert_eq!(r.next_attempt(), 0);
        let now = SystemTime::now();
        assert!(
            r.push_attempt(info(0, RtState::Running { started_at: now }))
                .is_empty()
        );
        assert_eq!(r.next_attempt(), 1);
        assert!(
            r.push_attempt(info(1, RtState::Running { started_at: now }))
                .is_empty()
        );
        let stale = r.push_attempt(info(2, RtState::Running { started_at: now }));
        assert_eq!(stale.iter().map(|c| c.attempt).collect::<Vec<_>>(), [0]);
        assert_eq!(r.previous().map(|c| c.attempt), Some(1));
        assert_eq!(r.restart_count, 2);
    }

    #[test]
    fn readiness_needs_a_passing_probe() {
        let mut r = record();
        let now = SystemTime::now();
        r.push_attempt(info(0, RtState::Running { started_at: now }));
        assert!(r.ready(), "no probe: ready when running");
        r.spec.readiness_probe = Some(Default::default());
        assert!(!r.ready());
        let mut t = Tracker::new(ProbeKind::Readiness, &Default::default());
        t.record(true);
        r.probes.insert(ProbeKind::Readiness, t);
        assert!(r.ready());
        r.spec.startup_probe = Some(Default::default());
        assert!(!r.started() && !r.ready(), "startup gates readiness");
    }
}
