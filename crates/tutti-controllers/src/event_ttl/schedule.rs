//! The event TTL controller's memory: every Event it tracks, when each expires, and which
//! one is due next. Pure: time comes in as an argument (milliseconds on the controller's own
//! monotonic clock, see [`Millis`]); nothing here does IO.
//!
//! Compact on purpose, as it holds one entry per Event in the cluster (150,000 in a large
//! one): an Event is its uid as a `u128` (the map key), its `namespace/name` in one
//! allocation, its resourceVersion, its expiry in whole seconds, a relist epoch and a flag
//! (48 bytes per map slot, 56 to 112 bytes per Event as the table fills), plus one 20-byte
//! entry in a min-heap of expiries: 120 bytes per Event besides its name at 150,000 Events,
//! about 25 MiB in all with names of 45 bytes (the Events themselves are about 1 KiB each).
//! Updating an Event pushes a fresh heap entry and leaves the old one behind; a heap entry
//! whose expiry no longer matches its Event's is skipped when it surfaces, and the heap is
//! rebuilt when such leftovers outnumber the Events.

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// Milliseconds since the controller started, on a monotonic clock.
pub type Millis = u64;

/// An expiry: whole seconds since the controller started, rounded up (never early).
type Secs = u32;

/// The expiry of an Event whose deletion is in flight.
const IN_FLIGHT: Secs = Secs::MAX;

/// How long after a failed or refused deletion the Event is looked at again (a refused one
/// has normally been rescheduled by the watch before then: it was updated).
pub const RETRY: Duration = Duration::from_secs(5);

/// How the controller came to see a version of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The watch delivered it as it was written (created or updated): it was written now.
    Written,
    /// A (re)list returned it. Its last write was no later than now, and by its own
    /// timestamps `age` ago (None: it carries none).
    Listed { age: Option<Duration> },
}

/// One version of an Event as the watch or a list delivered it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub uid: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub resource_version: u64,
    pub seen: Seen,
}

/// An Event whose time is up: delete it, on the condition that it is still this version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    key: u128,
    pub namespace: String,
    pub name: String,
    /// The uid precondition (None in the unlikely case the uid was not a canonical UUID:
    /// the resourceVersion precondition alone is then exact, as revisions are never reused).
    pub uid: Option<String>,
    pub resource_version: u64,
}

/// What became of a deletion.
#[derive(Debug)]
pub enum Outcome {
    /// Deleted, or already gone, or now terminating (it had finalizers): nothing left to do.
    Done,
    /// Refused by a precondition: the Event was updated or replaced since the version we
    /// judged. The watch brings the newer version.
    Changed,
    /// The call failed (API unavailable, leadership moving...): try again after [`RETRY`].
    Failed,
}

/// One tracked Event (32 bytes).
#[derive(Debug)]
struct Tracked {
    /// `namespace/name` (namespaces cannot contain `/`).
    path: Box<str>,
    resource_version: u64,
    /// When it expires, or [`IN_FLIGHT`].
    due: Secs,
    /// The relist that last saw it (see [`Schedule::begin_relist`]).
    epoch: u8,
    /// Whether the key is the uid itself (a canonical UUID) rather than a hash of it.
    exact_uid: bool,
}

/// A heap entry (20 bytes): an expiry and the key it was set for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Secs,
    key: [u32; 4],
}

/// Every tracked Event and the order in which they expire.
#[derive(Debug)]
pub struct Schedule {
    ttl: Millis,
    events: HashMap<u128, Tracked>,
    heap: BinaryHeap<Reverse<Due>>,
    epoch: u8,
}

