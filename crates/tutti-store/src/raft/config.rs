//! Options of the Raft store and their translation into openraft's [`openraft::Config`].

use std::time::Duration;

use crate::StoreError;
use crate::config::StoreConfig;

/// Options of [`super::RaftStore`]. `Default` is what a manager runs with; tests shrink the
/// snapshot threshold to exercise snapshots and log purging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStoreConfig {
    /// History bound, watch buffer and progress cadence (shared with the memory store).
    pub store: StoreConfig,
    /// Build a snapshot once this many log entries were applied since the last one.
    pub snapshot_logs: u64,
    /// Log entries kept behind the latest snapshot (for followers that are slightly behind).
    pub keep_logs: u64,
    /// At most this many txns are grouped into one log entry.
    pub max_batch: usize,
    /// How long `open` waits for this node to become leader and catch up.
    pub open_timeout: Duration,
}

impl Default for RaftStoreConfig {
    fn default() -> Self {
        RaftStoreConfig {
            store: StoreConfig::default(),
            snapshot_logs: 5_000,
            keep_logs: 1_000,
            max_batch: 1_024,
            open_timeout: Duration::from_secs(30),
        }
    }
}

impl RaftStoreConfig {
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, StoreError> {
        let config = openraft::Config {
            cluster_name: "tutti".to_string(),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_logs.max(1)),
            max_in_snapshot_log_to_keep: self.keep_logs,
            // Keep the replication lag threshold above the snapshot threshold (openraft's rule).
            replication_lag_threshold: self.snapshot_logs.max(1) * 2,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| StoreError::Unavailable(format!("invalid raft configuration: {e}")))
    }
}
