//! `RaftStore`: the embedded [`crate::Store`] — an openraft state machine over the shared MVCC
//! state, with log and vote in redb and snapshots in files, fsync'd before a write is
//! acknowledged, and a Raft transport over HTTPS with mutual TLS between managers.
//!
//! Layout, one job per file:
//! - `types`: the openraft type configuration, [`Command`] and [`CommandResponse`].
//! - `config`: [`RaftStoreConfig`] (timings, [`Bootstrap`], peer TLS) and openraft's config.
//! - `db`: the redb file, its tables and value encoding (rmp-serde, so `Bytes` stay binary).
//! - `log_store`: `RaftLogStorage` (entries, vote, committed, purge point).
//! - `state_machine` and `snapshot`: `RaftStateMachine`, snapshots streamed to files in
//!   `<dir>/snapshots/` (the current one named in redb); `snapshot_file`: the open snapshot
//!   file openraft reads from and writes into.
//! - `proposer`: group commit of concurrent writes into one log entry.
//! - `rpc`: the transport's paths and MessagePack bodies; `peers`: the HTTPS/HTTP/2 client;
//!   `network`: openraft's `RaftNetworkFactory` on top of it; `server`: the axum router.
//! - `routing`: where a request runs (here when leading, else forwarded to the leader).
//! - `membership`: learners, voters and the member list; `recovery`: force-new-cluster.
//! - `startup` and `store`: opening, and [`RaftStore`] itself.
//!
//! # A cluster of managers
//!
//! ```text
//! manager 1 (tutti server)                    manager 2 (tutti join)
//! open_with_config(Bootstrap::NewCluster)     open_with_config(Bootstrap::Join)
//! mount store.raft_router() on its HTTPS      mount store.raft_router() on its HTTPS
//! add_learner(2, "https://10.0.0.2:6443") ──▶ receives the log (or a snapshot)
//! promote(2)                                  now a voter; 3 managers tolerate 1 failure
//! ```
//!
//! - Every member serves every `Store` call. Writes, compactions and membership changes run on
//!   the leader; a follower forwards them (`/raft/forward`) and answers once its own replica
//!   applied the result, so a caller reads its own writes on the member it talks to.
//! - Reads are linearizable (ReadIndex: the leader confirms its leadership with a quorum; a
//!   follower then waits until it applied the leader's commit index). `Store::range_stale`
//!   answers from the local replica, without a quorum. Watches are always local.
//! - Without a leader backed by a quorum, writes and linearizable reads wait at most
//!   `leader_wait`, then fail with `Unavailable("no leader: quorum lost ...")`.
//! - Heartbeats every 150 ms; a follower starts an election after the leader lease
//!   (`election_timeout_max`) plus 600–900 ms of silence, so a new leader is in place about
//!   1.5–2 s after the old one died.
//! - Recovery from a lost majority: [`RaftStore::force_new_cluster`] (procedure in its docs).
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
mod membership;
mod network;
mod peers;
mod proposer;
mod recovery;
mod routing;
mod rpc;
mod server;
mod snapshot;
mod snapshot_file;
mod startup;
mod state_machine;
mod stats;
mod store;
mod types;

pub use config::{Bootstrap, RaftStoreConfig};
pub use membership::{Member, Role};
pub use stats::StoreStats;
pub use store::RaftStore;
pub use types::{Command, CommandResponse, NodeId, TypeConfig};
