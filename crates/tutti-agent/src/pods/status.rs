//! The pod status the agent reports, pure: each container's status from its latest and
//! previous attempts, the conditions (PodReadyToStartContainers, Initialized, Ready,
//! ContainersReady, PodScheduled, `tutti.dev/Unsupported`) with transition times kept
//! while unchanged, the phase, IPs and start time.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tutti_runtime::ContainerState as RtState;

use super::driver_fit::UNSUPPORTED_CONDITION;
use super::phase::phase;
use super::sync::RestartPolicy;
use crate::kubetime;

/// One attempt of a container, as the driver last reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// `<driver>://<id>`.
    pub id: String,
    pub state: RtState,
    pub image_id: String,
}

/// Everything a container's status is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFacts {
    pub name: String,
    pub image: String,
    pub current: Option<Attempt>,
    pub previous: Option<Attempt>,
    /// Why it is not running (`CrashLoopBackOff`, `ErrImagePull`...), with a message.
    pub waiting: Option<(String, String)>,
    /// The waiting reason before the first attempt (`ContainerCreating`, `PodInitializing`).
    pub default_waiting: &'static str,
    pub restart_count: u32,
    pub ready: bool,
    pub started: bool,
}

fn terminated(a: &Attempt) -> Option<ContainerStateTerminated> {
    let RtState::Exited {
        exit_code,
        reason,
        started_at,
        finished_at,
    } = &a.state
    else {
        return None;
    };
    let default = if *exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(ContainerStateTerminated {
        exit_code: *exit_code,
        reason: Some(reason.clone().unwrap_or_else(|| default.to_string())),
        started_at: started_at.map(kubetime::time),
        finished_at: Some(kubetime::time(*finished_at)),
        container_id: Some(a.id.clone()),
        ..Default::default()
    })
}

fn waiting(reason: &str, message: Option<&str>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        }),
        ..Default::default()
    }
}

fn as_terminated(t: ContainerStateTerminated) -> ContainerState {
    ContainerState {
        terminated: Some(t),
        ..Default::default()
    }
}

pub fn container_status(f: &ContainerFacts) -> ContainerStatus {
    let current_exit = f.current.as_ref().and_then(terminated);
    let previous_exit = f.previous.as_ref().and_then(terminated);
    let running_since = match f.current.as_ref().map(|a| &a.state) {
        Some(RtState::Running { started_at }) => Some(*started_at),
        _ => None,
    };
    let (state, last) = if let Some((reason, message)) = &f.waiting {
        (
            waiting(reason, Some(message)),
            current_exit.clone().or(previous_exit),
        )
    } else if let Some(started_at) = running_since {
        let running = ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(kubetime::time(started_at)),
            }),
            ..Default::default()
        };
        (running, previous_exit)
    } else if let Some(t) = current_exit.clone() {
        (as_terminated(t), previous_exit)
    } else if f.current.is_some() {
        (waiting("ContainerCreating", None), previous_exit)
    } else {
        (waiting(f.default_waiting, None), previous_exit)
    };
    let running = running_since.is_some() && f.waiting.is_none();
    ContainerStatus {
        name: f.name.clone(),
        image: f.image.clone(),
        image_id: f
            .current
            .as_ref()
            .map(|a| a.image_id.clone())
            .unwrap_or_default(),
        container_id: f.current.as_ref().map(|a| a.id.clone()),
        state: Some(state),
        last_state: Some(last.map(as_terminated).unwrap_or_default()),
        ready: running && f.ready,
        started: Some(running && f.started),
        restart_count: i32::try_from(f.restart_count).unwrap_or(i32::MAX),
        ..Default::default()
    }
}

/// What the pod status is computed from.
#[derive(Clone, Debug)]
pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub init: Vec<ContainerStatus>,
    pub app: Vec<ContainerStatus>,
    /// App containers ran before: the init containers are done.
    pub initialized: bool,
    pub sandbox_ready: bool,
    pub pod_ip: Option<String>,
    pub host_ip: String,
    pub start_time: Time,
    /// The `tutti.dev/Unsupported` message, if fields are ignored.
    pub unsupported: Option<String>,
    /// The pod is being torn down: the phase settles to Succeeded or Failed.
    pub terminal: bool,
    pub now: SystemTime,
}

