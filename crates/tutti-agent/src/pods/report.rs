//! Writing the pod's status: compute it from the container records (`status`), and patch
//! `pods/<name>/status` only when that would change something.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::record::ContainerRecord;
use super::status::{self, StatusInput};
use super::worker::{Worker, resource_version};

/// Would merging `patch` into `old` change it? (Arrays are replaced whole.)
pub fn changes(old: &Value, patch: &Value) -> bool {
    match (old, patch) {
        (Value::Object(o), Value::Object(p)) => p.iter().any(|(k, v)| match o.get(k) {
            Some(ov) => changes(ov, v),
            None => !v.is_null(),
        }),
        _ => old != patch,
    }
}

impl Worker {
    pub(super) fn compute_status(&self, terminal: bool) -> PodStatus {
        let driver = self.driver.name();
        let app_default = if self.initialized || self.init.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        let facts = |recs: &[ContainerRecord], default| {
            recs.iter()
                .map(|r| status::container_status(&r.facts(driver, default)))
                .collect()
        };
        let input = StatusInput {
            pod: &self.pod,
            init: facts(&self.init, "PodInitializing"),
            app: facts(&self.app, app_default),
            initialized: self.initialized,
            sandbox_ready: self.sandbox.is_some(),
            pod_ip: Some(self.pod_ip()),
            host_ip: self.shared.config.node_ip.clone(),
            start_time: self.start_time.clone(),
            unsupported: self.fit.message(driver),
            terminal,
            now: SystemTime::now(),
        };
        status::pod_status(&input)
    }

    /// Compute the status and write it if it changed.
    pub(super) async fn report(&mut self, terminal: bool) {
        let status = self.compute_status(terminal);
        self.phase = status.phase.clone().unwrap_or_default();
        let (new, old) = match (
            serde_json::to_value(&status),
            serde_json::to_value(self.pod.status.clone().unwrap_or_default()),
        ) {
            (Ok(n), Ok(o)) => (n, o),
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "cannot encode pod status");
                return;
            }
        };
        if !changes(&old, &new) {
            return;
        }
        let meta = &self.pod.metadata;
        let api: Api<Pod> = Api::namespaced(
            self.shared.client.clone(),
            meta.namespace.as_deref().unwrap_or("default"),
        );
        let patch = json!({ "status": new });
        match api
            .patch_status(
                meta.name.as_deref().unwrap_or(""),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(pod) => {
                debug!(phase = %self.phase, "pod status written");
                self.written_rv = resource_version(&pod);
                self.pod = std::sync::Arc::new(pod);
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {
                debug!("pod is gone; status not written");
            }
            Err(e) => warn!(error = %e, "cannot write pod status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_changes() {
        let old =
            json!({"phase": "Running", "podIP": "1.2.3.4", "conditions": [{"type": "Ready"}]});
        assert!(!changes(&old, &json!({"phase": "Running"})));
        assert!(!changes(&old, &json!({"conditions": [{"type": "Ready"}]})));
        assert!(changes(&old, &json!({"phase": "Failed"})));
        assert!(changes(&old, &json!({"conditions": []})));
        assert!(changes(&old, &json!({"hostIP": "5.6.7.8"})));
        assert!(!changes(&old, &json!({"hostIP": null})));
    }
}
