//! tutti-scheduler: places pods on nodes. The placement core is pure — filter and score plugins
//! over a [`Snapshot`] of nodes, [`schedule_one`] deciding one pod and explaining a pod that
//! fits nowhere in kube-scheduler's words — and a thin loop ([`spawn`]) feeds it from watches
//! and writes bindings, conditions and events through the API.

mod binder;
pub mod error;
pub mod explain;
pub mod fixtures;
pub mod framework;
pub mod images;
pub mod node_info;
pub mod node_selector;
pub mod plugins;
pub mod pod_info;
pub mod pod_terms;
pub mod ports;
mod queue;
pub mod resources;
pub mod schedule;
mod scheduler;
pub mod snapshot;
pub mod taints;

pub use error::SchedulerError;
pub use framework::{FilterPlugin, Profile, ProfileName, Reason, ScorePlugin, Status};
pub use node_info::NodeInfo;
pub use pod_info::PodInfo;
pub use schedule::{Placement, Unschedulable, schedule_one};
pub use scheduler::{SchedulerConfig, spawn};
pub use snapshot::Snapshot;
