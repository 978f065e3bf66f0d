//! The Wing–Gong search with Lowe's memoization (as in porcupine) over one key's operations.
//!
//! Calls and returns sit in one time-ordered doubly linked list. The search walks it from the
//! front: at a call it tries to linearize that operation now (the model step must accept it
//! and the pair (set of linearized operations, state) must be new — the memo), unlinks it and
//! restarts from the front; at a return it has met an operation that had to be linearized
//! already, so it undoes the most recent choice and tries the next call after it. It succeeds
//! when every operation with a return is linearized: open-ended (indeterminate) operations
//! that are left can take effect after everything else, or never.

use std::collections::HashSet;
use std::time::Instant;

use super::linearized_set::{Linearized, SetKey};
use super::links::{Entry, HEAD, Links, NIL};
use super::partition::{ABSENT, KeyOp, State};

/// Why the search gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exhausted {
    Steps,
    Time,
}

/// A step and time allowance shared by every key of one check.
#[derive(Debug)]
pub(super) struct Budget {
    pub(super) steps: u64,
    pub(super) max_steps: u64,
    pub(super) deadline: Option<Instant>,
    /// The step count at which the clock is read next (reading it every step costs).
    pub(super) next_clock_read: u64,
}

impl Budget {
    fn tick(&mut self) -> Result<(), Exhausted> {
        self.steps += 1;
        if self.steps > self.max_steps {
            return Err(Exhausted::Steps);
        }
        if self.steps >= self.next_clock_read {
            self.next_clock_read = self.steps + 4096;
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return Err(Exhausted::Time);
            }
        }
        Ok(())
    }
}

/// Where the search got furthest before every choice failed.
#[derive(Clone, Debug, Default)]
pub(super) struct Deepest {
    /// How many operations were linearized.
    pub(super) depth: usize,
    /// The last few of them, in order (indices into the key's operations).
    pub(super) recent: Vec<usize>,
    /// The most recent linearized write (or compare-and-set), which set `state`.
    pub(super) writer: Option<usize>,
    /// The state they leave.
    pub(super) state: State,
    /// All of them.
    pub(super) set: SetKey,
    /// The operation whose return was reached before it could be linearized.
    pub(super) stuck: Option<usize>,
    /// Operations that were candidates at that point, none of which could go next.
    pub(super) pending: Vec<usize>,
}

/// How many of the last linearized operations a counterexample shows.
const RECENT: usize = 4;

#[derive(Debug)]
pub(super) enum Verdict {
    Linearizable,
    NotLinearizable(Deepest),
    Exhausted(Exhausted),
}

/// One linearized operation on the search path.
struct Frame {
    op: usize,
    /// The state before it.
    before: State,
    /// Linearized because it cannot hurt (see [`Search::sweep_reads`]), so undoing it opens
    /// no alternative.
    forced: bool,
}

enum Try {
    Linearized,
    /// The step contradicts the state, or would destroy a value still needed.
    Rejected,
    /// This (linearized set, state) was explored before and led nowhere.
    Seen,
}

struct Search<'a> {
    ops: &'a [KeyOp],
    links: Links,
    /// Operations with a return that are not linearized yet.
    remaining: usize,
    state: State,
    linearized: Linearized,
    memo: HashSet<(SetKey, State)>,
    stack: Vec<Frame>,
    /// Per value: operations not linearized yet that need the state to be that value.
    needed: Vec<u32>,
    /// Per value: no operation (or exactly one) writes it, so once overwritten it is gone.
    unique: Vec<bool>,
    deepest: Option<Deepest>,
    /// Entries visited by read sweeps, not yet charged to the budget.
    swept: u64,
}

/// Is there an order of `ops`, consistent with real time, that the register model accepts?
///
/// Three prunings on top of Wing–Gong/Lowe, all exact (checked against brute force in
/// `tests/checker_properties.rs`):
/// - A read-only operation (read, failed compare-and-set) that fits the current state is
///   linearized at once and never reconsidered: it leaves the state as it is, and moving it
///   earlier within its interval cannot break any linearization.
/// - A state-changing step is refused while another pending operation needs the current value
///   and nothing else can write that value again.
/// - An open-ended (indeterminate) operation is linearized only to produce a value that an
///   operation which could go right after it uses. In any linearization it is either followed
///   by such a use (after read-only ones), or overwritten or last — and then leaving it out
///   ("never took effect") is a linearization too. Without this, every open-ended operation
///   could go anywhere and would double the search space.
pub(super) fn search(ops: &[KeyOp], budget: &mut Budget) -> Verdict {
    let values = ops
        .iter()
        .flat_map(|op| op.step.values())
        .max()
        .map_or(1, |max| max as usize + 1);
    let mut needed = vec![0u32; values];
    let mut writers = vec![0u32; values];
    for op in ops {
        if let Some(value) = op.step.needs() {
            needed[value as usize] += 1;
        }
        if let Some(value) = op.step.written() {
            writers[value as usize] += 1;
        }
    }
    let mut search = Search {
        ops,
        links: Links::new(ops),
        remaining: ops.iter().filter(|op| op.ret.is_some()).count(),
        state: ABSENT,
        linearized: Linearized::new(ops.len()),
        memo: HashSet::new(),
        stack: Vec::new(),
        needed,
        unique: writers.iter().map(|&w| w <= 1).collect(),
        deepest: None,
        swept: 0,
    };
    search.run(budget)
}

