//! The harness of the Deployment tests: an API server with the Deployment and ReplicaSet
//! controllers, helpers that act like kubectl (`rollout status`, `rollout undo`) and like an
//! agent (marking pods Running and Ready), and `eventually!` for polling with a deadline.

use std::error::Error;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

pub type Res<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

pub const PATIENCE: Duration = Duration::from_secs(20);
pub const POLL: Duration = Duration::from_millis(25);
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Poll `$cond` (an expression that may `.await` and `?`) until it holds, or fail.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = std::time::Instant::now() + $crate::cluster::PATIENCE;
        loop {
            if $cond {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("timed out waiting for {}", $what).into());
            }
            tokio::time::sleep($crate::cluster::POLL).await;
        }
    }};
}

pub struct Cluster {
    _api: std::sync::Arc<tutti_apiserver::ApiServer>,
    pub client: Client,
}

pub async fn start() -> Res<Cluster> {
    let (api, client) = tutti_apiserver::client::test_server().await?;
    tutti_controllers::replicaset::spawn(client.clone());
    tutti_controllers::deployment::spawn(client.clone());
    Ok(Cluster { _api: api, client })
}

/// A Deployment `name` (pods labelled `app=<name>`, one container `web`); `spec` is merged
/// into its spec.
pub fn manifest(name: &str, replicas: i32, image: &str, spec: Value) -> Res<Deployment> {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}
    });
    if let (Some(target), Some(extra)) = (d["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    Ok(serde_json::from_value(d)?)
}

impl Cluster {
    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn create(&self, d: &Deployment) -> Res {
        self.deployments().create(&PostParams::default(), d).await?;
        Ok(())
    }

    pub async fn get(&self, name: &str) -> Res<Deployment> {
        Ok(self.deployments().get(name).await?)
    }

    pub async fn patch(&self, name: &str, patch: Value) -> Res {
        self.deployments()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    pub async fn set_image(&self, name: &str, image: &str) -> Res {
        let containers = json!([{"name": "web", "image": image}]);
        self.patch(
            name,
            json!({"spec": {"template": {"spec": {"containers": containers}}}}),
        )
        .await
    }

    /// The Deployment's ReplicaSets (by label), lowest revision first.
    pub async fn replica_sets(&self, name: &str) -> Res<Vec<ReplicaSet>> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), "default");
        let mut list = api
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await?
            .items;
        list.sort_by_key(revision);
        Ok(list)
    }

    /// Pods with `app=<name>` that are not terminating.
    pub async fn pods(&self, name: &str) -> Res<Vec<Pod>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        Ok(api
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect())
    }

    /// Report a pod Running and Ready, as its agent would.
    pub async fn mark_ready(&self, pod: &str) -> Res {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let status = json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": Time(Timestamp::now())}]}});
        api.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        Ok(())
    }

    /// Mark every not-ready pod of the Deployment ready until `kubectl rollout status`
    /// would say it is done.
    pub async fn roll_out(&self, name: &str) -> Res {
        eventually!(format!("{name} rolled out"), {
            for pod in self.pods(name).await? {
                if !is_ready(&pod)
                    && let Err(e) = self.mark_ready(&pod.name_any()).await
                {
                    // A pod deleted since the list (a ReplicaSet scaling down) needs nothing.
                    let gone = matches!(e.downcast_ref::<kube::Error>(),
                        Some(kube::Error::Api(s)) if s.code == 404);
                    if !gone {
                        return Err(e);
                    }
                }
            }
            rollout_status(&self.get(name).await?)? == Rollout::Done
        });
        Ok(())
    }

    pub async fn events(&self, object: &str) -> Res<Vec<(String, String)>> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(object))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect())
    }

    /// What `kubectl rollout undo [--to-revision]` does: put the template (and annotations)
    /// of the ReplicaSet with that revision (default: the previous one) back.
    pub async fn undo(&self, name: &str, to_revision: Option<i64>) -> Res {
        let rss = self.replica_sets(name).await?;
        let target = match to_revision {
            Some(r) => rss.iter().find(|rs| revision(rs) == r),
            None => rss.iter().rev().nth(1),
        }
        .ok_or("no such revision")?;
        let mut template = target
            .spec
            .clone()
            .and_then(|s| s.template)
            .ok_or("no template")?;
        if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove("pod-template-hash");
        }
        let mut d = self.get(name).await?;
        if let Some(spec) = d.spec.as_mut() {
            spec.template = template;
        }
        self.deployments()
            .replace(name, &PostParams::default(), &d)
            .await?;
        Ok(())
    }
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn image(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn progressing(d: &Deployment) -> Option<DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")
        .cloned()
}

#[derive(Debug, PartialEq)]
pub enum Rollout {
    Waiting,
    Done,
}

/// `kubectl rollout status` for a Deployment (its DeploymentStatusViewer, step for step).
pub fn rollout_status(d: &Deployment) -> Res<Rollout> {
    let s = d.status.clone().unwrap_or_default();
    if d.metadata.generation > s.observed_generation {
        return Ok(Rollout::Waiting);
    }
    if progressing(d).and_then(|c| c.reason).as_deref() == Some("ProgressDeadlineExceeded") {
        return Err(format!(
            "deployment {:?} exceeded its progress deadline",
            d.name_any()
        )
        .into());
    }
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let (replicas, updated, available) = (
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    );
    if updated < want || replicas > updated || available < updated {
        return Ok(Rollout::Waiting);
    }
    Ok(Rollout::Done)
}
