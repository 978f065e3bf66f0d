//! Stored objects prepared once for every watcher that sends them.
//!
//! A write to a pod reaches every watch on pods: the scheduler, several controllers, the
//! agents, kubectl. Each used to parse the stored JSON, add the resourceVersion and
//! serialise it again for its own stream, so one write cost as many parses and encodings as
//! there were watchers (a third of the server's CPU while 20,000 pods were created). Watchers
//! now share the work through this small cache, keyed by (revision, key): the first watcher
//! splices the resourceVersion into the stored JSON, the others take the result; the object
//! is decoded (once) only if a watcher with selectors or a Table format needs to look inside.
//!
//! Entries are immutable (a revision's value never changes), so sharing is always correct;
//! the cache only needs to hold the last thousand or so events, the span within which watchers
//! catch up with each other.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiResult;
use crate::objects::{json_with_revision, metadata_json};

/// How many objects are kept (a few KiB of JSON each, ~10 KiB more once decoded).
const CAPACITY: usize = 1024;

/// One stored value as watchers send it: JSON with its resourceVersion, and the object
/// decoded only when a watcher needs to look inside (selectors, tables).
pub struct Decoded {
    pub json: Bytes,
    value: OnceLock<Option<Value>>,
    metadata: OnceLock<Option<Bytes>>,
}

impl Decoded {
    /// Only the object's `metadata` as JSON (PartialObjectMetadata watches).
    pub fn metadata(&self) -> Option<&Bytes> {
        self.metadata
            .get_or_init(|| metadata_json(&self.json).ok().map(Bytes::from))
            .as_ref()
    }

    /// The object (None: the stored bytes were not an object, never the case for our writes).
    pub fn value(&self) -> Option<&Value> {
        self.value
            .get_or_init(|| serde_json::from_slice(&self.json).ok())
            .as_ref()
    }
}

/// Whether an entry is the object written at that revision or the one it replaced.
#[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
pub enum Side {
    Current,
    Previous,
}

type Key = (i64, Side, String);

#[derive(Default)]
pub struct DecodeCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Arc<Decoded>>,
    order: VecDeque<Key>,
}

impl DecodeCache {
    /// The stored `value` of `key` at `revision`, decoded with that resourceVersion.
    pub fn get(
        &self,
        revision: i64,
        side: Side,
        key: &str,
        value: &[u8],
    ) -> ApiResult<Arc<Decoded>> {
        let k = (revision, side, key.to_string());
        if let Some(hit) = self.lock().map.get(&k) {
            return Ok(hit.clone());
        }
        // Decode outside the lock; two watchers racing both decode, one result is kept.
        let json = Bytes::from(json_with_revision(value, revision)?);
        let decoded = Arc::new(Decoded {
            json,
            value: OnceLock::new(),
            metadata: OnceLock::new(),
        });
        let mut inner = self.lock();
        if let Some(hit) = inner.map.get(&k) {
            return Ok(hit.clone());
        }
        inner.map.insert(k.clone(), decoded.clone());
        inner.order.push_back(k);
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.map.remove(&old);
            }
        }
        Ok(decoded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_per_revision_and_key_with_the_resource_version() {
        let cache = DecodeCache::default();
        let stored = br#"{"kind":"Pod","metadata":{"name":"a"}}"#;
        let a = cache.get(7, Side::Current, "/pods/a", stored).unwrap();
        let b = cache.get(7, Side::Current, "/pods/a", b"not json").unwrap();
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second watcher shares the first's result"
        );
        let value = a.value().unwrap();
        assert_eq!(value["metadata"]["resourceVersion"], "7");
        assert_eq!(value["metadata"]["name"], "a");
        let other = cache.get(8, Side::Current, "/pods/a", stored).unwrap();
        assert_eq!(other.value().unwrap()["metadata"]["resourceVersion"], "8");
        let prev = cache.get(7, Side::Previous, "/pods/a", stored).unwrap();
        assert!(!Arc::ptr_eq(&a, &prev));
    }

    #[test]
    fn old_entries_are_dropped() {
        let cache = DecodeCache::default();
        let stored = br#"{"metadata":{}}"#;
        for rev in 0..(CAPACITY as i64 + 10) {
            cache.get(rev, Side::Current, "k", stored).unwrap();
        }
        let inner = cache.lock();
        assert_eq!(inner.map.len(), CAPACITY);
        assert!(!inner.map.contains_key(&(0, Side::Current, "k".to_string())));
    }
}
