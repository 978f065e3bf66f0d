//! Tunables shared by every store implementation: history bound, watch buffer, progress cadence.

use std::time::Duration;

/// Default bound on the number of events kept in history (see [`StoreConfig::history_limit`]).
pub const DEFAULT_HISTORY_LIMIT: usize = 100_000;

/// Default number of applied txns a watcher may fall behind before it is dropped.
pub const DEFAULT_WATCH_CAPACITY: usize = 16_384;

/// Default cadence of watch progress notifications.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Options of the revisioned state and its watch fan-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// At most this many events are kept for past-revision reads and watch replay. When a write
    /// pushes history past this bound, the oldest txns are forgotten and the compacted revision
    /// rises to the newest forgotten one (so old watches get `Compacted`, i.e. 410 Gone).
    /// Must be the same on every replica: trimming is part of the deterministic apply.
    pub history_limit: usize,
    /// How many applied txns a watcher may lag behind before it gets `Lagged`.
    pub watch_capacity: usize,
    /// A watcher that sees only non-matching txns gets a progress notification at most this
    /// often.
    pub progress_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history_limit: DEFAULT_HISTORY_LIMIT,
            watch_capacity: DEFAULT_WATCH_CAPACITY,
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
        }
    }
}
