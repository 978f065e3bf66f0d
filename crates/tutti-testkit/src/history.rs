//! Recording a concurrent history: every operation's invocation and completion (or
//! indeterminate end) with a monotonic timestamp, serializable to JSON for debugging.
//!
//! ```
//! use tutti_testkit::history::{Op, Outcome, Recorder};
//!
//! let recorder = Recorder::new();
//! let write = recorder.invoke(1, Op::write("k", "v1"));
//! write.complete(Outcome::WriteOk);
//! let read = recorder.invoke(2, Op::read("k"));
//! read.indeterminate(); // timed out: it may or may not have taken effect
//! assert_eq!(recorder.history().operations().unwrap().len(), 2);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::TestkitError;

/// Who issued an operation (one sequential client: at most one operation in flight).
pub type ClientId = u32;
/// Identity of one operation in a history.
pub type OpId = u64;
/// Nanoseconds since the recorder was created (monotonic clock).
pub type Nanos = u64;

/// An operation on the key-value register model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Read the key's value.
    Read { key: String },
    /// Set the key to `value`.
    Write { key: String, value: String },
    /// Set the key to `new` if its value is `expected` (`None`: the key is absent).
    Cas {
        key: String,
        expected: Option<String>,
        new: String,
    },
}

impl Op {
    pub fn read(key: impl Into<String>) -> Op {
        Op::Read { key: key.into() }
    }

    pub fn write(key: impl Into<String>, value: impl Into<String>) -> Op {
        Op::Write {
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn cas(key: impl Into<String>, expected: Option<&str>, new: impl Into<String>) -> Op {
        Op::Cas {
            key: key.into(),
            expected: expected.map(str::to_string),
            new: new.into(),
        }
    }

    /// The key this operation reads or writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => key,
        }
    }
}

/// How a completed operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// A read returned this value (`None`: the key was absent).
    ReadOk { value: Option<String> },
    /// A write was acknowledged.
    WriteOk,
    /// A compare-and-set found the expected value and wrote the new one.
    CasOk,
    /// A compare-and-set found `current` instead of the expected value and wrote nothing.
    CasFailed { current: Option<String> },
    /// The operation definitely had no effect (the store refused it before doing anything).
    /// Use [`PendingOp::indeterminate`] when unsure.
    Failed { error: String },
}

impl Outcome {
    /// Whether this outcome can end `op` (a read cannot end with `CasOk`, and so on).
    pub fn fits(&self, op: &Op) -> bool {
        matches!(
            (op, self),
            (_, Outcome::Failed { .. })
                | (Op::Read { .. }, Outcome::ReadOk { .. })
                | (Op::Write { .. }, Outcome::WriteOk)
                | (Op::Cas { .. }, Outcome::CasOk | Outcome::CasFailed { .. })
        )
    }
}

/// What happened at one instant of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Invoke {
        op: Op,
    },
    Complete {
        outcome: Outcome,
    },
    /// The client gave up (timeout, connection error): the operation may or may not have
    /// taken effect, now or later.
    Indeterminate {
        reason: String,
    },
}

/// One invocation or completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: OpId,
    pub client: ClientId,
    pub at: Nanos,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One operation of a history, invocation and completion paired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub id: OpId,
    pub client: ClientId,
    pub op: Op,
    pub invoked_at: Nanos,
    /// `None` when indeterminate (or never completed): the operation may take effect at any
    /// time after its invocation, or never.
    pub completed_at: Option<Nanos>,
    /// `None` exactly when `completed_at` is.
    pub outcome: Option<Outcome>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "absent".to_string(),
        };
        write!(f, "#{} client {} ", self.id, self.client)?;
        match &self.op {
            Op::Read { key } => write!(f, "read {key:?}")?,
            Op::Write { key, value } => write!(f, "write {key:?} = {value:?}")?,
            Op::Cas { key, expected, new } => {
                write!(f, "cas {key:?} {} -> {new:?}", show(expected))?
            }
        }
        match &self.outcome {
            None => write!(f, " => indeterminate")?,
            Some(Outcome::ReadOk { value }) => write!(f, " => {}", show(value))?,
            Some(Outcome::WriteOk | Outcome::CasOk) => write!(f, " => ok")?,
            Some(Outcome::CasFailed { current }) => {
                write!(f, " => failed, current {}", show(current))?
            }
            Some(Outcome::Failed { error }) => write!(f, " => failed without effect: {error}")?,
        }
        let ms = |n: Nanos| n as f64 / 1e6;
        match self.completed_at {
            Some(end) => write!(f, " [{:.3}ms .. {:.3}ms]", ms(self.invoked_at), ms(end)),
            None => write!(f, " [{:.3}ms .. ]", ms(self.invoked_at)),
        }
    }
}

