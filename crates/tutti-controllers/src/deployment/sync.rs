//! One reconcile round of a Deployment ([`Round`]) and its writes to ReplicaSets: finding
//! or creating the new ReplicaSet (Kubernetes' `getNewReplicaSet`, with the revision and
//! hash-collision handling), scaling a ReplicaSet with its ScalingReplicaSet Event, pruning
//! history, and recording the Deployment's revision.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tutti_client::EventType;

use super::annotations::{self, REVISION, ROLLOUT_COMPLETE};
use super::rollout::{self, Limits, RsState};
use super::status::{PROGRESSING, condition, new_condition, set_condition};
use super::{Context, Error, hash, history, progress};
use crate::pods;
use crate::replicaset::claim::{is_already_exists, is_not_found};

/// The state of one reconcile of one Deployment: the Deployment as last read or written,
/// the ReplicaSets it owns (live), which of them is the new one, and when to look again.
pub(super) struct Round<'a> {
    pub(super) ctx: &'a Context,
    pub(super) d: Deployment,
    pub(super) rss: Vec<ReplicaSet>,
    pub(super) new: Option<usize>,
    pub(super) limits: Limits,
    /// The round's clock, in whole seconds (as conditions are stored).
    pub(super) now: Timestamp,
    pub(super) requeue: Option<Duration>,
}

