//! Options of the Raft store (storage, timings, membership bootstrap, peer TLS) and their
//! translation into openraft's [`openraft::Config`].

use std::sync::Arc;
use std::time::Duration;

use crate::StoreError;
use crate::config::StoreConfig;

use super::types::NodeId;

/// What a member does on its very first start (an empty directory). Ignored afterwards: a
/// member that already holds Raft state rejoins the cluster it belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bootstrap {
    /// Create a new one-voter cluster of this member (`tutti server`).
    #[default]
    NewCluster,
    /// Wait, empty, until the cluster's leader adds this member as a learner (`tutti join`).
    Join,
}

/// Options of [`super::RaftStore`]. `Default` is what a lone manager runs with; tests shrink the
/// snapshot threshold to exercise snapshots and log purging.
#[derive(Clone, Debug)]
pub struct RaftStoreConfig {
    /// History bound, watch buffer and progress cadence (shared with the memory store).
    pub store: StoreConfig,
    /// Build a snapshot once this many log entries were applied since the last one.
    pub snapshot_logs: u64,
    /// Log entries kept behind the latest snapshot (for followers that are slightly behind).
    pub keep_logs: u64,
    /// At most this many txns are grouped into one log entry.
    pub max_batch: usize,
    /// How long `open` waits for a lone voter to become leader and catch up, and how long a
    /// membership change (including a learner catching up before `promote`) may take.
    pub open_timeout: Duration,
    /// The leader sends heartbeats this often.
    pub heartbeat_interval: Duration,
    /// A follower that hears nothing from the leader for the leader lease (`election_timeout_max`)
    /// plus a random time in `[election_timeout_min, election_timeout_max)` starts an election.
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// How long a write or a linearizable read waits for a leader backed by a quorum before it
    /// fails with `StoreError::Unavailable("no leader: quorum lost ...")`.
    pub leader_wait: Duration,
    /// Upper bound on one replicated write (append, quorum, apply) once proposed.
    pub write_timeout: Duration,
    /// Timeout of one snapshot chunk sent to a lagging member.
    pub snapshot_chunk_timeout: Duration,
    /// This member's address as its peers reach it: `https://10.0.0.2:6443`. Empty means a
    /// placeholder (`node-<id>`): fine for a lone manager, which never sends an RPC.
    pub advertise_addr: String,
    /// Client side of the peer transport: the cluster CA as root and this manager's client
    /// certificate. `None`: every RPC to a peer fails as unreachable (a lone manager).
    pub peer_tls: Option<Arc<rustls::ClientConfig>>,
    /// First-start behaviour: create a cluster or wait to be added to one.
    pub bootstrap: Bootstrap,
}

impl Default for RaftStoreConfig {
    fn default() -> Self {
        RaftStoreConfig {
            store: StoreConfig::default(),
            snapshot_logs: 5_000,
            keep_logs: 1_000,
            max_batch: 1_024,
            open_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(600),
            election_timeout_max: Duration::from_millis(900),
            leader_wait: Duration::from_secs(3),
            write_timeout: Duration::from_secs(10),
            snapshot_chunk_timeout: Duration::from_secs(10),
            advertise_addr: String::new(),
            peer_tls: None,
            bootstrap: Bootstrap::NewCluster,
        }
    }
}

/// Snapshots travel in chunks of this size.
const SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;

/// At most this many log entries per append RPC. openraft 0.9 gives every append the
/// heartbeat interval as its deadline, so a follower catching up must be able to receive,
/// fsync and acknowledge one payload well within it; a payload that never fits would be
/// retried forever. Each entry is one group-committed batch of txns.
const MAX_PAYLOAD_ENTRIES: u64 = 16;

impl RaftStoreConfig {
    /// The address recorded for `node_id` in the membership.
    pub(crate) fn node_addr(&self, node_id: NodeId) -> String {
        if self.advertise_addr.is_empty() {
            format!("node-{node_id}")
        } else {
            self.advertise_addr.clone()
        }
    }

    /// A leader that has not heard from a quorum for longer than this treats the quorum as lost.
    pub(crate) fn quorum_ack_limit(&self) -> Duration {
        self.election_timeout_max
    }

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, StoreError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let config = openraft::Config {
            cluster_name: "tutti".to_string(),
            heartbeat_interval: ms(self.heartbeat_interval),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: ms(self.snapshot_chunk_timeout),
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
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
