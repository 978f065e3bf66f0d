//! Builders for Node and Pod objects, for this crate's tests, property tests and benchmark
//! (and later the testkit): `NodeBuilder::new("n1").cpu("4").memory("8Gi").build()`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerImage, ContainerPort, Node, NodeAffinity, NodeCondition,
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, NodeStatus, Pod,
    PodAffinityTerm, PodAntiAffinity, PodSpec, PodStatus, PreferredSchedulingTerm,
    ResourceRequirements, Taint, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

/// Builds a Node with allocatable resources, labels, taints, images and a Ready condition.
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    node: Node,
    allocatable: BTreeMap<String, Quantity>,
    ready: &'static str,
}

impl NodeBuilder {
    /// A Ready node with room for 110 pods and no cpu or memory until given.
    pub fn new(name: &str) -> NodeBuilder {
        let mut allocatable = BTreeMap::new();
        allocatable.insert("pods".to_string(), Quantity("110".into()));
        NodeBuilder {
            node: Node {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                spec: Some(NodeSpec::default()),
                status: Some(NodeStatus::default()),
            },
            allocatable,
            ready: "True",
        }
    }

    pub fn cpu(mut self, q: &str) -> Self {
        self.allocatable.insert("cpu".into(), Quantity(q.into()));
        self
    }

    pub fn memory(mut self, q: &str) -> Self {
        self.allocatable.insert("memory".into(), Quantity(q.into()));
        self
    }

    pub fn pods(mut self, n: u32) -> Self {
        self.allocatable
            .insert("pods".into(), Quantity(n.to_string()));
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.node
            .metadata
            .labels
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        let spec = self.node.spec.get_or_insert_default();
        spec.taints.get_or_insert_default().push(Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        });
        self
    }

    pub fn unschedulable(mut self) -> Self {
        self.node.spec.get_or_insert_default().unschedulable = Some(true);
        self
    }

    /// The Ready condition's status: `True`, `False` or `Unknown`.
    pub fn ready(mut self, status: &'static str) -> Self {
        self.ready = status;
        self
    }

    pub fn image(mut self, name: &str, size_bytes: i64) -> Self {
        let status = self.node.status.get_or_insert_default();
        status.images.get_or_insert_default().push(ContainerImage {
            names: Some(vec![name.into()]),
            size_bytes: Some(size_bytes),
        });
        self
    }

    pub fn build(mut self) -> Node {
        let status = self.node.status.get_or_insert_default();
        status.capacity = Some(self.allocatable.clone());
        status.allocatable = Some(self.allocatable);
        status.conditions = Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: self.ready.into(),
            ..Default::default()
        }]);
        self.node
    }
}

/// Builds a Pod with one container.
#[derive(Clone, Debug)]
pub struct PodBuilder {
    pod: Pod,
}

impl PodBuilder {
    /// A pod in `default` with one container `app` (image `app:1`) and no requests.
    pub fn new(name: &str) -> PodBuilder {
        PodBuilder {
            pod: Pod {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some("default".into()),
                    uid: Some(format!("uid-{name}")),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some("app:1".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                status: None,
            },
        }
    }

    fn spec(&mut self) -> &mut PodSpec {
        self.pod.spec.get_or_insert_default()
    }

    fn request(mut self, resource: &str, q: &str) -> Self {
        if let Some(c) = self.spec().containers.first_mut() {
            let r = c
                .resources
                .get_or_insert_with(ResourceRequirements::default);
            r.requests
                .get_or_insert_default()
                .insert(resource.into(), Quantity(q.into()));
        }
        self
    }

    pub fn namespace(mut self, ns: &str) -> Self {
        self.pod.metadata.namespace = Some(ns.into());
        self
    }

    pub fn cpu(self, q: &str) -> Self {
        self.request("cpu", q)
    }

    pub fn memory(self, q: &str) -> Self {
        self.request("memory", q)
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        if let Some(c) = self.spec().containers.first_mut() {
            c.image = Some(image.into());
        }
        self
    }

    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec()
            .node_selector
            .get_or_insert_default()
            .insert(k.into(), v.into());
        self
    }

