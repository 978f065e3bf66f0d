//! The strategic-merge metadata of the core types: which lists merge by which key
//! (`patchMergeKey` in Kubernetes' Go types), which merge as sets of primitives, and which are
//! replaced whole. Fields not listed here are replaced, as lists without a strategy are.

/// A node in the type tree, enough to look up list strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Root(RootKind),
    ObjectMeta,
    PodTemplateSpec,
    PodSpec,
    Container,
    PodStatus,
    WorkloadSpec,
    JobSpec,
    CronJobSpec,
    JobTemplateSpec,
    ServiceSpec,
    NodeSpec,
    NodeStatus,
    /// A status whose only merge list is `conditions` (by `type`).
    ConditionsStatus,
    /// Anything else: maps merge, lists replace.
    Opaque,
}

/// The top-level shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RootKind {
    Pod,
    Workload,
    Job,
    CronJob,
    Service,
    Node,
    Namespace,
    ServiceAccount,
    Other,
}

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch's list replaces the original.
    Replace,
    /// Items are maps matched by this key and merged.
    MergeByKey(&'static str),
    /// Items are primitives; the result is the union (e.g. `finalizers`).
    MergePrimitive,
}

/// A field's type and, if it is a list, its strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub ty: Ty,
    pub list: ListStrategy,
}

const fn plain(ty: Ty) -> Field {
    Field {
        ty,
        list: ListStrategy::Replace,
    }
}

const fn by_key(ty: Ty, key: &'static str) -> Field {
    Field {
        ty,
        list: ListStrategy::MergeByKey(key),
    }
}

const OPAQUE: Field = plain(Ty::Opaque);

impl Ty {
    /// The type of a whole object of `kind`.
    pub(crate) fn root(kind: &str) -> Ty {
        Ty::Root(match kind {
            "Pod" => RootKind::Pod,
            "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet" => RootKind::Workload,
            "Job" => RootKind::Job,
            "CronJob" => RootKind::CronJob,
            "Service" => RootKind::Service,
            "Node" => RootKind::Node,
            "Namespace" => RootKind::Namespace,
            "ServiceAccount" => RootKind::ServiceAccount,
            _ => RootKind::Other,
        })
    }

    /// The metadata of field `name` of this type.
    pub(crate) fn field(self, name: &str) -> Field {
        match (self, name) {
            (Ty::Root(_) | Ty::PodTemplateSpec | Ty::JobTemplateSpec, "metadata") => {
                plain(Ty::ObjectMeta)
            }
            (Ty::Root(root), _) => root_field(root, name),
            (Ty::ObjectMeta, "finalizers") => Field {
                ty: Ty::Opaque,
                list: ListStrategy::MergePrimitive,
            },
            (Ty::ObjectMeta, "ownerReferences") => by_key(Ty::Opaque, "uid"),
            (Ty::PodTemplateSpec, "spec") => plain(Ty::PodSpec),
            (Ty::JobTemplateSpec, "spec") => plain(Ty::JobSpec),
            (Ty::WorkloadSpec | Ty::JobSpec, "template") => plain(Ty::PodTemplateSpec),
            (Ty::CronJobSpec, "jobTemplate") => plain(Ty::JobTemplateSpec),
            (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                by_key(Ty::Container, "name")
            }
            (
                Ty::PodSpec,
                "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates",
            ) => by_key(Ty::Opaque, "name"),
            (Ty::PodSpec, "hostAliases") => by_key(Ty::Opaque, "ip"),
            (Ty::PodSpec, "topologySpreadConstraints") => by_key(Ty::Opaque, "topologyKey"),
            (Ty::Container, "ports") => by_key(Ty::Opaque, "containerPort"),
            (Ty::Container, "env") => by_key(Ty::Opaque, "name"),
            (Ty::Container, "volumeMounts") => by_key(Ty::Opaque, "mountPath"),
            (Ty::Container, "volumeDevices") => by_key(Ty::Opaque, "devicePath"),
            (Ty::PodStatus | Ty::NodeStatus | Ty::ConditionsStatus, "conditions") => {
                by_key(Ty::Opaque, "type")
            }
            (Ty::PodStatus, "podIPs" | "hostIPs") => by_key(Ty::Opaque, "ip"),
            (Ty::PodStatus, "resourceClaimStatuses") => by_key(Ty::Opaque, "name"),
            (Ty::ServiceSpec, "ports") => by_key(Ty::Opaque, "port"),
            (Ty::NodeSpec, "podCIDRs") => Field {
                ty: Ty::Opaque,
                list: ListStrategy::MergePrimitive,
            },
            (Ty::NodeStatus, "addresses") => by_key(Ty::Opaque, "type"),
            _ => OPAQUE,
        }
    }
}

fn root_field(root: RootKind, name: &str) -> Field {
    match (root, name) {
        (RootKind::Pod, "spec") => plain(Ty::PodSpec),
        (RootKind::Pod, "status") => plain(Ty::PodStatus),
        (RootKind::Workload, "spec") => plain(Ty::WorkloadSpec),
        (RootKind::Job, "spec") => plain(Ty::JobSpec),
        (RootKind::CronJob, "spec") => plain(Ty::CronJobSpec),
        (RootKind::Service, "spec") => plain(Ty::ServiceSpec),
        (RootKind::Node, "spec") => plain(Ty::NodeSpec),
        (RootKind::Node, "status") => plain(Ty::NodeStatus),
        (
            RootKind::Workload | RootKind::Job | RootKind::Service | RootKind::Namespace,
            "status",
        ) => plain(Ty::ConditionsStatus),
        (RootKind::ServiceAccount, "secrets") => by_key(Ty::Opaque, "name"),
        _ => OPAQUE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_merge_keys_along_kind_paths() {
        let walk = |kind: &str, path: &[&str]| {
            path.iter()
                .fold(plain(Ty::root(kind)), |f, name| f.ty.field(name))
        };
        assert_eq!(
            walk("Deployment", &["spec", "template", "spec", "containers"]).list,
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            walk("Pod", &["spec", "containers"]).list,
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            walk("Pod", &["spec", "containers", "ports"]).list,
            ListStrategy::MergeByKey("containerPort")
        );
        assert_eq!(
            walk("Service", &["spec", "ports"]).list,
            ListStrategy::MergeByKey("port")
        );
        assert_eq!(
            walk(
                "CronJob",
                &["spec", "jobTemplate", "spec", "template", "spec", "volumes"]
            )
            .list,
            ListStrategy::MergeByKey("name")
        );
        assert_eq!(
            walk("Pod", &["spec", "tolerations"]).list,
            ListStrategy::Replace
        );
        assert_eq!(
            walk("ConfigMap", &["metadata", "finalizers"]).list,
            ListStrategy::MergePrimitive
        );
        assert_eq!(
            walk("Pod", &["spec", "containers", "args"]).list,
            ListStrategy::Replace
        );
    }
}
