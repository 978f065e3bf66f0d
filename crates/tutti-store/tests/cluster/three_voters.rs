//! The whole conformance suite against a three-voter cluster, every call made on a follower:
//! writes and compactions are forwarded to the leader, reads use ReadIndex through it,
//! watches are served from the follower's own replica.

use std::sync::Mutex;

use tutti_store::{RaftStore, RaftStoreConfig};

use crate::conformance::{self, StoreFactory};
use crate::support::Cluster;

/// Fresh clusters that live as long as the factory (one test).
#[derive(Default)]
struct ThreeVoters {
    clusters: Mutex<Vec<Cluster>>,
}

impl StoreFactory for ThreeVoters {
    type S = RaftStore;

    async fn make(&self) -> RaftStore {
        let cluster = Cluster::form(3, RaftStoreConfig::default()).await;
        let follower = cluster.follower().await;
        let store = cluster.store(follower).clone();
        self.clusters.lock().expect("clusters").push(cluster);
        store
    }
}

crate::conformance_suite!(ThreeVoters::default());
