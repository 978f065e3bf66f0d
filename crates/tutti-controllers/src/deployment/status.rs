//! Deployment status: replica counts summed over its ReplicaSets, the Available condition
//! (MinimumReplicasAvailable / MinimumReplicasUnavailable), ReplicaFailure copied from a
//! ReplicaSet, and the Progressing condition (see [`super::progress`]). The calculation is
//! pure; the writes are guarded `replace_status` calls from the reconcile round.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;

use super::rollout::{Limits, RsState, desired};
use super::sync::Round;
use super::{Error, progress};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The condition of `type_`, if present.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// A condition stamped `now` (both update and transition time).
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Kubernetes' `SetDeploymentCondition`: no change when status and reason are the same;
/// the transition time is kept when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_ != type_);
    }
}

/// Kubernetes' `DeploymentComplete`: every replica updated and available, and the latest
/// spec observed.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = desired(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Kubernetes' `calculateStatus` over all ReplicaSets (`all` includes `new`).
pub fn calculate(
    d: &Deployment,
    all: &[RsState],
    new: Option<&RsState>,
    limits: Limits,
    now: Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(|r| r.available).sum();
    let total: i32 = all.iter().map(|r| r.replicas).sum();
    let previous = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all.iter().map(|r| r.current).sum()),
        updated_replicas: Some(new.map_or(0, |n| n.current)),
        ready_replicas: Some(all.iter().map(|r| r.ready).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: previous.collision_count,
        conditions: previous.conditions,
        terminating_replicas: None,
    };
    let cond = if available >= desired(d) - limits.max_unavailable {
        new_condition(
            AVAILABLE,
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    } else {
        new_condition(
            AVAILABLE,
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

impl Round<'_> {
    /// Write `status` (guarded by the resourceVersion last read) and keep the result.
    pub(super) async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Error> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut d = self.d.clone();
        d.status = Some(status);
        self.d = self
            .api()
            .replace_status(&self.name(), &PostParams::default(), &d)
            .await?;
        Ok(())
    }

    /// Kubernetes' `syncDeploymentStatus`: counts and Available, no progress estimate.
    pub(super) async fn sync_deployment_status(&mut self) -> Result<(), Error> {
        let (new, all) = self.states_with_new();
        let status = calculate(&self.d, &all, new.as_ref(), self.limits, self.now);
        self.write_status(status).await
    }

    /// Kubernetes' `syncRolloutStatus`: counts, Available, Progressing (with the deadline)
    /// and ReplicaFailure; then tutti's rollout bookkeeping (the completion mark and
    /// auto-rollback) and the re-check at the deadline.
    pub(super) async fn sync_rollout_status(&mut self) -> Result<(), Error> {
        let (new, all) = self.states_with_new();
        let mut status = calculate(&self.d, &all, new.as_ref(), self.limits, self.now);
        let new_name = new.as_ref().map(|n| n.name.clone());
        progress::update(&self.d, &mut status, new_name.as_deref(), self.now);
        match self.replica_failure() {
            Some(cond) => set_condition(&mut status, cond),
            None => remove_condition(&mut status, REPLICA_FAILURE),
        }
        let was_timed_out = self
            .d
            .status
            .as_ref()
            .zip(new_name.as_deref())
            .is_some_and(|(s, n)| progress::timed_out_for(&self.d, s, n));
        if complete(&self.d, &status) {
            self.mark_complete().await?;
        }
        self.write_status(status).await?;
        if let Some(after) = self
            .d
            .status
            .as_ref()
            .and_then(|s| progress::recheck_in(&self.d, s, self.now))
        {
            self.requeue_in(after);
        }
        self.auto_rollback(!was_timed_out).await
    }

    /// The ReplicaFailure condition of the new ReplicaSet, else of any old one.
    fn replica_failure(&self) -> Option<DeploymentCondition> {
        let new = self.new.map(|i| &self.rss[i]);
        new.into_iter()
            .chain(self.rss.iter())
            .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
            .find(|c| c.type_ == REPLICA_FAILURE)
            .map(|c| DeploymentCondition {
                type_: REPLICA_FAILURE.into(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    }
}
