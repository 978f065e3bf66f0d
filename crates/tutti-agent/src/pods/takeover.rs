//! Taking over what a previous agent run left for a pod: the latest two attempts of each
//! container (running ones are not restarted), restart counts (the highest attempt seen
//! or the count in the pod's last status), and the probe state the last status showed.

use std::collections::BTreeMap;

use tracing::info;
use tutti_runtime::ContainerInfo;

use super::probes::{ProbeKind, Tracker};
use super::record::ContainerRecord;
use super::worker::Worker;
use crate::adopt::Found;

impl Worker {
    /// Take over what a previous agent run left: the latest two attempts of each
    /// container, their restart counts, and (from the pod's last status) their probe state.
    pub(super) fn adopt(&mut self, adopted: Vec<Found>) {
        let driver_name = self.driver.name();
        let key = self.key();
        let mut by_name: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
        for found in adopted {
            if found.driver.name() != driver_name {
                self.foreign.push(found);
                continue;
            }
            for c in found.containers {
                by_name.entry(c.name.clone()).or_default().push(c);
            }
        }
        let status = self.pod.status.clone().unwrap_or_default();
        let statuses: Vec<_> = status
            .init_container_statuses
            .into_iter()
            .flatten()
            .chain(status.container_statuses.into_iter().flatten())
            .collect();
        for rec in self.init.iter_mut().chain(self.app.iter_mut()) {
            let Some(mut attempts) = by_name.remove(rec.name()) else {
                continue;
            };
            attempts.sort_by_key(|c| c.attempt);
            let keep = attempts.split_off(attempts.len().saturating_sub(2));
            self.stale.extend(attempts);
            let last = statuses.iter().find(|s| s.name == rec.name());
            let counted = last.map(|s| u32::try_from(s.restart_count).unwrap_or(0));
            rec.restart_count = keep
                .last()
                .map(|c| c.attempt)
                .unwrap_or(0)
                .max(counted.unwrap_or(0));
            rec.attempts = keep;
            info!(pod = %key, container = %rec.name(), restarts = rec.restart_count, "re-adopted container");
            let Some(current) = rec.current() else {
                continue;
            };
            let same = last.is_some_and(|s| {
                s.container_id.as_deref() == Some(&format!("{driver_name}://{}", current.id))
            });
            for (kind, passed) in [
                (
                    ProbeKind::Startup,
                    last.and_then(|s| s.started) == Some(true),
                ),
                (ProbeKind::Readiness, last.is_some_and(|s| s.ready)),
            ] {
                if let (true, true, Some(p)) = (same, passed, kind.of(&rec.spec).cloned()) {
                    rec.probes.insert(kind, Tracker::passed(kind, &p));
                }
            }
        }
        self.stale.extend(by_name.into_values().flatten());
        self.initialized = self.app.iter().any(|r| r.current().is_some());
        for rec in self.records() {
            self.publish_logs(rec);
        }
    }

    /// Tell the log router where a container's attempts are.
    pub(super) fn publish_logs(&self, rec: &ContainerRecord) {
        let meta = &self.pod.metadata;
        self.shared.logs.set_container(
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or(""),
            &self.uid,
            self.driver.clone(),
            rec.name(),
            rec.current().map(|c| c.id.clone()),
            rec.previous().map(|c| c.id.clone()),
        );
    }
}