/// A recorded history: events in the order they happened (timestamps never decrease).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// Pair invocations with completions, in invocation order. An operation with no
    /// completion event is indeterminate.
    pub fn operations(&self) -> Result<Vec<Operation>, TestkitError> {
        let mut ops: Vec<Operation> = Vec::new();
        let mut index: BTreeMap<OpId, usize> = BTreeMap::new();
        let mut ended: BTreeSet<OpId> = BTreeSet::new();
        for event in &self.events {
            let id = event.id;
            match &event.kind {
                EventKind::Invoke { op } => {
                    if index.insert(id, ops.len()).is_some() {
                        return Err(TestkitError::DuplicateInvocation { id });
                    }
                    ops.push(Operation {
                        id,
                        client: event.client,
                        op: op.clone(),
                        invoked_at: event.at,
                        completed_at: None,
                        outcome: None,
                    });
                }
                kind => {
                    let i = *index
                        .get(&id)
                        .ok_or(TestkitError::UnknownOperation { id })?;
                    if !ended.insert(id) {
                        return Err(TestkitError::DuplicateCompletion { id });
                    }
                    // `index` only holds positions of `ops`, which never shrinks.
                    let operation = &mut ops[i];
                    if event.at < operation.invoked_at {
                        return Err(TestkitError::CompletedBeforeInvoked { id });
                    }
                    if let EventKind::Complete { outcome } = kind {
                        if !outcome.fits(&operation.op) {
                            return Err(TestkitError::MismatchedOutcome {
                                id,
                                op: format!("{:?}", operation.op),
                                outcome: format!("{outcome:?}"),
                            });
                        }
                        operation.completed_at = Some(event.at);
                        operation.outcome = Some(outcome.clone());
                    }
                }
            }
        }
        Ok(ops)
    }

    pub fn to_json(&self) -> Result<String, TestkitError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    pub fn from_json(json: &str) -> Result<History, TestkitError> {
        Ok(serde_json::from_str(json)?)
    }

    /// Write the history as JSON, e.g. to keep a failing run for debugging.
    pub fn save(&self, path: &Path) -> Result<(), TestkitError> {
        std::fs::write(path, self.to_json()?).map_err(|source| TestkitError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<History, TestkitError> {
        let json = std::fs::read_to_string(path).map_err(|source| TestkitError::Io {
            path: path.display().to_string(),
            source,
        })?;
        History::from_json(&json)
    }
}

/// A thread-safe history recorder. Cloning gives another handle to the same history.
#[derive(Clone, Debug)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    epoch: Instant,
    next_id: AtomicU64,
    events: Mutex<Vec<Event>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                next_id: AtomicU64::new(0),
                events: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Record that `client` invokes `op` now. Call this right before sending the request.
    pub fn invoke(&self, client: ClientId, op: Op) -> PendingOp {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.record(id, client, EventKind::Invoke { op });
        PendingOp {
            recorder: self.clone(),
            id,
            client,
            ended: false,
        }
    }

    /// A copy of everything recorded so far.
    pub fn history(&self) -> History {
        History {
            events: self.events().clone(),
        }
    }

    /// How many operations were invoked so far.
    pub fn invoked(&self) -> u64 {
        self.inner.next_id.load(Ordering::Relaxed)
    }

    // Poisoning is recovered from: events are only ever appended whole.
    fn events(&self) -> MutexGuard<'_, Vec<Event>> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The timestamp is taken under the lock, so event order and timestamp order agree.
    fn record(&self, id: OpId, client: ClientId, kind: EventKind) {
        let mut events = self.events();
        let at = u64::try_from(self.inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        events.push(Event {
            id,
            client,
            at,
            kind,
        });
    }
}

/// An invoked operation awaiting its end. Dropping it without ending it records it as
/// indeterminate (a cancelled request may still take effect).
#[derive(Debug)]
pub struct PendingOp {
    recorder: Recorder,
    id: OpId,
    client: ClientId,
    ended: bool,
}

impl PendingOp {
    pub fn id(&self) -> OpId {
        self.id
    }

    /// Record the operation's result now. Call this right after the response arrives.
    pub fn complete(mut self, outcome: Outcome) {
        self.end(EventKind::Complete { outcome });
    }

    /// The client does not know whether the operation took effect (timeout, lost connection).
    pub fn indeterminate(self) {
        self.indeterminate_because("indeterminate");
    }

    /// [`PendingOp::indeterminate`] with the reason kept in the history for debugging.
    pub fn indeterminate_because(mut self, reason: impl Into<String>) {
        self.end(EventKind::Indeterminate {
            reason: reason.into(),
        });
    }

    fn end(&mut self, kind: EventKind) {
        if !self.ended {
            self.ended = true;
            self.recorder.record(self.id, self.client, kind);
        }
    }
}

impl Drop for PendingOp {
    fn drop(&mut self) {
        self.end(EventKind::Indeterminate {
            reason: "dropped before completion".to_string(),
        });
    }
}
