//! Splitting a history by key (P-compositionality: a history of independent registers is
//! linearizable iff each key's sub-history is) and turning one key's operations into model
//! steps over interned values, with indeterminate operations pinned down where that is sound.

use std::collections::{BTreeMap, HashMap};

use crate::history::{Nanos, Op, Operation, Outcome};

/// The register's value as an interned id; 0 is "absent", the initial state.
pub(super) type State = u32;
pub(super) const ABSENT: State = 0;

/// One operation as a step of the register model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The state must be this value; it stays.
    Read(State),
    /// The state becomes this value.
    Write(State),
    /// The state must be `expected`; it becomes `new`.
    Swap { expected: State, new: State },
    /// The state must be `current`, which must differ from `expected`; it stays.
    NoSwap { expected: State, current: State },
    /// An indeterminate compare-and-set: `new` if the state is `expected`, else unchanged.
    MaybeSwap { expected: State, new: State },
}

impl Step {
    /// Whether this step may change the state.
    pub(super) fn writes(self) -> bool {
        matches!(
            self,
            Step::Write(_) | Step::Swap { .. } | Step::MaybeSwap { .. }
        )
    }

    /// Whether this step never changes the state.
    pub(super) fn read_only(self) -> bool {
        matches!(self, Step::Read(_) | Step::NoSwap { .. })
    }

    /// The value the state must have for this step to fit, if one is required.
    pub(super) fn needs(self) -> Option<State> {
        match self {
            Step::Read(value) => Some(value),
            Step::Swap { expected, .. } => Some(expected),
            Step::NoSwap { current, .. } => Some(current),
            Step::Write(_) | Step::MaybeSwap { .. } => None,
        }
    }

    /// Whether this step needs the state to be `value`, or may act on it (an indeterminate
    /// compare-and-set expecting it).
    pub(super) fn uses(self, value: State) -> bool {
        match self {
            Step::MaybeSwap { expected, .. } => expected == value,
            step => step.needs() == Some(value),
        }
    }

    /// The value this step may write.
    pub(super) fn written(self) -> Option<State> {
        match self {
            Step::Write(value)
            | Step::Swap { new: value, .. }
            | Step::MaybeSwap { new: value, .. } => Some(value),
            Step::Read(_) | Step::NoSwap { .. } => None,
        }
    }

    /// Every value this step mentions.
    pub(super) fn values(self) -> impl Iterator<Item = State> {
        let (a, b) = match self {
            Step::Read(v) | Step::Write(v) => (v, v),
            Step::Swap { expected, new } | Step::MaybeSwap { expected, new } => (expected, new),
            Step::NoSwap { expected, current } => (expected, current),
        };
        [a, b].into_iter()
    }

    /// The state after this step, or `None` when the step's outcome contradicts `state`.
    pub(super) fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Read(value) => (value == state).then_some(state),
            Step::Write(value) => Some(value),
            Step::Swap { expected, new } => (expected == state).then_some(new),
            Step::NoSwap { expected, current } => {
                (current == state && expected != state).then_some(state)
            }
            Step::MaybeSwap { expected, new } => Some(if expected == state { new } else { state }),
        }
    }
}

/// One operation of a key's sub-history, ready for the search.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyOp {
    /// Index into the checked slice of operations.
    pub(super) source: usize,
    pub(super) call: Nanos,
    /// `None`: may be linearized any time after `call`, or never.
    pub(super) ret: Option<Nanos>,
    pub(super) step: Step,
}

/// One key's operations as model steps, and the interned values.
#[derive(Debug)]
pub(super) struct KeyHistory {
    pub(super) ops: Vec<KeyOp>,
    /// `values[id]` is the value with id `id` (`values[0]` is `None`, absent).
    pub(super) values: Vec<Option<String>>,
}

/// Indices of the operations on each key, in key order.
pub(super) fn by_key(ops: &[Operation]) -> BTreeMap<&str, Vec<usize>> {
    let mut keys: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        keys.entry(op.op.key()).or_default().push(i);
    }
    keys
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Option<String>, State>,
    values: Vec<Option<String>>,
}

impl Interner {
    fn new() -> Interner {
        let mut interner = Interner::default();
        interner.id(&None);
        interner
    }

    fn id(&mut self, value: &Option<String>) -> State {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = State::try_from(self.values.len()).unwrap_or(State::MAX);
        self.ids.insert(value.clone(), id);
        self.values.push(value.clone());
        id
    }
}

/// What the rest of the sub-history says about one value.
#[derive(Clone, Copy, Default)]
struct Seen {
    /// Operations that write it.
    writers: u32,
    /// An operation that is kept (not its writer) reads it or compares against it.
    mentioned: bool,
    /// The earliest time by which the value was certainly present: the return of a completed
    /// operation that saw it (or of a pinned compare-and-set that swapped it out).
    first_proof: Option<Nanos>,
}

