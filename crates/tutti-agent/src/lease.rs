//! The node's heartbeat Lease (`kube-node-lease/<node>`): created if missing, renewed every
//! quarter of its duration so the node lifecycle controller sees the node alive. The agent
//! creates it with its configured duration; in a large cluster the controller lengthens it
//! (the heartbeat budget) and the agent follows whatever duration each renewal returns.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::error::AgentError;
use crate::kubetime;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";

pub struct LeaseKeeper {
    api: Api<Lease>,
    node_name: String,
    node_uid: String,
    duration: Duration,
}

impl LeaseKeeper {
    pub fn new(
        client: kube::Client,
        node_name: &str,
        node_uid: &str,
        duration: Duration,
    ) -> LeaseKeeper {
        LeaseKeeper {
            api: Api::namespaced(client, LEASE_NAMESPACE),
            node_name: node_name.to_string(),
            node_uid: node_uid.to_string(),
            duration,
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// Renew the lease now, creating it if it does not exist; returns the lease's duration.
    pub async fn renew(&self) -> Result<Duration, AgentError> {
        let patch = json!({"spec": {
            "holderIdentity": self.node_name,
            "renewTime": kubetime::micro_now(),
        }});
        match self
            .api
            .patch(
                &self.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(lease) => {
                debug!(node = %self.node_name, "lease renewed");
                Ok(lease_duration(&lease).unwrap_or(self.duration))
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {
                self.create().await?;
                Ok(self.duration)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn create(&self) -> Result<(), AgentError> {
        let owner = (!self.node_uid.is_empty()).then(|| {
            vec![OwnerReference {
                api_version: "v1".to_string(),
                kind: "Node".to_string(),
                name: self.node_name.clone(),
                uid: self.node_uid.clone(),
                ..Default::default()
            }]
        });
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.node_name.clone()),
                namespace: Some(LEASE_NAMESPACE.to_string()),
                owner_references: owner,
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.node_name.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                renew_time: Some(kubetime::micro_now()),
                ..Default::default()
            }),
        };
        self.api.create(&PostParams::default(), &lease).await?;
        info!(node = %self.node_name, "created node lease");
        Ok(())
    }

    /// Renew forever, every quarter of the lease's current duration.
    pub async fn run(self) {
        let mut duration = self.duration;
        loop {
            match self.renew().await {
                Ok(d) => duration = d,
                Err(e) => warn!(node = %self.node_name, error = %e, "lease renewal failed"),
            }
            tokio::time::sleep(renew_period(duration)).await;
        }
    }
}

/// A lease's `leaseDurationSeconds`, if it has a positive one.
pub fn lease_duration(lease: &Lease) -> Option<Duration> {
    let seconds = lease.spec.as_ref()?.lease_duration_seconds?;
    u64::try_from(seconds)
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

/// How long to wait between renewals of a lease of this duration.
pub fn renew_period(duration: Duration) -> Duration {
    (duration / 4).max(Duration::from_millis(100))
}
