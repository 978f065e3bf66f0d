//! Probe outcomes, counted as kubelet counts them: a probe flips to success after
//! `successThreshold` consecutive successes and to failure after `failureThreshold`
//! consecutive failures. Every probe starts with no outcome (a container with a readiness
//! probe is not ready until it passes); startup gates the other two. Pure: the probe tasks
//! in `prober` feed it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    /// As kubelet's events spell it: `Liveness probe failed: ...`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// When a probe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
}

impl Timing {
    pub fn of(p: &Probe) -> Timing {
        let secs = |v: Option<i32>, default: u64, min: u64| {
            Duration::from_secs(v.map(|v| v.max(0) as u64).unwrap_or(default).max(min))
        };
        Timing {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
        }
    }
}

/// The consecutive-result counter of one probe on one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    outcome: Option<Outcome>,
}

impl Tracker {
    pub fn new(kind: ProbeKind, probe: &Probe) -> Tracker {
        let threshold =
            |v: Option<i32>, default: u32| v.map(|v| v.max(1) as u32).unwrap_or(default);
        Tracker {
            // Liveness and startup probes must use 1 (validation enforces it).
            success_threshold: match kind {
                ProbeKind::Readiness => threshold(probe.success_threshold, 1),
                _ => 1,
            },
            failure_threshold: threshold(probe.failure_threshold, 3),
            successes: 0,
            failures: 0,
            outcome: None,
        }
    }

    /// A tracker that already passed (a re-adopted container the last status showed
    /// started or ready).
    pub fn passed(kind: ProbeKind, probe: &Probe) -> Tracker {
        Tracker {
            outcome: Some(Outcome::Success),
            ..Tracker::new(kind, probe)
        }
    }

    /// `None` until a threshold was reached.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Count one result; returns the new outcome when it flipped.
    pub fn record(&mut self, ok: bool) -> Option<Outcome> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
        }
        let next = if ok && self.successes >= self.success_threshold {
            Outcome::Success
        } else if !ok && self.failures >= self.failure_threshold {
            Outcome::Failure
        } else {
            return None;
        };
        if self.outcome == Some(next) {
            return None;
        }
        self.outcome = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: i32, failure: i32) -> Probe {
        Probe {
            success_threshold: Some(success),
            failure_threshold: Some(failure),
            ..Default::default()
        }
    }

    #[test]
    fn liveness_fails_after_threshold_consecutive_failures() {
        let mut t = Tracker::new(ProbeKind::Liveness, &probe(1, 3));
        assert_eq!(t.outcome(), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(
            t.record(true),
            Some(Outcome::Success),
            "a success resets the count"
        );
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Outcome::Failure));
        assert_eq!(t.record(false), None, "no repeated flip");
    }

    #[test]
    fn readiness_needs_success_threshold() {
        let mut t = Tracker::new(ProbeKind::Readiness, &probe(2, 1));
        assert_eq!(t.outcome(), None, "not ready until probed");
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Outcome::Success));
        assert_eq!(t.record(false), Some(Outcome::Failure));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Outcome::Success));
    }

    #[test]
    fn startup_succeeds_once() {
        let mut t = Tracker::new(ProbeKind::Startup, &probe(5, 2));
        assert_eq!(t.record(true), Some(Outcome::Success), "threshold is 1");
        let mut t = Tracker::new(ProbeKind::Startup, &probe(1, 2));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Outcome::Failure));
    }

    #[test]
    fn timing_defaults() {
        let t = Timing::of(&Probe::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!(t.initial_delay, Duration::ZERO);
    }
}
