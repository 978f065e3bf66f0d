//! The scheduler's writes: a binding through `pods/binding` with a `Scheduled` event, or the
//! `PodScheduled=False` condition with a `FailedScheduling` event for a pod that fits nowhere.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tutti_client::{EventType, Recorder, reference};

use crate::error::SchedulerError;
use crate::pod_info::{DEFAULT_SCHEDULER_NAME, pod_key};

/// How a binding went.
#[derive(Debug)]
pub enum BindOutcome {
    Bound,
    /// The pod was already bound (409): someone else placed it; not an error.
    AlreadyBound,
    /// The pod is gone (404).
    Gone,
    Failed(SchedulerError),
}

/// Writes decisions to the API.
#[derive(Clone)]
pub struct Binder {
    client: kube::Client,
    recorder: Arc<Recorder>,
}

impl Binder {
    pub fn new(client: kube::Client) -> Binder {
        let recorder = Arc::new(Recorder::new(client.clone(), DEFAULT_SCHEDULER_NAME));
        Binder { client, recorder }
    }

    fn api(&self, pod: &Pod) -> Api<Pod> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        Api::namespaced(self.client.clone(), ns)
    }

    /// Binds the pod to the node and records `Scheduled`.
    pub async fn bind(&self, pod: &Pod, node: &str) -> BindOutcome {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let key = pod_key(pod);
        let body = json!({
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": pod.metadata.namespace, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let result: Result<serde_json::Value, kube::Error> = self
            .api(pod)
            .create_subresource("binding", name, &PostParams::default(), &body)
            .await;
        match result {
            Ok(_) => {
                let message = format!("Successfully assigned {key} to {node}");
                self.recorder
                    .emit(&reference(pod), EventType::Normal, "Scheduled", &message);
                BindOutcome::Bound
            }
            Err(kube::Error::Api(status)) if status.code == 409 => BindOutcome::AlreadyBound,
            Err(kube::Error::Api(status)) if status.code == 404 => BindOutcome::Gone,
            Err(source) => BindOutcome::Failed(SchedulerError::Api {
                action: "bind",
                pod: key,
                source,
            }),
        }
    }

    /// Sets `PodScheduled=False` (reason Unschedulable) with the summary, unless the pod already
    /// says exactly that, and records `FailedScheduling`.
    pub async fn mark_unschedulable(&self, pod: &Pod, summary: &str) -> Result<(), SchedulerError> {
        self.recorder
            .publish(
                &reference(pod),
                EventType::Warning,
                "FailedScheduling",
                summary,
            )
            .await;
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
        if current.is_some_and(|c| c.status == "False" && c.message.as_deref() == Some(summary)) {
            return Ok(());
        }
        // The condition keeps its transition time while it stays False.
        let since = current
            .filter(|c| c.status == "False")
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or(Time(Timestamp::now()));
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": summary,
            "lastProbeTime": null,
            "lastTransitionTime": since,
        }]}});
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        self.api(pod)
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .map(drop)
            .map_err(|source| SchedulerError::Api {
                action: "set PodScheduled=False on",
                pod: pod_key(pod),
                source,
            })
    }
}
