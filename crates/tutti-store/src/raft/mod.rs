//! `RaftStore`: the embedded [`crate::Store`] — an openraft state machine over the shared MVCC
//! state, with log, vote and snapshots in redb, fsync'd before a write is acknowledged.
//!
//! One manager is a one-voter cluster; the network seam (`network`) is where an mTLS
//! transport goes for multi-manager clusters.
//!
//! Layout, one job per file:
//! - `types`: the openraft type configuration, [`Command`] and [`CommandResponse`].
//! - `config`: [`RaftStoreConfig`] and the openraft config derived from it.
//! - `db`: the redb file, its tables and value encoding (rmp-serde, so `Bytes` stay binary).
//! - `log_store`: `RaftLogStorage` (entries, vote, committed, purge point).
//! - `state_machine` and `snapshot`: `RaftStateMachine`, snapshots persisted in redb.
//! - `proposer`: group commit of concurrent writes into one log entry.
//! - `network`: the Raft transport (none yet: peers are unreachable).
//! - `store`: [`RaftStore`] itself.
//!
//! # Why openraft 0.9.25 with `storage-v2`
//!
//! openraft `=0.9.25` is a released, stable line whose v2 storage traits (`RaftLogStorage` +
//! `RaftStateMachine`, enabled by the `storage-v2` feature) separate the log from the state
//! machine and let the log report durability through a callback — exactly the split this
//! store needs. 0.10.0-alpha.37 was the alternative: its API still moves between alphas
//! (type-config, storage and network traits have changed from one alpha to the next), which
//! would make every upgrade a rewrite of this module. The version is pinned (`=`) so that a
//! patch release cannot change storage behaviour underneath the on-disk format.

mod config;
mod db;
mod errors;
mod log_store;
mod network;
mod proposer;
mod snapshot;
mod state_machine;
mod stats;
mod store;
mod types;

pub use config::RaftStoreConfig;
pub use stats::StoreStats;
pub use store::RaftStore;
pub use types::{Command, CommandResponse, NodeId, TypeConfig};