    /// A toleration; `operator` is `Equal` or `Exists`, an empty effect tolerates all effects.
    pub fn toleration(mut self, key: &str, operator: &str, value: &str, effect: &str) -> Self {
        self.spec()
            .tolerations
            .get_or_insert_default()
            .push(Toleration {
                key: (!key.is_empty()).then(|| key.into()),
                operator: Some(operator.into()),
                value: (!value.is_empty()).then(|| value.into()),
                effect: (!effect.is_empty()).then(|| effect.into()),
                toleration_seconds: None,
            });
        self
    }

    pub fn host_port(mut self, port: i32) -> Self {
        if let Some(c) = self.spec().containers.first_mut() {
            c.ports.get_or_insert_default().push(ContainerPort {
                container_port: port,
                host_port: Some(port),
                ..Default::default()
            });
        }
        self
    }

    /// A required node affinity term with one expression (`key op values`).
    pub fn node_affinity(mut self, key: &str, op: &str, values: &[&str]) -> Self {
        let expr = NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        self.required_term(NodeSelectorTerm {
            match_expressions: Some(vec![expr]),
            match_fields: None,
        });
        self
    }

    /// Pins the pod to a node with `matchFields` on `metadata.name`, as DaemonSet pods do.
    pub fn pin_to_node(mut self, node: &str) -> Self {
        let field = NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.into()]),
        };
        self.required_term(NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![field]),
        });
        self
    }

    fn required_term(&mut self, term: NodeSelectorTerm) {
        let affinity = self.spec().affinity.get_or_insert_with(Affinity::default);
        let node = affinity
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        node.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(|| NodeSelector {
                node_selector_terms: vec![],
            })
            .node_selector_terms
            .push(term);
    }

    pub fn preferred_node_affinity(mut self, weight: i32, key: &str, value: &str) -> Self {
        let affinity = self.spec().affinity.get_or_insert_with(Affinity::default);
        let node = affinity
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        node.preferred_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(PreferredSchedulingTerm {
                weight,
                preference: NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: key.into(),
                        operator: "In".into(),
                        values: Some(vec![value.into()]),
                    }]),
                    match_fields: None,
                },
            });
        self
    }

    /// Required anti-affinity to pods labelled `key=value` on the same `topology_key` domain.
    pub fn anti_affinity(mut self, key: &str, value: &str, topology_key: &str) -> Self {
        let affinity = self.spec().affinity.get_or_insert_with(Affinity::default);
        let anti = affinity
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default);
        anti.required_during_scheduling_ignored_during_execution
            .get_or_insert_default()
            .push(PodAffinityTerm {
                label_selector: Some(selector(key, value)),
                topology_key: topology_key.into(),
                ..Default::default()
            });
        self
    }

    /// A topology spread constraint over pods labelled `key=value`.
    pub fn spread(
        mut self,
        max_skew: i32,
        topology_key: &str,
        key: &str,
        value: &str,
        hard: bool,
    ) -> Self {
        self.spec()
            .topology_spread_constraints
            .get_or_insert_default()
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: topology_key.into(),
                when_unsatisfiable: if hard {
                    "DoNotSchedule"
                } else {
                    "ScheduleAnyway"
                }
                .into(),
                label_selector: Some(selector(key, value)),
                ..Default::default()
            });
        self
    }

    /// A controller owner reference (a ReplicaSet) with this uid.
    pub fn owner(mut self, uid: &str) -> Self {
        self.pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        self
    }

    pub fn node_name(mut self, node: &str) -> Self {
        self.spec().node_name = Some(node.into());
        self
    }

    pub fn scheduler_name(mut self, name: &str) -> Self {
        self.spec().scheduler_name = Some(name.into());
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        self
    }

    pub fn build(self) -> Pod {
        self.pod
    }
}

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
        match_expressions: None,
    }
}