impl Seen {
    /// Record a mention; whether that told anything new.
    fn mention(&mut self, proof: Option<Nanos>) -> bool {
        let before = (self.mentioned, self.first_proof);
        self.mentioned = true;
        if let Some(at) = proof {
            self.first_proof = Some(self.first_proof.map_or(at, |p| p.min(at)));
        }
        before != (self.mentioned, self.first_proof)
    }

    /// When the single write of this value must have taken effect, if that is known.
    fn pinned(&self, call: Nanos) -> Option<Nanos> {
        self.first_proof
            .filter(|_| self.writers == 1)
            .map(|at| at.max(call))
    }
}

/// An indeterminate write (`Write`) or compare-and-set (`MaybeSwap`).
struct Open {
    source: usize,
    call: Nanos,
    step: Step,
    value: State,
}

/// Turn the operations `indices` (all on one key) into model steps.
///
/// Reads that did not complete, and operations that definitely failed, constrain nothing and
/// are left out. An indeterminate write (or compare-and-set) is
/// - left out when no kept operation reads or compares against its value: taking effect or
///   not is then indistinguishable, so "never" is as good as any point;
/// - given a return time when its value is written by no other operation and something saw
///   it: it must have taken effect before the earliest such observation returned (and a
///   compare-and-set whose new value was seen must have succeeded, so its expected value was
///   there before that too);
/// - otherwise left open-ended: it may take effect any time after its invocation, or never.
///
/// Whether an indeterminate compare-and-set is kept decides whether its expected value is
/// mentioned, so the rules are applied until nothing changes.
pub(super) fn prepare(ops: &[Operation], indices: &[usize]) -> KeyHistory {
    let mut interner = Interner::new();
    let mut seen: HashMap<State, Seen> = HashMap::new();
    let mut key_ops: Vec<KeyOp> = Vec::with_capacity(indices.len());
    let mut open: Vec<Open> = Vec::new();

    for &source in indices {
        let operation = &ops[source];
        let (call, ret) = (operation.invoked_at, operation.completed_at);
        let step = match (&operation.op, &operation.outcome) {
            (_, Some(Outcome::Failed { .. })) | (Op::Read { .. }, None) => continue,
            (Op::Read { .. }, Some(Outcome::ReadOk { value })) => Step::Read(interner.id(value)),
            (Op::Write { value, .. }, _) => Step::Write(interner.id(&Some(value.clone()))),
            (Op::Cas { expected, new, .. }, outcome) => {
                let expected = interner.id(expected);
                let new = interner.id(&Some(new.clone()));
                match outcome {
                    Some(Outcome::CasFailed { current }) => Step::NoSwap {
                        expected,
                        current: interner.id(current),
                    },
                    Some(_) => Step::Swap { expected, new },
                    None => Step::MaybeSwap { expected, new },
                }
            }
            // A read cannot end as a write: `History::operations` rejects such outcomes, and
            // hand-built operations that do are treated as impossible reads.
            (Op::Read { .. }, Some(_)) => Step::NoSwap {
                expected: ABSENT,
                current: ABSENT,
            },
        };
        if let Some(value) = step.written() {
            seen.entry(value).or_default().writers += 1;
        }
        match (ret, step.written()) {
            (None, Some(value)) => open.push(Open {
                source,
                call,
                step,
                value,
            }),
            _ => {
                if let Some(value) = step.needs() {
                    seen.entry(value).or_default().mention(ret);
                }
                key_ops.push(KeyOp {
                    source,
                    call,
                    ret,
                    step,
                });
            }
        }
    }

    let mut kept = vec![false; open.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (k, o) in open.iter().enumerate() {
            let about = seen.get(&o.value).copied().unwrap_or_default();
            if !about.mentioned {
                continue;
            }
            changed |= !kept[k];
            kept[k] = true;
            if let Step::MaybeSwap { expected, .. } = o.step {
                let proof = about.pinned(o.call);
                changed |= seen.entry(expected).or_default().mention(proof);
            }
        }
    }
    for (o, _) in open.iter().zip(kept).filter(|(_, kept)| *kept) {
        let ret = seen.get(&o.value).and_then(|about| about.pinned(o.call));
        let step = match (ret, o.step) {
            (Some(_), Step::MaybeSwap { expected, new }) => Step::Swap { expected, new },
            (_, step) => step,
        };
        key_ops.push(KeyOp {
            source: o.source,
            call: o.call,
            ret,
            step,
        });
    }
    // Invocation order keeps the search's linearized sets compact (see `linearized_set`).
    key_ops.sort_by_key(|op| op.call);
    KeyHistory {
        ops: key_ops,
        values: interner.values,
    }
}
