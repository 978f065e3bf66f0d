//! Automatic rollback, tutti's own addition: a Deployment annotated
//! `tutti.dev/auto-rollback: "true"` whose new revision misses its progress deadline gets
//! the template of the last revision that completed a rollout back, with a Warning Event
//! `RolledBack` saying why. The rollback is what `kubectl rollout undo` does (the old
//! ReplicaSet becomes the new one again and takes the next revision number), so history,
//! `rollout status` and a later manual undo behave the same.
//!
//! No loops: only a revision that never completed is rolled back (a stall of a revision
//! that once ran fine is not its template's fault), and after the rollback the stalled
//! ReplicaSet is an old one, so its timeout no longer concerns the Deployment.

use kube::api::PostParams;
use tutti_client::EventType;

use super::annotations::{self, CHANGE_CAUSE, ROLLOUT_COMPLETE};
use super::progress::{self, is_paused};
use super::sync::Round;
use super::{Error, hash, history};

impl Round<'_> {
    /// Roll back if the Deployment asks for it and its new revision timed out. `first_time`
    /// says the timeout was noticed in this round (so a "cannot roll back" Event is
    /// published once, not on every resync).
    pub(super) async fn auto_rollback(&mut self, first_time: bool) -> Result<(), Error> {
        if !annotations::auto_rollback(&self.d) || is_paused(&self.d) {
            return Ok(());
        }
        let Some(i) = self.new else {
            return Ok(());
        };
        let new = &self.rss[i];
        let new_name = new.metadata.name.clone().unwrap_or_default();
        let timed_out = self
            .d
            .status
            .as_ref()
            .is_some_and(|s| progress::timed_out_for(&self.d, s, &new_name));
        if !timed_out || annotations::get(&new.metadata, ROLLOUT_COMPLETE).is_some() {
            return Ok(());
        }
        let bad = annotations::revision(&new.metadata);
        let deadline = progress::deadline(&self.d).unwrap_or(0);
        let why = format!(
            "revision {bad} did not become available within {deadline}s (progressDeadlineSeconds)"
        );
        let reference = tutti_client::reference(&self.d);
        let old: Vec<_> = self.old().into_iter().cloned().collect();
        let Some(target) = history::last_good(new, &old) else {
            if first_time {
                let msg = format!(
                    "{why}; no earlier revision completed a rollout, so there is none to roll back to"
                );
                self.ctx
                    .recorder
                    .publish(&reference, EventType::Warning, "RollbackSkipped", &msg)
                    .await;
            }
            return Ok(());
        };
        let good = annotations::revision(&target.metadata);
        let Some(template) = target.spec.as_ref().and_then(|s| s.template.as_ref()) else {
            return Ok(());
        };
        let mut d = self.d.clone();
        if let Some(spec) = d.spec.as_mut() {
            spec.template = hash::without_hash(template);
        }
        let notes = d.metadata.annotations.get_or_insert_with(Default::default);
        match annotations::get(&target.metadata, CHANGE_CAUSE) {
            Some(cause) => notes.insert(CHANGE_CAUSE.into(), cause.into()),
            None => notes.remove(CHANGE_CAUSE),
        };
        self.d = self
            .api()
            .replace(&self.name(), &PostParams::default(), &d)
            .await?;
        tracing::warn!(deployment = %self.name(), from = bad, to = good, "rolled back automatically");
        let msg = format!("{why}; rolled back to revision {good}");
        self.ctx
            .recorder
            .publish(&reference, EventType::Warning, "RolledBack", &msg)
            .await;
        Ok(())
    }
}
