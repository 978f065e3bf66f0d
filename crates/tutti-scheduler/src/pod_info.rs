//! `PodInfo`: everything placement needs from a pod, computed once per pod (requests, selectors,
//! tolerations, ports, images, affinity terms) so that filtering thousands of nodes never goes
//! back to the API object.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use crate::error::SchedulerError;
use crate::images;
use crate::node_selector::{NodeSelector, NodeSelectorTerm};
use crate::pod_terms::{AffinityTerm, SpreadConstraint};
use crate::ports::{HostPort, host_ports};
use crate::resources::{Resources, pod_requests};
use crate::taints::Toleration;

/// The name every pod without `spec.schedulerName` gets, and the one this scheduler serves.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// A pod, as placement sees it.
#[derive(Clone, Debug, Default)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: Arc<str>,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub uid: Arc<str>,
    pub generation: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// The uid of the controller (ReplicaSet, Job, ...) that owns the pod.
    pub owner: Option<Arc<str>>,
    pub priority: i32,
    /// Being deleted: still holds its node's resources, but no longer counts for spreading.
    pub terminating: bool,
    /// Requests used for fitting (the pod count is 1).
    pub requests: Resources,
    /// Requests with defaults for missing ones, used for scoring.
    pub non_zero_requests: Resources,
    pub node_selector: Vec<(String, String)>,
    pub required_node_affinity: Option<NodeSelector>,
    /// Preferred node affinity terms with their weights.
    pub preferred_node_affinity: Vec<(i64, NodeSelectorTerm)>,
    pub tolerations: Vec<Toleration>,
    pub host_ports: Vec<HostPort>,
    /// Normalized image names of all containers.
    pub images: Vec<String>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub spread_constraints: Vec<SpreadConstraint>,
}

/// `namespace/name` of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

impl PodInfo {
    /// Reads a pod. Fails only on fields that cannot be understood (a quantity that does not
    /// parse, an invalid selector), naming the field.
    pub fn from_pod(pod: &Pod) -> Result<PodInfo, SchedulerError> {
        let key = pod_key(pod);
        let invalid = |(field, reason): (String, String)| SchedulerError::InvalidPod {
            pod: key.clone(),
            field,
            reason,
        };
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let labels = meta.labels.clone().unwrap_or_default();
        let empty = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        let requests = pod_requests(spec).map_err(invalid)?;
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| Arc::from(o.uid.as_str()));
        let mut info = PodInfo {
            key: key.as_str().into(),
            namespace: namespace.as_str().into(),
            name: meta.name.as_deref().unwrap_or_default().into(),
            uid: meta.uid.as_deref().unwrap_or_default().into(),
            generation: meta.generation,
            owner,
            priority: spec.priority.unwrap_or(0),
            terminating: meta.deletion_timestamp.is_some(),
            requests: requests.actual,
            non_zero_requests: requests.non_zero,
            node_selector: spec
                .node_selector
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .filter_map(Toleration::from_api)
                .collect(),
            host_ports: host_ports(spec),
            images: spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .filter_map(|c| c.image.as_deref())
                .map(images::normalize)
                .collect(),
            ..PodInfo::default()
        };
        read_affinity(&mut info, spec, &labels).map_err(invalid)?;
        for (i, c) in spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .enumerate()
        {
            let path = format!("spec.topologySpreadConstraints[{i}]");
            info.spread_constraints
                .push(SpreadConstraint::from_api(c, &labels, &path).map_err(invalid)?);
        }
        info.labels = labels;
        Ok(info)
    }

    /// Whether the pod's nodeSelector and required node affinity accept the node.
    pub fn matches_node_selection(
        &self,
        node_name: &str,
        node_labels: &BTreeMap<String, String>,
    ) -> bool {
        node_selection_matches(
            &self.node_selector,
            self.required_node_affinity.as_ref(),
            node_name,
            node_labels,
        )
    }
}

