//! The heartbeat budget: node leases get longer as the cluster grows, so that renewals stay
//! within a fixed number of writes per second (Nomad bounds its heartbeats the same way).
//!
//! Every lease renewal is a durable write through Raft. At 5,000 nodes renewing every 2.5 s
//! that would be 2,000 writes/s, more than the whole manager has to spare; Kubernetes pays
//! 500/s for its 40 s leases. Agents renew every quarter of their lease's
//! `leaseDurationSeconds`, so with N nodes and a duration D the manager sees 4·N/D renewals
//! per second. The controller picks the shortest D that keeps that under the budget (never
//! shorter than the node monitor grace, rounded up to ten seconds once the budget binds),
//! writes it into every lease, and agents adopt it from the lease their next renewal
//! returns. Failure detection is the price: a node is declared unreachable after D instead
//! of the grace (80 s at 5,000 nodes with the default budget of 250 renewals/s).
//!
//! A duration is raised at once (agents renewing faster than needed is harmless) and lowered
//! only when the cluster has shrunk a quarter below the size that needed it, so a node count
//! hovering at a boundary does not rewrite every lease back and forth. After lowering, the
//! old duration stays the grace until every lease carries the new one and one old duration
//! has passed: until then some agents still wait the old quarter between renewals.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

/// The shortest lease duration that keeps `nodes` renewing every quarter of it within
/// `per_second` renewals, and not shorter than `grace`.
pub fn lease_duration(nodes: usize, per_second: u32, grace: Duration) -> Duration {
    let needed = (nodes as u64 * 4).div_ceil(u64::from(per_second.max(1)));
    if Duration::from_secs(needed) <= grace {
        return grace;
    }
    Duration::from_secs(needed.div_ceil(10) * 10)
}

/// The lease duration the controller currently asks of agents, and the grace it judges by.
#[derive(Debug)]
pub struct LeaseBudget {
    per_second: u32,
    grace: Duration,
    current: Duration,
    /// A longer duration some agents may still be renewing by, and (once every lease carries
    /// the new one) when that stops being possible.
    previous: Option<(Duration, Option<Timestamp>)>,
}

impl LeaseBudget {
    /// A controller starting up: `longest` is the longest duration a previous controller's
    /// budget gave leases, honoured as the grace until they converge.
    pub fn new(per_second: u32, grace: Duration, longest: Option<Duration>) -> Self {
        LeaseBudget {
            per_second,
            grace,
            current: grace,
            previous: longest.filter(|d| *d > grace).map(|d| (d, None)),
        }
    }

    /// Follow the cluster's size; returns the duration leases should carry.
    pub fn update(&mut self, nodes: usize, now: Timestamp) -> Duration {
        let target = lease_duration(nodes, self.per_second, self.grace);
        if target > self.current {
            self.current = target;
        } else if target < self.current
            && lease_duration(nodes + nodes / 4, self.per_second, self.grace) < self.current
        {
            let longest = self
                .previous
                .map_or(self.current, |(d, _)| d.max(self.current));
            self.previous = Some((longest, None));
            self.current = target;
        }
        if matches!(self.previous, Some((_, Some(until))) if now >= until) {
            self.previous = None;
        }
        self.current
    }

    /// Every lease now carries the current duration: agents adopt it within one renewal
    /// of the old duration, after which the old grace no longer applies.
    pub fn converged(&mut self, now: Timestamp) {
        if let Some((old, until @ None)) = &mut self.previous {
            *until = Some(now + *old);
        }
    }

    /// The duration leases should carry now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// How long a node may go without a heartbeat before it is unreachable.
    pub fn grace(&self) -> Duration {
        let previous = self.previous.map_or(Duration::ZERO, |(d, _)| d);
        self.grace.max(self.current).max(previous)
    }

    /// Whether a lease carrying `duration` should be rewritten to the current one. A lease
    /// the budget set before (`budgeted`: it carries [`BUDGETED`]) follows every change; an
    /// agent's own duration is only ever lengthened, and only while the budget binds.
    pub fn rewrite(&self, duration: Option<Duration>, budgeted: bool) -> bool {
        let duration = duration.unwrap_or_default();
        if budgeted {
            duration != self.current
        } else {
            self.current > self.grace && duration < self.current
        }
    }
}

/// The annotation on a lease whose duration the budget set (so a restarted controller knows
/// which durations agents may still be renewing by, and which ones are the agents' own).
pub const BUDGETED: &str = "tutti.dev/lease-duration-from-budget";

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn duration_grows_with_the_cluster_in_ten_second_steps() {
        let secs = |n| lease_duration(n, 250, GRACE).as_secs();
        assert_eq!(secs(1), 10);
        assert_eq!(secs(625), 10, "625 nodes renewing every 2.5 s = 250/s");
        assert_eq!(secs(626), 20);
        assert_eq!(secs(5_000), 80);
        assert_eq!(secs(15_000), 240);
        // A grace shorter than ten seconds (tests) is kept while the budget allows it.
        assert_eq!(lease_duration(3, 250, Duration::from_secs(1)).as_secs(), 1);
    }

    #[test]
    fn raised_at_once_lowered_with_hysteresis_and_an_old_grace_until_agents_adopt() {
        let mut budget = LeaseBudget::new(250, GRACE, None);
        assert_eq!(budget.update(100, at(0)), GRACE);
        assert_eq!(budget.grace(), GRACE);
        assert_eq!(budget.update(5_000, at(1)).as_secs(), 80);
        assert_eq!(budget.grace().as_secs(), 80);
        // Shrinking a little does not rewrite every lease.
        assert_eq!(budget.update(4_500, at(2)).as_secs(), 80);
        // Shrinking a lot does; the old grace holds until the leases converge and one old
        // duration has passed.
        assert_eq!(budget.update(1_000, at(3)).as_secs(), 20);
        assert_eq!(budget.grace().as_secs(), 80);
        budget.update(1_000, at(500));
        assert_eq!(budget.grace().as_secs(), 80, "leases not converged yet");
        budget.converged(at(600));
        budget.update(1_000, at(679));
        assert_eq!(budget.grace().as_secs(), 80);
        budget.update(1_000, at(680));
        assert_eq!(budget.grace().as_secs(), 20);
    }

    #[test]
    fn a_restarted_controller_honours_the_durations_it_finds() {
        let mut budget = LeaseBudget::new(250, GRACE, Some(Duration::from_secs(80)));
        assert_eq!(budget.update(10, at(0)), GRACE);
        assert_eq!(budget.grace().as_secs(), 80);
        assert!(budget.rewrite(Some(Duration::from_secs(80)), true));
        assert!(!budget.rewrite(Some(GRACE), true));
        assert!(
            !budget.rewrite(Some(Duration::from_secs(40)), false),
            "an agent's own longer lease"
        );
        assert!(
            !budget.rewrite(Some(Duration::from_secs(2)), false),
            "an agent's own shorter lease"
        );
        budget.converged(at(10));
        budget.update(10, at(90));
        assert_eq!(budget.grace(), GRACE);
    }

    #[test]
    fn leases_are_rewritten_while_the_budget_lengthens_them() {
        let mut budget = LeaseBudget::new(1, Duration::from_secs(1), None);
        assert_eq!(budget.update(5, at(0)).as_secs(), 20);
        assert!(budget.rewrite(Some(Duration::from_secs(2)), false));
        assert!(budget.rewrite(None, false));
        assert!(!budget.rewrite(Some(Duration::from_secs(20)), true));
        assert!(
            !budget.rewrite(Some(Duration::from_secs(30)), false),
            "an agent's own longer lease"
        );
    }
}