pub fn pod_status(input: &StatusInput) -> PodStatus {
    let spec = input.pod.spec.clone().unwrap_or_default();
    let old = input.pod.status.clone().unwrap_or_default();
    let policy = RestartPolicy::parse(spec.restart_policy.as_deref());
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let mut phase_now = phase(
        policy,
        &init_specs,
        &input.init,
        &input.app,
        input.initialized,
        input.terminal,
    );
    // A terminal phase is final.
    if let Some(p @ ("Succeeded" | "Failed")) = old.phase.as_deref() {
        phase_now = if p == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    let sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let incomplete: Vec<&str> = if input.initialized {
        Vec::new()
    } else {
        init_specs
            .iter()
            .filter(|c| {
                let s = input.init.iter().find(|s| s.name == c.name);
                let done = match s {
                    Some(s) if sidecar(&c.name) => s.started == Some(true),
                    Some(s) => s
                        .state
                        .as_ref()
                        .and_then(|st| st.terminated.as_ref())
                        .is_some_and(|t| t.exit_code == 0),
                    None => false,
                };
                !done
            })
            .map(|c| c.name.as_str())
            .collect()
    };
    let unready: Vec<&str> = input
        .init
        .iter()
        .filter(|s| sidecar(&s.name))
        .chain(input.app.iter())
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let mut conditions = vec![cond(
        "PodReadyToStartContainers",
        input.sandbox_ready,
        None,
        None,
    )];
    conditions.push(if incomplete.is_empty() {
        cond("Initialized", true, None, None)
    } else {
        let msg = format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        );
        cond(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(msg),
        )
    });
    let (ready, reason, message) = match phase_now {
        "Succeeded" => (false, Some("PodCompleted"), None),
        "Failed" => (false, Some("PodFailed"), None),
        _ if !unready.is_empty() => (
            false,
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        ),
        _ => (true, None, None),
    };
    let gates_missing: Vec<String> = spec
        .readiness_gates
        .iter()
        .flatten()
        .filter(|g| {
            !old.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == g.condition_type && c.status == "True")
        })
        .map(|g| g.condition_type.clone())
        .collect();
    let pod_ready = if ready && !gates_missing.is_empty() {
        let msg = format!(
            "the status of pod readiness gate {:?} is not \"True\", but False",
            gates_missing[0]
        );
        cond("Ready", false, Some("ReadinessGatesNotReady"), Some(msg))
    } else {
        cond("Ready", ready, reason, message.clone())
    };
    conditions.push(pod_ready);
    conditions.push(cond("ContainersReady", ready, reason, message));
    conditions.push(cond("PodScheduled", true, None, None));
    if let Some(msg) = &input.unsupported {
        conditions.push(cond(
            UNSUPPORTED_CONDITION,
            true,
            Some("FieldsIgnored"),
            Some(msg.clone()),
        ));
    }
    let ours: Vec<String> = conditions.iter().map(|c| c.type_.clone()).collect();
    let now = kubetime::time(input.now);
    for c in &mut conditions {
        let before = old.conditions.iter().flatten().find(|o| o.type_ == c.type_);
        c.last_transition_time = match before {
            Some(o) if o.status == c.status => o.last_transition_time.clone(),
            _ => Some(now.clone()),
        };
    }
    conditions.extend(
        old.conditions
            .iter()
            .flatten()
            .filter(|o| !ours.contains(&o.type_) && o.type_ != UNSUPPORTED_CONDITION)
            .cloned(),
    );
    let pod_ip = input.pod_ip.clone().filter(|_| input.sandbox_ready);
    PodStatus {
        phase: Some(phase_now.to_string()),
        conditions: Some(conditions),
        container_statuses: Some(input.app.clone()),
        init_container_statuses: (!init_specs.is_empty()).then(|| input.init.clone()),
        host_ip: Some(input.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.clone(),
        }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: Some(
            old.start_time
                .clone()
                .unwrap_or_else(|| input.start_time.clone()),
        ),
        ..Default::default()
    }
}

fn cond(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