impl Search<'_> {
    fn run(&mut self, budget: &mut Budget) -> Verdict {
        let mut node = self.restart();
        while self.remaining > 0 {
            // The sweeps' visits count as steps too.
            budget.steps += std::mem::take(&mut self.swept);
            if let Err(exhausted) = budget.tick() {
                return Verdict::Exhausted(exhausted);
            }
            let entry = match node {
                Some(NIL) | None => Entry::Head,
                Some(node) => self.links.entries[node],
            };
            node = match (entry, node) {
                (Entry::Call(i), Some(at)) => match self.linearize(i, false) {
                    Try::Linearized => self.restart(),
                    Try::Rejected | Try::Seen => Some(self.links.next[at]),
                },
                // A return (or the end): that operation should have been linearized already.
                _ => match self.backtrack(entry, node) {
                    Some(node) => Some(node),
                    None => {
                        return Verdict::NotLinearizable(self.deepest.take().unwrap_or_default());
                    }
                },
            };
        }
        Verdict::Linearizable
    }

    /// After a choice: linearize the read-only operations that fit, then scan from the front.
    /// `None` when that reaches an explored dead end, so the caller backtracks.
    fn restart(&mut self) -> Option<usize> {
        if self.sweep_reads() {
            Some(self.links.next[HEAD])
        } else {
            None
        }
    }

    fn sweep_reads(&mut self) -> bool {
        let mut node = self.links.next[HEAD];
        while node != NIL {
            self.swept += 1;
            let next = self.links.next[node];
            match self.links.entries[node] {
                Entry::Return(_) => break,
                Entry::Call(i) if self.ops[i].step.read_only() => {
                    if let Try::Seen = self.linearize(i, true) {
                        return false;
                    }
                }
                _ => {}
            }
            node = next;
        }
        true
    }

    fn linearize(&mut self, i: usize, forced: bool) -> Try {
        let step = self.ops[i].step;
        let Some(next) = step.apply(self.state) else {
            return Try::Rejected;
        };
        if next != self.state && self.unique[self.state as usize] {
            let own = u32::from(step.needs() == Some(self.state));
            if self.needed[self.state as usize] > own {
                return Try::Rejected;
            }
        }
        if self.ops[i].ret.is_none() && (next == self.state || !self.wanted_next(i, next)) {
            return Try::Rejected;
        }
        self.linearized.insert(i);
        if !self.memo.insert((self.linearized.key(), next)) {
            self.linearized.remove(i);
            return Try::Seen;
        }
        self.stack.push(Frame {
            op: i,
            before: self.state,
            forced,
        });
        self.state = next;
        self.links.lift(i);
        if let Some(value) = step.needs() {
            self.needed[value as usize] -= 1;
        }
        if self.ops[i].ret.is_some() {
            self.remaining -= 1;
        }
        Try::Linearized
    }

    /// Whether an operation other than `i` that could go next needs the state to be `value`.
    fn wanted_next(&self, i: usize, value: State) -> bool {
        let mut node = self.links.next[HEAD];
        while node != NIL {
            match self.links.entries[node] {
                Entry::Return(_) => return false,
                Entry::Call(j) if j != i && self.ops[j].step.uses(value) => return true,
                _ => {}
            }
            node = self.links.next[node];
        }
        false
    }

    fn undo(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        let i = frame.op;
        self.linearized.remove(i);
        self.state = frame.before;
        self.links.unlift(i);
        if let Some(value) = self.ops[i].step.needs() {
            self.needed[value as usize] += 1;
        }
        if self.ops[i].ret.is_some() {
            self.remaining += 1;
        }
        Some(frame)
    }

    /// Undo up to and including the latest real choice; where to scan next, or `None` when
    /// no choice is left.
    fn backtrack(&mut self, entry: Entry, node: Option<usize>) -> Option<usize> {
        self.note_deepest(entry, node);
        loop {
            let frame = self.undo()?;
            if !frame.forced {
                return Some(self.links.next[self.links.call_of[frame.op]]);
            }
        }
    }

    fn note_deepest(&mut self, entry: Entry, node: Option<usize>) {
        let depth = self.stack.len();
        if self.deepest.as_ref().is_some_and(|d| depth <= d.depth) {
            return;
        }
        let ops = self.ops;
        let stuck = match entry {
            Entry::Return(i) => Some(i),
            _ => None,
        };
        self.deepest = Some(Deepest {
            depth,
            recent: self.stack[depth.saturating_sub(RECENT)..]
                .iter()
                .map(|f| f.op)
                .collect(),
            writer: self
                .stack
                .iter()
                .rev()
                .map(|f| f.op)
                .find(|&i| ops[i].step.writes()),
            state: self.state,
            set: self.linearized.key(),
            stuck,
            pending: self
                .links
                .calls_before(node.unwrap_or(NIL))
                .into_iter()
                .filter(|&i| Some(i) != stuck)
                .collect(),
        });
    }
}
