//! Resource arithmetic: what a pod requests (as Kubernetes' `resourcehelper.PodRequests` computes
//! it, init containers and sidecars included) and what a node can hold.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use tutti_core::quantity::Quantity;

/// CPU a container without a CPU request is assumed to use when scoring (Kubernetes: 100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request is assumed to use when scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of the resources the scheduler accounts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Number of pods.
    pub pods: i64,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.pods = self.pods.saturating_add(other.pods);
    }

    pub fn sub(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.pods = self.pods.saturating_sub(other.pods);
    }

    fn max(&self, other: &Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.max(other.milli_cpu),
            memory: self.memory.max(other.memory),
            pods: self.pods.max(other.pods),
        }
    }

    /// Reads `cpu`, `memory` and `pods` from a resource list (a node's allocatable).
    pub fn from_list(list: &BTreeMap<String, ApiQuantity>) -> Resources {
        let parse = |name: &str| list.get(name).and_then(|q| Quantity::parse(&q.0).ok());
        Resources {
            milli_cpu: parse("cpu").map_or(0, |q| q.milli_value()),
            memory: parse("memory").map_or(0, |q| q.value()),
            pods: parse("pods").map_or(0, |q| q.value()),
        }
    }
}

/// A pod's requests: `actual` for fitting, `non_zero` (with defaults for missing requests) for
/// scoring, so that pods without requests still spread. Both count one pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub actual: Resources,
    pub non_zero: Resources,
}

/// A field of the pod whose quantity does not parse: (field path, reason).
pub type QuantityError = (String, String);

/// Computes the pod's requests: containers summed, then the maximum with each init container
/// (restartable init containers — sidecars — run alongside and add up), plus the pod overhead.
pub fn pod_requests(spec: &PodSpec) -> Result<PodRequests, QuantityError> {
    let mut out = PodRequests::default();
    for non_zero in [false, true] {
        let mut sum = Resources::default();
        for (i, c) in spec.containers.iter().enumerate() {
            sum.add(&container_requests(
                c,
                non_zero,
                &format!("spec.containers[{i}]"),
            )?);
        }
        let mut sidecars = Resources::default();
        let mut init_max = Resources::default();
        for (i, c) in spec.init_containers.iter().flatten().enumerate() {
            let mut req = container_requests(c, non_zero, &format!("spec.initContainers[{i}]"))?;
            if c.restart_policy.as_deref() == Some("Always") {
                sum.add(&req);
                sidecars.add(&req);
                req = sidecars;
            } else {
                req.add(&sidecars);
            }
            init_max = init_max.max(&req);
        }
        let mut total = sum.max(&init_max);
        if let Some(overhead) = &spec.overhead {
            total.add(&parse_list(overhead, "spec.overhead")?);
        }
        total.pods = 1;
        if non_zero {
            out.non_zero = total;
        } else {
            out.actual = total;
        }
    }
    Ok(out)
}

fn container_requests(
    c: &Container,
    non_zero: bool,
    path: &str,
) -> Result<Resources, QuantityError> {
    let resources = c.resources.as_ref();
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    let get = |name: &str| -> Result<Option<Quantity>, QuantityError> {
        // Requests default to limits (API defaulting does the same; this covers objects that
        // never went through it).
        let (q, which) = match requests.and_then(|r| r.get(name)) {
            Some(q) => (q, "requests"),
            None => match limits.and_then(|l| l.get(name)) {
                Some(q) => (q, "limits"),
                None => return Ok(None),
            },
        };
        Quantity::parse(&q.0)
            .map(Some)
            .map_err(|e| (format!("{path}.resources.{which}.{name}"), e.to_string()))
    };
    let cpu = get("cpu")?;
    let memory = get("memory")?;
    Ok(Resources {
        milli_cpu: match cpu {
            Some(q) => q.milli_value(),
            None if non_zero => DEFAULT_MILLI_CPU_REQUEST,
            None => 0,
        },
        memory: match memory {
            Some(q) => q.value(),
            None if non_zero => DEFAULT_MEMORY_REQUEST,
            None => 0,
        },
        pods: 0,
    })
}

fn parse_list(
    list: &BTreeMap<String, ApiQuantity>,
    path: &str,
) -> Result<Resources, QuantityError> {
    let parse = |name: &str| -> Result<Option<Quantity>, QuantityError> {
        list.get(name)
            .map(|q| Quantity::parse(&q.0).map_err(|e| (format!("{path}.{name}"), e.to_string())))
            .transpose()
    };
    Ok(Resources {
        milli_cpu: parse("cpu")?.map_or(0, |q| q.milli_value()),
        memory: parse("memory")?.map_or(0, |q| q.value()),
        pods: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn container(cpu: Option<&str>, memory: Option<&str>) -> Container {
        let mut requests = BTreeMap::new();
        if let Some(c) = cpu {
            requests.insert("cpu".to_string(), ApiQuantity(c.into()));
        }
        if let Some(m) = memory {
            requests.insert("memory".to_string(), ApiQuantity(m.into()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_add_up_and_init_containers_take_the_max() {
        let spec = PodSpec {
            containers: vec![
                container(Some("250m"), Some("64Mi")),
                container(Some("250m"), None),
            ],
            init_containers: Some(vec![container(Some("2"), Some("16Mi"))]),
            ..Default::default()
        };
        let r = pod_requests(&spec).unwrap();
        assert_eq!(
            r.actual,
            Resources {
                milli_cpu: 2000,
                memory: 64 << 20,
                pods: 1
            }
        );
        assert_eq!(r.non_zero.memory, (64 << 20) + DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn sidecars_run_alongside_the_containers() {
        let mut sidecar = container(Some("100m"), Some("10Mi"));
        sidecar.restart_policy = Some("Always".into());
        let spec = PodSpec {
            containers: vec![container(Some("500m"), Some("100Mi"))],
            init_containers: Some(vec![sidecar, container(Some("550m"), None)]),
            ..Default::default()
        };
        let r = pod_requests(&spec).unwrap();
        // containers + sidecar = 600m; the later init container runs with the sidecar: 650m.
        assert_eq!(r.actual.milli_cpu, 650);
        assert_eq!(r.actual.memory, 110 << 20);
    }

    #[test]
    fn a_pod_without_requests_requests_nothing_but_one_pod() {
        let spec = PodSpec {
            containers: vec![Container::default()],
            ..Default::default()
        };
        let r = pod_requests(&spec).unwrap();
        assert_eq!(
            r.actual,
            Resources {
                milli_cpu: 0,
                memory: 0,
                pods: 1
            }
        );
        assert_eq!(r.non_zero.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
    }

    #[test]
    fn a_bad_quantity_names_its_field() {
        let spec = PodSpec {
            containers: vec![container(Some("lots"), None)],
            ..Default::default()
        };
        let err = pod_requests(&spec).unwrap_err();
        assert_eq!(err.0, "spec.containers[0].resources.requests.cpu");
    }
}
