//! Back-off arithmetic, as kubelet does it. Crash loops: the first restart is immediate,
//! then each restart waits `base`, `2·base`, `4·base`... after the previous exit, capped at
//! `30·base` (10 s → 5 min), and the delay resets once a container ran `60·base` (10 min).
//! Image pulls: after each failure wait `base`, doubling to the same cap.

use std::time::{Duration, SystemTime};

/// Whether a container may be started now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Still backing off: start at `until`; `delay` is what the message shows.
    Wait {
        until: SystemTime,
        delay: Duration,
    },
}

/// The crash-loop back-off of one container.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    reset_after: Duration,
    delay: Option<Duration>,
}

impl Backoff {
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            cap: base * 30,
            reset_after: base * 60,
            delay: None,
        }
    }

    /// May the container that exited at `finished_at`, after running for `ran_for`, be
    /// restarted at `now`? `Go` counts as a restart: the next wait is longer.
    pub fn gate(&mut self, finished_at: SystemTime, ran_for: Duration, now: SystemTime) -> Gate {
        if ran_for >= self.reset_after {
            self.delay = None;
        }
        if let Some(delay) = self.delay {
            let until = finished_at + delay;
            if now < until {
                return Gate::Wait { until, delay };
            }
        }
        self.delay = Some(match self.delay {
            None => self.base,
            Some(d) => (d * 2).min(self.cap),
        });
        Gate::Go
    }
}

/// The back-off between image pull attempts of one container.
#[derive(Clone, Debug)]
pub struct PullBackoff {
    base: Duration,
    cap: Duration,
    delay: Option<Duration>,
    retry_at: Option<SystemTime>,
}

impl PullBackoff {
    pub fn new(base: Duration) -> PullBackoff {
        PullBackoff {
            base,
            cap: base * 30,
            delay: None,
            retry_at: None,
        }
    }

    /// A pull failed at `at`; returns when to try again.
    pub fn failed(&mut self, at: SystemTime) -> SystemTime {
        let delay = match self.delay {
            None => self.base,
            Some(d) => (d * 2).min(self.cap),
        };
        self.delay = Some(delay);
        let retry = at + delay;
        self.retry_at = Some(retry);
        retry
    }

    /// Hold the next attempt until `until` without growing the delay (for failures
    /// retried at a steady pace, like a missing ConfigMap).
    pub fn hold(&mut self, until: SystemTime) {
        self.retry_at = Some(until);
    }

    pub fn succeeded(&mut self) {
        self.delay = None;
        self.retry_at = None;
    }

    /// `Wait` while backing off from the last failure.
    pub fn gate(&self, now: SystemTime) -> Gate {
        match self.retry_at {
            Some(until) if now < until => Gate::Wait {
                until,
                delay: self.delay.unwrap_or(self.base),
            },
            _ => Gate::Go,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    /// Crash immediately after every start; return the waits the back-off imposes.
    fn delays(n: usize) -> Vec<u64> {
        let mut b = Backoff::new(10 * S);
        let mut now = t(0);
        let mut waits = Vec::new();
        for _ in 0..n {
            let finished = now;
            match b.gate(finished, Duration::ZERO, now) {
                Gate::Go => waits.push(0),
                Gate::Wait { until, delay } => {
                    assert_eq!(until, finished + delay);
                    assert_eq!(b.gate(finished, Duration::ZERO, until), Gate::Go);
                    waits.push(delay.as_secs());
                    now = until;
                }
            }
        }
        waits
    }

    #[test]
    fn crash_loop_doubles_to_five_minutes() {
        assert_eq!(
            delays(9),
            vec![0, 10, 20, 40, 80, 160, 300, 300, 300],
            "first restart is immediate, then 10 s doubling, capped at 5 min"
        );
    }

    #[test]
    fn waiting_does_not_grow_the_delay() {
        let mut b = Backoff::new(10 * S);
        assert_eq!(b.gate(t(0), Duration::ZERO, t(0)), Gate::Go);
        for now in [t(1), t(5), t(9)] {
            assert_eq!(
                b.gate(t(0), Duration::ZERO, now),
                Gate::Wait {
                    until: t(10),
                    delay: 10 * S
                }
            );
        }
        assert_eq!(b.gate(t(0), Duration::ZERO, t(10)), Gate::Go);
    }

    #[test]
    fn resets_after_ten_minutes_running() {
        let mut b = Backoff::new(10 * S);
        for i in 0..5 {
            let _ = b.gate(t(i * 1000), Duration::ZERO, t(i * 1000));
        }
        // It ran 10 minutes: the next restart is immediate and the loop starts over at 10 s.
        assert_eq!(b.gate(t(9000), 600 * S, t(9000)), Gate::Go);
        assert_eq!(
            b.gate(t(9001), Duration::ZERO, t(9001)),
            Gate::Wait {
                until: t(9011),
                delay: 10 * S
            }
        );
        // Nine minutes is not enough.
        let mut b = Backoff::new(10 * S);
        let _ = b.gate(t(0), Duration::ZERO, t(0));
        assert!(matches!(
            b.gate(t(540), 540 * S, t(540)),
            Gate::Wait { delay, .. } if delay == 10 * S
        ));
    }

    #[test]
    fn image_pull_backoff() {
        let mut p = PullBackoff::new(10 * S);
        assert_eq!(p.gate(t(0)), Gate::Go);
        assert_eq!(p.failed(t(0)), t(10));
        assert!(matches!(p.gate(t(5)), Gate::Wait { until, .. } if until == t(10)));
        assert_eq!(p.gate(t(10)), Gate::Go);
        assert_eq!(p.failed(t(10)), t(30));
        for _ in 0..10 {
            p.failed(t(100));
        }
        assert_eq!(p.failed(t(100)), t(400), "capped at 5 min");
        p.succeeded();
        assert_eq!(p.gate(t(101)), Gate::Go);
        p.hold(t(110));
        assert!(matches!(p.gate(t(105)), Gate::Wait { until, .. } if until == t(110)));
        assert_eq!(p.failed(t(110)), t(120), "holding does not grow the delay");
    }
}
