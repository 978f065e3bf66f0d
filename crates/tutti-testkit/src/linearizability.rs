//! Linearizability checking of key-value register histories.
//!
//! The model: every key is an independent register holding a string or nothing (absent,
//! the initial state), with read, write and compare-and-set. Keys are checked one at a time
//! (P-compositionality), each with a Wing–Gong/Lowe search memoizing (linearized set, state)
//! pairs — see `search`. Indeterminate operations (timeouts, lost connections) may take effect
//! at any time after their invocation, or never; see `partition` for how they are pinned down
//! when the history allows, which keeps runs with many timeouts fast.
//!
//! The verdict is exact for any history. It comes fastest when every value is written at most
//! once per key (the workload driver does that): indeterminate writes can then be pinned down,
//! and an overwritten value is known to be gone for good.

mod linearized_set;
mod links;
mod partition;
mod search;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::TestkitError;
use crate::history::{History, Operation};
use partition::KeyHistory;
use search::{Budget, Exhausted, Verdict};

/// How many operations that still need the stuck state a counterexample lists.
const NEEDERS_SHOWN: usize = 3;

/// Limits of one check; when either runs out the verdict is [`Linearizability::Unknown`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps over all keys (one step: one entry of the history visited).
    pub max_steps: u64,
    /// Wall-clock time for the whole check.
    pub time_limit: Option<Duration>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_steps: 100_000_000,
            time_limit: Some(Duration::from_secs(60)),
        }
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linearizability {
    Linearizable,
    /// The sub-history of `key` has no linearization.
    NotLinearizable {
        key: String,
        explanation: Box<Counterexample>,
    },
    /// The budget ran out while checking `key` (no key before it failed).
    Unknown {
        key: String,
        reason: String,
    },
}

impl Linearizability {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Linearizability::Linearizable)
    }
}

/// Where the search for a linearization of one key got furthest, and what stopped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// How many of the key's operations could be put in order.
    pub linearized: usize,
    /// The key's value after them (`None`: absent).
    pub state: Option<String>,
    /// The last write or compare-and-set among them: the one that set `state`.
    pub written_by: Option<Operation>,
    /// The last few linearized operations, oldest first.
    pub recent: Vec<Operation>,
    /// The operation that returned before it could be linearized: nothing that could still go
    /// before it makes its outcome possible.
    pub stuck: Option<Operation>,
    /// The operations that could have gone next; each contradicts the state or leads nowhere.
    pub pending: Vec<Operation>,
    /// A few operations not linearized yet that need the key to still be `state` (so nothing
    /// may overwrite it before they go).
    pub still_needed_by: Vec<Operation>,
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            Some(v) => format!("{v:?}"),
            None => "absent".to_string(),
        };
        writeln!(
            f,
            "the longest linearizable prefix has {} operations and leaves the key {state}",
            self.linearized
        )?;
        if let Some(op) = &self.written_by {
            writeln!(f, "  value set by:     {op}")?;
        }
        for op in &self.recent {
            writeln!(f, "  linearized:       {op}")?;
        }
        match &self.stuck {
            Some(op) => writeln!(f, "  cannot linearize: {op}")?,
            None => writeln!(f, "  nothing further can be linearized")?,
        }
        for op in &self.pending {
            writeln!(f, "  could go next:    {op}")?;
        }
        for op in &self.still_needed_by {
            writeln!(f, "  still needs it:   {op}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Linearizability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Linearizability::Linearizable => write!(f, "linearizable"),
            Linearizability::NotLinearizable { key, explanation } => {
                write!(f, "not linearizable: key {key:?}: {explanation}")
            }
            Linearizability::Unknown { key, reason } => {
                write!(f, "unknown: gave up on key {key:?}: {reason}")
            }
        }
    }
}

/// The verdict with what it took to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub result: Linearizability,
    /// Operations in the history (all keys, including ones that constrain nothing).
    pub operations: usize,
    pub keys: usize,
    /// Search steps taken.
    pub steps: u64,
    pub elapsed: Duration,
}

/// Check a recorded history. Fails only when the history itself is malformed.
pub fn check_history(
    history: &History,
    options: &CheckOptions,
) -> Result<CheckReport, TestkitError> {
    Ok(check(&history.operations()?, options))
}

/// Check operations (from [`History::operations`] or built by hand). Keys are checked in key
/// order; the first that is not linearizable decides the verdict.
pub fn check(ops: &[Operation], options: &CheckOptions) -> CheckReport {
    let started = Instant::now();
    let mut budget = Budget {
        steps: 0,
        max_steps: options.max_steps,
        deadline: options.time_limit.map(|limit| started + limit),
        next_clock_read: 0,
    };
    let keys = partition::by_key(ops);
    let mut result = Linearizability::Linearizable;
    for (key, indices) in &keys {
        let history = partition::prepare(ops, indices);
        match search::search(&history.ops, &mut budget) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(deepest) => {
                result = Linearizability::NotLinearizable {
                    key: key.to_string(),
                    explanation: Box::new(counterexample(ops, &history, deepest)),
                };
                break;
            }
            Verdict::Exhausted(why) => {
                let reason = match why {
                    Exhausted::Steps => format!("step limit of {} reached", options.max_steps),
                    Exhausted::Time => format!("time limit of {:?} reached", options.time_limit),
                };
                result = Linearizability::Unknown {
                    key: key.to_string(),
                    reason,
                };
                break;
            }
        }
    }
    CheckReport {
        result,
        operations: ops.len(),
        keys: keys.len(),
        steps: budget.steps,
        elapsed: started.elapsed(),
    }
}

fn counterexample(
    ops: &[Operation],
    history: &KeyHistory,
    deepest: search::Deepest,
) -> Counterexample {
    let operation = |i: usize| ops[history.ops[i].source].clone();
    let still_needed_by = (0..history.ops.len())
        .filter(|&i| !deepest.set.contains(i) && history.ops[i].step.needs() == Some(deepest.state))
        .take(NEEDERS_SHOWN)
        .map(operation)
        .collect();
    Counterexample {
        linearized: deepest.depth,
        state: history
            .values
            .get(deepest.state as usize)
            .cloned()
            .flatten(),
        written_by: deepest.writer.map(operation),
        recent: deepest.recent.into_iter().map(operation).collect(),
        stuck: deepest.stuck.map(operation),
        pending: deepest.pending.into_iter().map(operation).collect(),
        still_needed_by,
    }
}
