//! The resource registry: every kind the API serves, with its group/version, plural name,
//! scope, short names and subresources. Discovery, routing, storage keys and the CLI all read
//! this one table, so adding a kind is one entry here (plus its validation and printer).

/// One served resource (a REST collection such as `apps/v1 deployments`).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; "" is the core (legacy) group served under `/api`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The list kind, e.g. `PodList`.
    pub list_kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Categories (`kubectl get all` asks for the `all` category).
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

/// A subresource (`deployments/scale`, `pods/status`).
#[derive(Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    /// Kind of the object the subresource speaks (`Scale`, `Binding`, or the parent kind).
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub verbs: &'static [&'static str],
}

const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

macro_rules! status {
    ($kind:literal, $group:literal, $version:literal) => {
        Subresource {
            name: "status",
            kind: $kind,
            group: $group,
            version: $version,
            verbs: STATUS_VERBS,
        }
    };
}
const SCALE: Subresource = Subresource {
    name: "scale",
    kind: "Scale",
    group: "autoscaling",
    version: "v1",
    verbs: STATUS_VERBS,
};

/// Every resource the API serves.
pub static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        list_kind: "NamespaceList",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[status!("Namespace", "", "v1")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        list_kind: "NodeList",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        subresources: &[status!("Node", "", "v1")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        list_kind: "PodList",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            status!("Pod", "", "v1"),
            Subresource {
                name: "binding",
                kind: "Binding",
                group: "",
                version: "v1",
                verbs: &["create"],
            },
            Subresource {
                name: "log",
                kind: "Pod",
                group: "",
                version: "v1",
                verbs: &["get"],
            },
            Subresource {
                name: "eviction",
                kind: "Eviction",
                group: "policy",
                version: "v1",
                verbs: &["create"],
            },
        ],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        list_kind: "ServiceList",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[status!("Service", "", "v1")],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Endpoints",
        list_kind: "EndpointsList",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        list_kind: "ConfigMapList",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        list_kind: "SecretList",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        list_kind: "EventList",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        list_kind: "ServiceAccountList",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        list_kind: "DeploymentList",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[status!("Deployment", "apps", "v1"), SCALE],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        list_kind: "ReplicaSetList",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[status!("ReplicaSet", "apps", "v1"), SCALE],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        list_kind: "DaemonSetList",
        plural: "daemonsets",
        singular: "daemonset",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[status!("DaemonSet", "apps", "v1")],
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        list_kind: "StatefulSetList",
        plural: "statefulsets",
        singular: "statefulset",
        namespaced: true,
        short_names: &["sts"],
        categories: &["all"],
        subresources: &[status!("StatefulSet", "apps", "v1"), SCALE],
    },
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "Job",
        list_kind: "JobList",
        plural: "jobs",
        singular: "job",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        subresources: &[status!("Job", "batch", "v1")],
    },
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        list_kind: "CronJobList",
        plural: "cronjobs",
        singular: "cronjob",
        namespaced: true,
        short_names: &["cj"],
        categories: &["all"],
        subresources: &[status!("CronJob", "batch", "v1")],
    },
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        list_kind: "LeaseList",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    ResourceInfo {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        list_kind: "PodDisruptionBudgetList",
        plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget",
        namespaced: true,
        short_names: &["pdb"],
        categories: &[],
        subresources: &[status!("PodDisruptionBudget", "policy", "v1")],
    },
    ResourceInfo {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        list_kind: "EndpointSliceList",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
];

impl ResourceInfo {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, as Kubernetes names a group resource in messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, as Kubernetes names a kind in "is invalid" messages.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Storage key prefix for the whole collection: `/registry/apps/deployments/`.
    pub fn key_prefix(&self) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// Storage key prefix for one namespace's objects (or the whole collection if cluster-scoped).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    /// Storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.namespace_prefix(namespace))
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        // RESOURCES is 'static, so a lookup through it yields 'static references.
        find_by_plural(self.group, self.plural)
            .and_then(|r| r.subresources.iter().find(|s| s.name == name))
    }

    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s.name == "status")
    }
}

/// Look up a resource by group and plural (`("apps", "deployments")`).
pub fn find_by_plural(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Look up a resource by kind, with or without the group (`Deployment`, `apps/v1`).
pub fn find_by_kind(api_version: Option<&str>, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && api_version.is_none_or(|av| r.api_version() == av))
}

/// Resolve what a user typed (`po`, `pods`, `pod`, `deploy`, `deployments.apps`, `Deployment`).
pub fn find_by_name(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    let (res, group) = match lower.split_once('.') {
        Some((r, g)) => (r.to_string(), Some(g.to_string())),
        None => (lower, None),
    };
    RESOURCES.iter().find(|r| {
        group.as_deref().is_none_or(|g| r.group == g)
            && (r.plural == res
                || r.singular == res
                || r.kind.eq_ignore_ascii_case(&res)
                || r.short_names.contains(&res.as_str()))
    })
}

/// The groups served under `/apis`, in a stable order, each with its one version.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_users_type_resolve() {
        assert_eq!(find_by_name("po").map(|r| r.kind), Some("Pod"));
        assert_eq!(find_by_name("deploy").map(|r| r.kind), Some("Deployment"));
        assert_eq!(
            find_by_name("deployments.apps").map(|r| r.kind),
            Some("Deployment")
        );
        assert_eq!(find_by_name("Service").map(|r| r.kind), Some("Service"));
        assert_eq!(find_by_name("frobs"), None);
    }

    #[test]
    fn keys_separate_namespaces_and_scopes() {
        let pods = find_by_plural("", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        let nodes = find_by_plural("", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        assert_eq!(
            find_by_plural("apps", "deployments")
                .unwrap()
                .subresource("scale")
                .map(|s| s.kind),
            Some("Scale")
        );
    }

    #[test]
    fn every_kind_is_unique_and_groups_are_listed() {
        for r in RESOURCES {
            assert_eq!(
                RESOURCES.iter().filter(|o| o.kind == r.kind).count(),
                1,
                "{}",
                r.kind
            );
        }
        assert_eq!(
            groups(),
            vec![
                ("apps", "v1"),
                ("batch", "v1"),
                ("coordination.k8s.io", "v1"),
                ("policy", "v1"),
                ("discovery.k8s.io", "v1")
            ]
        );
    }

    #[test]
    fn endpoint_slices_are_served_from_the_discovery_group() {
        let slices = find_by_name("endpointslices").unwrap();
        assert_eq!(slices.kind, "EndpointSlice");
        assert_eq!(slices.api_version(), "discovery.k8s.io/v1");
        assert_eq!(slices.group_resource(), "endpointslices.discovery.k8s.io");
        assert!(slices.namespaced && slices.short_names.is_empty());
        assert_eq!(
            slices.key(Some("default"), "web-x7k2p"),
            "/registry/discovery.k8s.io/endpointslices/default/web-x7k2p"
        );
        assert_eq!(
            find_by_kind(Some("discovery.k8s.io/v1"), "EndpointSlice").map(|r| r.plural),
            Some("endpointslices")
        );
        // Endpoints and EndpointSlice stay distinct for what users type.
        assert_eq!(find_by_name("ep").map(|r| r.kind), Some("Endpoints"));
        assert_eq!(
            find_by_name("endpointslice").map(|r| r.kind),
            Some("EndpointSlice")
        );
    }
}