/// Whether a nodeSelector and a required node affinity both accept the node.
pub(crate) fn node_selection_matches(
    node_selector: &[(String, String)],
    required_node_affinity: Option<&NodeSelector>,
    node_name: &str,
    node_labels: &BTreeMap<String, String>,
) -> bool {
    node_selector
        .iter()
        .all(|(k, v)| node_labels.get(k) == Some(v))
        && required_node_affinity.is_none_or(|a| a.matches(node_name, node_labels))
}

fn read_affinity(
    info: &mut PodInfo,
    spec: &PodSpec,
    labels: &BTreeMap<String, String>,
) -> Result<(), (String, String)> {
    let Some(affinity) = &spec.affinity else {
        return Ok(());
    };
    if let Some(node) = &affinity.node_affinity {
        let base = "spec.affinity.nodeAffinity";
        if let Some(required) = &node.required_during_scheduling_ignored_during_execution {
            let path = format!("{base}.requiredDuringSchedulingIgnoredDuringExecution");
            info.required_node_affinity = Some(NodeSelector::from_api(required, &path)?);
        }
        for (i, p) in node
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let path =
                format!("{base}.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference");
            let term = NodeSelectorTerm::from_api(&p.preference, &path)?;
            info.preferred_node_affinity
                .push((i64::from(p.weight), term));
        }
    }
    let ns = info.namespace.to_string();
    if let Some(pod) = &affinity.pod_affinity {
        let base = "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution";
        for (i, t) in pod
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            info.required_affinity.push(AffinityTerm::from_api(
                t,
                &ns,
                labels,
                &format!("{base}[{i}]"),
            )?);
        }
    }
    if let Some(anti) = &affinity.pod_anti_affinity {
        let base = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution";
        for (i, t) in anti
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            info.required_anti_affinity.push(AffinityTerm::from_api(
                t,
                &ns,
                labels,
                &format!("{base}[{i}]"),
            )?);
        }
    }
    Ok(())
}

/// Whether the pod is this scheduler's to place: not bound, asks for the default scheduler,
/// not being deleted, not finished, not held back by scheduling gates.
pub fn is_pending(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let unbound = spec.node_name.as_deref().unwrap_or_default().is_empty();
    let ours = spec
        .scheduler_name
        .as_deref()
        .is_none_or(|s| s.is_empty() || s == DEFAULT_SCHEDULER_NAME);
    let gated = spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty());
    unbound && ours && !gated && pod.metadata.deletion_timestamp.is_none() && !is_finished(pod)
}

/// Succeeded or Failed: the pod no longer holds resources on its node.
pub fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::PodBuilder;

    #[test]
    fn reads_requests_selectors_and_owner_once() {
        let pod = PodBuilder::new("web-1")
            .namespace("shop")
            .cpu("500m")
            .memory("1Gi")
            .node_selector("disk", "ssd")
            .owner("rs-uid")
            .image("nginx")
            .build();
        let info = PodInfo::from_pod(&pod).unwrap();
        assert_eq!(&*info.key, "shop/web-1");
        assert_eq!(
            info.requests,
            Resources {
                milli_cpu: 500,
                memory: 1 << 30,
                pods: 1
            }
        );
        assert_eq!(
            info.node_selector,
            vec![("disk".to_string(), "ssd".to_string())]
        );
        assert_eq!(info.owner.as_deref(), Some("rs-uid"));
        assert_eq!(info.images, vec!["nginx:latest".to_string()]);
    }

    #[test]
    fn pending_means_unbound_ours_and_alive() {
        let pod = PodBuilder::new("p").build();
        assert!(is_pending(&pod));
        assert!(!is_pending(&PodBuilder::new("p").node_name("n1").build()));
        assert!(!is_pending(
            &PodBuilder::new("p").scheduler_name("other").build()
        ));
        assert!(!is_pending(
            &PodBuilder::new("p").phase("Succeeded").build()
        ));
    }

    #[test]
    fn an_unparsable_quantity_is_reported_with_its_field() {
        let pod = PodBuilder::new("p").cpu("a lot").build();
        let err = PodInfo::from_pod(&pod).unwrap_err().to_string();
        assert_eq!(
            err,
            "pod default/p: spec.containers[0].resources.requests.cpu: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }
}
