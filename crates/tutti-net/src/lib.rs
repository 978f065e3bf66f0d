//! tutti-net: what a node needs to take part in the service network.
//!
//! - [`catalog`]: the cluster's Services and their endpoints as one immutable
//!   [`Snapshot`](catalog::Snapshot), rebuilt on every change and published on a
//!   `tokio::sync::watch` channel. The proxy and the DNS server read only this.
//! - [`proxy`]: the service data path, an async userspace L4 proxy (ClusterIP, NodePort,
//!   LoadBalancer) that sends each new connection to a ready endpoint.
//! - [`dns`]: the node's DNS server for its pods (`<svc>.<ns>.svc.cluster.local`, ...).

pub mod catalog;
pub mod dns;
pub mod error;
pub mod host;
pub mod proxy;

pub use error::NetError;