impl<'a> Round<'a> {
    pub(super) fn new(
        ctx: &'a Context,
        d: Deployment,
        rss: Vec<ReplicaSet>,
        limits: Limits,
    ) -> Round<'a> {
        let now = Timestamp::now();
        let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
        Round {
            ctx,
            d,
            rss,
            new: None,
            limits,
            now,
            requeue: None,
        }
    }

    pub(super) fn name(&self) -> String {
        self.d.name_any()
    }

    pub(super) fn namespace(&self) -> String {
        self.d.namespace().unwrap_or_default()
    }

    pub(super) fn api(&self) -> Api<Deployment> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace())
    }

    pub(super) fn desired(&self) -> i32 {
        rollout::desired(&self.d)
    }

    /// Look again after `after` at the latest (the soonest request wins).
    pub(super) fn requeue_in(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    /// The old ReplicaSets (every owned one but the new one).
    pub(super) fn old(&self) -> Vec<&ReplicaSet> {
        (0..self.rss.len())
            .filter(|&i| Some(i) != self.new)
            .map(|i| &self.rss[i])
            .collect()
    }

    /// Snapshots for the arithmetic: (new, old).
    pub(super) fn states(&self) -> (Option<RsState>, Vec<RsState>) {
        let new = self.new.map(|i| RsState::of(&self.rss[i]));
        let old = self.old().into_iter().map(RsState::of).collect();
        (new, old)
    }

    /// Snapshots for status: (new, all including new).
    pub(super) fn states_with_new(&self) -> (Option<RsState>, Vec<RsState>) {
        let new = self.new.map(|i| RsState::of(&self.rss[i]));
        (new, self.rss.iter().map(RsState::of).collect())
    }

    /// Kubernetes' `getAllReplicaSetsAndSyncRevision`: find the new ReplicaSet, bring its
    /// annotations and minReadySeconds up to date, record its revision on the Deployment,
    /// and (with `create`) create it when there is none.
    pub(super) async fn sync_new_rs(&mut self, create: bool) -> Result<(), Error> {
        self.new = hash::find_new(&self.d, &self.rss);
        let next_revision = history::max_revision(self.old()) + 1;
        let Some(i) = self.new else {
            return if create {
                self.create_new_rs(next_revision).await
            } else {
                Ok(())
            };
        };
        let mut rs = self.rss[i].clone();
        let mut changed = annotations::set_new_rs_annotations(
            &self.d,
            &mut rs.metadata,
            next_revision,
            true,
            self.limits.max_surge,
        );
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(spec) = rs.spec.as_mut()
            && spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0)
        {
            spec.min_ready_seconds = min_ready;
            changed = true;
        }
        if changed {
            self.rss[i] = self
                .rs_api()
                .replace(&rs.name_any(), &PostParams::default(), &rs)
                .await?;
        }
        self.set_deployment_revision(annotations::revision(&self.rss[i].metadata))
            .await?;
        let status = self.d.status.clone().unwrap_or_default();
        if progress::deadline(&self.d).is_some() && condition(&status, PROGRESSING).is_none() {
            let mut status = status;
            let msg = format!("Found new replica set {:?}", rs.name_any());
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "True", progress::FOUND_NEW_RS, &msg, self.now),
            );
            self.write_status(status).await?;
        }
        Ok(())
    }

    async fn create_new_rs(&mut self, revision: i64) -> Result<(), Error> {
        let Some(spec) = self.d.spec.clone() else {
            return Ok(());
        };
        let status = self.d.status.clone().unwrap_or_default();
        let hash = hash::template_hash(&spec.template, status.collision_count);
        let template = hash::template_with_hash(&spec.template, &hash);
        let name = format!("{}-{hash}", self.name());
        let desired = self.desired();
        let replicas = if rollout::is_rolling(&self.d) {
            let (_, old) = self.states();
            rollout::new_rs_replicas(
                desired,
                self.limits.max_surge,
                rollout::total_replicas(&old),
                0,
            )
        } else {
            desired
        };
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace()),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                owner_references: pods::controller_ref(&self.d).map(|r| vec![r]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: spec.min_ready_seconds,
                selector: hash::selector_with_hash(&spec.selector, &hash),
                template: Some(template),
            }),
            status: None,
        };
        annotations::set_new_rs_annotations(
            &self.d,
            &mut rs.metadata,
            revision,
            false,
            self.limits.max_surge,
        );
        let reference = tutti_client::reference(&self.d);
        let created = match self.rs_api().create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if is_already_exists(&e) => return self.on_name_taken(&name, &hash).await,
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {e}");
                if progress::deadline(&self.d).is_some() {
                    let mut status = status;
                    let cond = new_condition(
                        PROGRESSING,
                        "False",
                        progress::FAILED_RS_CREATE,
                        &msg,
                        self.now,
                    );
                    set_condition(&mut status, cond);
                    // The create error is the one to report; a failed status write adds nothing.
                    let _ = self.write_status(status).await;
                }
                self.ctx
                    .recorder
                    .publish(
                        &reference,
                        EventType::Warning,
                        progress::FAILED_RS_CREATE,
                        &msg,
                    )
                    .await;
                return Err(e.into());
            }
        };
        tracing::debug!(deployment = %self.name(), replicaset = %name, revision, replicas, "created new replica set");
        if replicas > 0 {
            let msg = format!("Scaled up replica set {name} from 0 to {replicas}");
            self.ctx
                .recorder
                .publish(&reference, EventType::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        self.rss.push(created);
        self.new = Some(self.rss.len() - 1);
        self.set_deployment_revision(revision).await?;
        if progress::deadline(&self.d).is_some() {
            let mut status = self.d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set {name:?}");
            set_condition(
                &mut status,
                new_condition(
                    PROGRESSING,
                    "True",
                    progress::NEW_RS_CREATED,
                    &msg,
                    self.now,
                ),
            );
            self.write_status(status).await?;
        }
        Ok(())
    }

    /// The new ReplicaSet's name exists: ours with our template (a watch lagging behind),
    /// or a hash collision, which bumps `status.collisionCount` so the next hash differs.
    async fn on_name_taken(&mut self, name: &str, hash: &str) -> Result<(), Error> {
        let existing = self.rs_api().get(name).await?;
        let ours = pods::controller_of(&existing.metadata).map(|r| r.uid.as_str())
            == self.d.metadata.uid.as_deref();
        let same = existing
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .zip(self.d.spec.as_ref())
            .is_some_and(|(t, spec)| hash::equal_ignore_hash(t, &spec.template));
        if ours && same {
            self.rss.push(existing);
            self.new = Some(self.rss.len() - 1);
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
        tracing::debug!(deployment = %self.name(), replicaset = name, collision_count = ?status.collision_count, "hash collision");
        self.write_status(status).await?;
        Err(Error::HashCollision {
            deployment: self.name(),
            hash: hash.to_string(),
        })
    }

    /// Kubernetes' `scaleReplicaSet`: set the size and the desired/max-replicas annotations
    /// of `rss[i]`; an Event when the size changed. True when it did.
    pub(super) async fn scale(&mut self, i: usize, to: i32) -> Result<bool, Error> {
        let desired = self.desired();
        let max = desired + self.limits.max_surge;
        let rs = &self.rss[i];
        let from = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if from == to && !annotations::replicas_annotations_need_update(&rs.metadata, desired, max)
        {
            return Ok(false);
        }
        let mut updated = rs.clone();
        updated.spec.get_or_insert_with(Default::default).replicas = Some(to);
        annotations::set_replicas_annotations(&mut updated.metadata, desired, max);
        let name = updated.name_any();
        self.rss[i] = self
            .rs_api()
            .replace(&name, &PostParams::default(), &updated)
            .await?;
        if from == to {
            return Ok(false);
        }
        let direction = if to > from { "up" } else { "down" };
        tracing::debug!(deployment = %self.name(), replicaset = %name, from, to, "scaled replica set");
        let msg = format!("Scaled {direction} replica set {name} from {from} to {to}");
        self.ctx
            .recorder
            .publish(
                &tutti_client::reference(&self.d),
                EventType::Normal,
                "ScalingReplicaSet",
                &msg,
            )
            .await;
        Ok(true)
    }

    /// [`Self::scale`] by name.
    pub(super) async fn scale_named(&mut self, name: &str, to: i32) -> Result<bool, Error> {
        match self
            .rss
            .iter()
            .position(|rs| rs.metadata.name.as_deref() == Some(name))
        {
            Some(i) => self.scale(i, to).await,
            None => Ok(false),
        }
    }

    /// Delete old ReplicaSets beyond `revisionHistoryLimit`.
    pub(super) async fn clean_up(&mut self) -> Result<(), Error> {
        let old: Vec<ReplicaSet> = self.old().into_iter().cloned().collect();
        for name in history::to_clean_up(&self.d, &old) {
            match self
                .rs_api()
                .delete(&name, &DeleteParams::background())
                .await
            {
                Ok(_) => {
                    tracing::debug!(deployment = %self.name(), replicaset = %name, "pruned old revision")
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Record the new ReplicaSet's revision on the Deployment (and drop a completion mark
    /// that `kubectl rollout undo` copied onto it from a ReplicaSet).
    async fn set_deployment_revision(&mut self, revision: i64) -> Result<(), Error> {
        let rev = revision.to_string();
        let stray_mark = annotations::get(&self.d.metadata, ROLLOUT_COMPLETE).is_some();
        if annotations::get(&self.d.metadata, REVISION) == Some(rev.as_str()) && !stray_mark {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: rev, ROLLOUT_COMPLETE: null}}});
        let updated = self
            .api()
            .patch(&self.name(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        if updated.metadata.generation != self.d.metadata.generation {
            // The spec changed under us: this round's decisions are stale.
            return Err(Error::Changed {
                deployment: self.name(),
            });
        }
        self.d = updated;
        Ok(())
    }

    /// Mark the new ReplicaSet as a revision that completed its rollout.
    pub(super) async fn mark_complete(&mut self) -> Result<(), Error> {
        let Some(i) = self.new else {
            return Ok(());
        };
        if annotations::get(&self.rss[i].metadata, ROLLOUT_COMPLETE).is_some() {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {ROLLOUT_COMPLETE: self.now.to_string()}}});
        let name = self.rss[i].name_any();
        self.rss[i] = self
            .rs_api()
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }
}