impl Schedule {
    /// Events expire `ttl` after they were last written (at least one second).
    pub fn new(ttl: Duration) -> Schedule {
        Schedule {
            ttl: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1000),
            events: HashMap::new(),
            heap: BinaryHeap::new(),
            epoch: 0,
        }
    }

    /// How many Events are tracked.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Take note of a version of an Event. A version already known changes nothing (its
    /// expiry stands); a new version of a known Event was written between the version we
    /// knew and now, so it expires a TTL from now; an Event new to us expires a TTL after
    /// its last write, which is now if the watch saw it written and otherwise estimated from
    /// its timestamps (never later than now).
    pub fn observe(&mut self, ev: Observed<'_>, now: Millis) {
        let (key, exact_uid) = uid_key(ev.uid);
        let epoch = self.epoch;
        let written_now = expiry(now, self.ttl);
        let due = match self.events.get_mut(&key) {
            Some(t) if t.resource_version == ev.resource_version => {
                t.epoch = epoch;
                return;
            }
            Some(t) => {
                t.resource_version = ev.resource_version;
                t.epoch = epoch;
                // An in-flight deletion of the old version will be refused (Changed).
                t.due = written_now;
                written_now
            }
            None => {
                let due = match ev.seen {
                    Seen::Written | Seen::Listed { age: None } => written_now,
                    Seen::Listed { age: Some(age) } => {
                        let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                        // Written `age` before now; 0 (due at once) when that was over a TTL
                        // before this controller started.
                        ceil_seconds(now.saturating_add(self.ttl).saturating_sub(age))
                    }
                };
                let path = format!("{}/{}", ev.namespace, ev.name).into_boxed_str();
                self.events.insert(
                    key,
                    Tracked {
                        path,
                        resource_version: ev.resource_version,
                        due,
                        epoch,
                        exact_uid,
                    },
                );
                due
            }
        };
        self.push(due, key);
    }

    /// The Event is gone (deleted, by us or anyone else).
    pub fn forget(&mut self, uid: &str) {
        self.events.remove(&uid_key(uid).0);
    }

    /// A relist begins: every Event it returns is marked, and [`Schedule::end_relist`]
    /// forgets the unmarked ones (deleted while the watch was not looking).
    pub fn begin_relist(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The relist is complete; returns how many Events were forgotten.
    pub fn end_relist(&mut self) -> usize {
        let before = self.events.len();
        let epoch = self.epoch;
        self.events.retain(|_, t| t.epoch == epoch);
        before - self.events.len()
    }

    /// When the next Event expires (seconds on the controller's clock), if any is waiting.
    pub fn next_due(&mut self) -> Option<Duration> {
        self.drop_stale();
        self.heap
            .peek()
            .map(|Reverse(d)| Duration::from_secs(u64::from(d.at)))
    }

    /// The next Event whose time is up at `now`, marked in flight until
    /// [`Schedule::finished`] is told what became of it.
    pub fn pop_expired(&mut self, now: Millis) -> Option<Expired> {
        self.drop_stale();
        let now = whole_seconds(now);
        let Reverse(top) = *self.heap.peek()?;
        if top.at > now {
            return None;
        }
        self.heap.pop();
        let key = from_parts(top.key);
        let t = self.events.get_mut(&key)?;
        t.due = IN_FLIGHT;
        let (namespace, name) = t.path.split_once('/').unwrap_or(("", &t.path));
        Some(Expired {
            key,
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: t.exact_uid.then(|| format_uid(key)),
            resource_version: t.resource_version,
        })
    }

    /// What became of the deletion of `expired`.
    pub fn finished(&mut self, expired: &Expired, outcome: &Outcome, now: Millis) {
        let Some(t) = self.events.get_mut(&expired.key) else {
            return;
        };
        if t.resource_version != expired.resource_version || t.due != IN_FLIGHT {
            // A newer version arrived meanwhile and carries its own expiry.
            return;
        }
        match outcome {
            Outcome::Done => {
                self.events.remove(&expired.key);
            }
            Outcome::Changed | Outcome::Failed => {
                let retry = u64::try_from(RETRY.as_millis()).unwrap_or(u64::MAX);
                let due = expiry(now, retry);
                t.due = due;
                self.push(due, expired.key);
            }
        }
    }

    /// Bytes held by the collections and the names (not counting the allocator's rounding of
    /// each name): what the controller costs per tracked Event. The map's buckets are a power
    /// of two of which at most 7/8 are used (std's hash table), each a slot and a control byte.
    pub fn approx_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u128, Tracked)>() + 1;
        let buckets = (self.events.capacity() * 8).div_ceil(7).next_power_of_two();
        let names: usize = self.events.values().map(|t| t.path.len()).sum();
        buckets * slot + self.heap.capacity() * std::mem::size_of::<Reverse<Due>>() + names
    }

    fn push(&mut self, at: Secs, key: u128) {
        self.heap.push(Reverse(Due {
            at,
            key: to_parts(key),
        }));
        // Updated Events leave their old heap entries behind: rebuild once they dominate.
        if self.heap.len() > 2 * self.events.len() + 1024 {
            self.heap = self
                .events
                .iter()
                .filter(|(_, t)| t.due != IN_FLIGHT)
                .map(|(k, t)| {
                    Reverse(Due {
                        at: t.due,
                        key: to_parts(*k),
                    })
                })
                .collect();
        }
    }

    /// Pop heap entries that no longer describe their Event's expiry.
    fn drop_stale(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            let current = self
                .events
                .get(&from_parts(top.key))
                .is_some_and(|t| t.due == top.at);
            if current {
                return;
            }
            self.heap.pop();
        }
    }
}

/// `at + ttl` in whole seconds, rounded up.
fn expiry(at: Millis, ttl: Millis) -> Secs {
    ceil_seconds(at.saturating_add(ttl))
}

fn ceil_seconds(ms: Millis) -> Secs {
    whole_seconds(ms.saturating_add(999))
}

fn whole_seconds(ms: Millis) -> Secs {
    Secs::try_from(ms / 1000)
        .unwrap_or(Secs::MAX)
        .min(IN_FLIGHT - 1)
}

/// A uid as a map key: the UUID's 128 bits when it is a canonical lowercase UUID (as the API
/// server writes them), else a hash of it (and false).
fn uid_key(uid: &str) -> (u128, bool) {
    if let Some(k) = parse_uuid(uid) {
        return (k, true);
    }
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        uid.hash(&mut h);
        h.finish()
    };
    ((u128::from(half(1)) << 64) | u128::from(half(2)), false)
}

fn parse_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

fn format_uid(k: u128) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        k >> 96,
        (k >> 80) & 0xffff,
        (k >> 64) & 0xffff,
        (k >> 48) & 0xffff,
        k & 0xffff_ffff_ffff
    )
}

fn to_parts(k: u128) -> [u32; 4] {
    [
        (k >> 96) as u32,
        (k >> 64) as u32,
        (k >> 32) as u32,
        k as u32,
    ]
}

fn from_parts(p: [u32; 4]) -> u128 {
    (u128::from(p[0]) << 96)
        | (u128::from(p[1]) << 64)
        | (u128::from(p[2]) << 32)
        | u128::from(p[3])
}

#[cfg(test)]
mod tests;
