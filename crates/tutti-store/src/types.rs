//! Requests, responses and events of the [`crate::Store`] seam.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A store revision. Revision 0 means "none" (an absent key's mod_revision, or "latest").
pub type Revision = i64;

/// One stored key with its revision metadata (etcd's `mvccpb.KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the txn that created this key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the txn that last modified this key.
    pub mod_revision: Revision,
    /// Number of modifications since creation (1 after create).
    pub version: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    /// Prefix of keys to return (or the exact key when `exact`).
    pub prefix: String,
    pub exact: bool,
    /// Read at this revision; 0 = latest.
    pub revision: Revision,
    /// At most this many keys; 0 = no limit.
    pub limit: usize,
    /// Only keys strictly greater than this one (for paging); empty = from the start.
    pub start_after: String,
}

impl RangeRequest {
    pub fn key(key: impl Into<String>) -> Self {
        RangeRequest {
            prefix: key.into(),
            exact: true,
            ..Default::default()
        }
    }
    pub fn prefix(prefix: impl Into<String>) -> Self {
        RangeRequest {
            prefix: prefix.into(),
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// The revision this read was served at (the current revision when latest was asked).
    pub revision: Revision,
    /// True when `limit` cut the result and more keys follow.
    pub more: bool,
    /// How many keys in the range follow the returned ones (0 unless `more`).
    pub remaining: usize,
}

/// A condition of a [`Txn`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// The key's current mod_revision equals `revision` (0 = the key is absent).
    ModRevision { key: String, revision: Revision },
}

impl Compare {
    /// The key is absent (create-if-absent).
    pub fn absent(key: impl Into<String>) -> Self {
        Compare::ModRevision {
            key: key.into(),
            revision: 0,
        }
    }

    /// The key was last modified at `revision` (compare-and-swap).
    pub fn mod_revision(key: impl Into<String>, revision: Revision) -> Self {
        Compare::ModRevision {
            key: key.into(),
            revision,
        }
    }

    /// The key this compare looks at.
    pub fn key(&self) -> &str {
        match self {
            Compare::ModRevision { key, .. } => key,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    Put { key: String, value: Bytes },
    Delete { key: String },
}

impl TxnOp {
    pub fn put(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        TxnOp::Delete { key: key.into() }
    }

    /// The key this op writes.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } => key,
        }
    }
}

/// An atomic transaction: if every compare holds, apply every op under one new revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub ops: Vec<TxnOp>,
}

impl Txn {
    /// An unconditional put of one key.
    pub fn put(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Txn {
            compares: Vec::new(),
            ops: vec![TxnOp::put(key, value)],
        }
    }

    /// An unconditional delete of one key.
    pub fn delete(key: impl Into<String>) -> Self {
        Txn {
            compares: Vec::new(),
            ops: vec![TxnOp::delete(key)],
        }
    }

    /// Add a condition.
    pub fn when(mut self, compare: Compare) -> Self {
        self.compares.push(compare);
        self
    }

    /// Add an op.
    pub fn then(mut self, op: TxnOp) -> Self {
        self.ops.push(op);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResponse {
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// `prev` is None when the key was absent (nothing deleted).
    Delete { prev: Option<KeyValue> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    pub succeeded: bool,
    /// The store revision after the txn (the new revision if it wrote).
    pub revision: Revision,
    /// On failure: the current value of each compared key, in compare order.
    pub compared: Vec<Option<KeyValue>>,
    /// On success: one response per op, in op order.
    pub ops: Vec<OpResponse>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Put,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// For a put: the new value. For a delete: the key with `mod_revision` set to the
    /// deleting revision and the value it had before (like etcd with prev_kv).
    pub kv: KeyValue,
    /// The value before this event, if any.
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// One batch of a watch stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    /// The store revision this response was produced at: every event at or below it that
    /// matches the watch has been delivered on this stream once this response is read.
    pub revision: Revision,
    /// Matching events, in order. Empty = a progress notification (see `Store::watch`).
    pub events: Vec<Event>,
}
