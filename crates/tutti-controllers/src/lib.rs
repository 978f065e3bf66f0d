//! tutti-controllers: the reconcile loops that run in the manager, each an ordinary API
//! client (the manager hands them an in-process `kube::Client`).
//!
//! - [`garbage_collector`]: cascading deletion through ownerReferences (Background,
//!   Foreground and Orphan propagation).
//! - [`namespace`]: deleting everything in a terminating namespace, then the namespace.

pub mod garbage_collector;
pub mod kinds;
pub mod namespace;

/// Start every controller on the current runtime.
pub fn spawn_all(client: kube::Client) {
    garbage_collector::spawn(client.clone());
    namespace::spawn(client);
}
