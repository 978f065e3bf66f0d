//! The three ways a reconcile round moves a Deployment's ReplicaSets, as Kubernetes'
//! controller does: RollingUpdate (scale the new one up within maxSurge, old ones down
//! within maxUnavailable), Recreate (old ones to zero, wait until their pods are gone, then
//! the new one to full size), and plain scaling (a resize, or a paused Deployment), which
//! shares the change out proportionally.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use tutti_core::labels::Selector;

use super::Error;
use super::progress::is_paused;
use super::rollout::{self, RsState};
use super::status::complete;
use super::sync::Round;
use crate::pods;

/// How often a Recreate rollout looks whether the old pods are gone yet.
const RECREATE_POLL: Duration = Duration::from_secs(1);

impl Round<'_> {
    /// Kubernetes' `isScalingEvent`: an active ReplicaSet was last scaled for a different
    /// Deployment size.
    pub(super) fn is_scaling_event(&self) -> bool {
        let desired = self.desired();
        self.rss
            .iter()
            .map(RsState::of)
            .filter(|r| r.replicas > 0)
            .any(|r| r.desired_replicas.is_some_and(|d| d != desired))
    }

    /// Kubernetes' `sync`: resize (proportionally when mid-rollout), prune history when
    /// paused, report status without judging progress.
    pub(super) async fn scale_only(&mut self) -> Result<(), Error> {
        self.sync_new_rs(false).await?;
        let (new, old) = self.states();
        let status_replicas = self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
        let sizes = rollout::scale_sizes(
            self.desired(),
            self.limits,
            rollout::is_rolling(&self.d),
            status_replicas,
            new.as_ref(),
            &old,
        );
        for (name, size) in sizes {
            self.scale_named(&name, size).await?;
        }
        if is_paused(&self.d) {
            self.clean_up().await?;
        }
        self.sync_deployment_status().await
    }

    /// Kubernetes' `rolloutRolling`: one step per round, then status.
    pub(super) async fn rolling(&mut self) -> Result<(), Error> {
        self.sync_new_rs(true).await?;
        let desired = self.desired();
        let (new, old) = self.states();
        if let (Some(i), Some(new)) = (self.new, new.as_ref()) {
            let all: Vec<RsState> = old.iter().cloned().chain([new.clone()]).collect();
            if let Some(size) = rollout::rolling_new_size(desired, self.limits, &all, new)
                && self.scale(i, size).await?
            {
                return self.sync_rollout_status().await;
            }
        }
        let mut scaled = false;
        for (name, size) in rollout::rolling_old_sizes(desired, self.limits, new.as_ref(), &old) {
            scaled |= self.scale_named(&name, size).await?;
        }
        if scaled {
            return self.sync_rollout_status().await;
        }
        if self.d.status.as_ref().is_some_and(|s| complete(&self.d, s)) {
            self.clean_up().await?;
        }
        self.sync_rollout_status().await
    }

    /// Kubernetes' `rolloutRecreate`.
    pub(super) async fn recreate(&mut self) -> Result<(), Error> {
        self.sync_new_rs(false).await?;
        let (_, old) = self.states();
        let mut scaled = false;
        for rs in old.iter().filter(|r| r.replicas > 0) {
            scaled |= self.scale_named(&rs.name, 0).await?;
        }
        if scaled {
            return self.sync_rollout_status().await;
        }
        if self.old_pods_running(&old).await? {
            self.requeue_in(RECREATE_POLL);
            return self.sync_rollout_status().await;
        }
        if self.new.is_none() {
            self.sync_new_rs(true).await?;
        }
        if let Some(i) = self.new {
            let desired = self.desired();
            self.scale(i, desired).await?;
        }
        if self.d.status.as_ref().is_some_and(|s| complete(&self.d, s)) {
            self.clean_up().await?;
        }
        self.sync_rollout_status().await
    }

    /// Whether any pod of an old ReplicaSet may still be running (not Failed/Succeeded),
    /// terminating ones included: Recreate must not start new pods next to them.
    async fn old_pods_running(&self, old: &[RsState]) -> Result<bool, Error> {
        if old.iter().any(|r| r.current > 0) {
            return Ok(true);
        }
        let new_uid = self.new.and_then(|i| self.rss[i].metadata.uid.clone());
        let old_uids: Vec<String> = self
            .rss
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .filter(|uid| Some(uid) != new_uid.as_ref())
            .collect();
        let selector = self
            .d
            .spec
            .as_ref()
            .map(|s| Selector::from_label_selector(&s.selector))
            .transpose()
            .map_err(|source| Error::Selector {
                deployment: self.name(),
                source,
            })?
            .unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace());
        let list = pods
            .list(&ListParams::default().labels(&selector.to_string()))
            .await?;
        Ok(list.items.iter().any(|p| {
            pods::controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid))
                && !matches!(pods::phase(p), "Failed" | "Succeeded")
        }))
    }
}
