//! The pod phase from its container statuses, as kubelet's `getPhase` computes it:
//! Pending while init containers or waiting containers remain, Running while any container
//! runs (or restarts), Succeeded when all exited 0 and none will restart, Failed when all
//! exited, some failed, and none will restart (or an init container failed under `Never`).

use k8s_openapi::api::core::v1::{Container, ContainerStatus};

use super::sync::RestartPolicy;

/// `Pending`, `Running`, `Succeeded` or `Failed`.
pub fn phase(
    policy: RestartPolicy,
    init_specs: &[Container],
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    initialized: bool,
    terminal: bool,
) -> &'static str {
    let find = |list: &'_ [ContainerStatus], name: &str| -> Option<ContainerStatus> {
        list.iter().find(|s| s.name == name).cloned()
    };
    let mut pending_init = 0;
    let mut failed_init = 0;
    if !initialized {
        for spec in init_specs {
            let sidecar = spec.restart_policy.as_deref() == Some("Always");
            let Some(s) = find(init, &spec.name) else {
                pending_init += 1;
                continue;
            };
            let state = s.state.clone().unwrap_or_default();
            let last_exit = s
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .map(|t| t.exit_code);
            if sidecar {
                if !(state.running.is_some() && s.started == Some(true)) {
                    pending_init += 1;
                }
                continue;
            }
            match (&state.running, &state.terminated, &state.waiting) {
                (Some(_), _, _) => pending_init += 1,
                (_, Some(t), _) if t.exit_code == 0 => {}
                (_, Some(_), _) => failed_init += 1,
                (_, _, Some(_)) => match last_exit {
                    Some(0) => {}
                    Some(_) => failed_init += 1,
                    None => pending_init += 1,
                },
                _ => pending_init += 1,
            }
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 {
        return "Pending";
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for s in app {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            let last = s.last_state.as_ref().and_then(|l| l.terminated.as_ref());
            match last {
                Some(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                None => waiting += 1,
            }
        } else {
            unknown += 1;
        }
    }
    if waiting > 0 && !terminal {
        return "Pending";
    }
    if running > 0 && unknown == 0 && !terminal {
        return "Running";
    }
    if (stopped > 0 && unknown == 0 && running == 0) || (terminal && running == 0) {
        if policy == RestartPolicy::Always && !terminal {
            return "Running";
        }
        if stopped == succeeded && waiting == 0 {
            return "Succeeded";
        }
        if policy == RestartPolicy::Never || terminal {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    fn status(name: &str, state: ContainerState, last_exit: Option<i32>) -> ContainerStatus {
        ContainerStatus {
            name: name.to_string(),
            state: Some(state),
            last_state: last_exit.map(|code| ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running(name: &str) -> ContainerStatus {
        let state = ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        };
        status(name, state, None)
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        let state = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                ..Default::default()
            }),
            ..Default::default()
        };
        status(name, state, None)
    }

    fn waiting(name: &str, last_exit: Option<i32>) -> ContainerStatus {
        let state = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        status(name, state, last_exit)
    }

    fn init_spec(name: &str) -> Container {
        Container {
            name: name.to_string(),
            ..Default::default()
        }
    }

    fn app_phase(policy: RestartPolicy, app: &[ContainerStatus]) -> &'static str {
        phase(policy, &[], &[], app, false, false)
    }

    #[test]
    fn app_container_phases() {
        assert_eq!(app_phase(Always, &[waiting("a", None)]), "Pending");
        assert_eq!(
            app_phase(Always, &[running("a"), waiting("b", None)]),
            "Pending"
        );
        assert_eq!(app_phase(Always, &[running("a")]), "Running");
        assert_eq!(
            app_phase(Always, &[running("a"), exited("b", 1)]),
            "Running"
        );
        assert_eq!(
            app_phase(Always, &[waiting("a", Some(1))]),
            "Running",
            "crash looping"
        );
        assert_eq!(
            app_phase(Always, &[exited("a", 0)]),
            "Running",
            "about to restart"
        );
        assert_eq!(
            app_phase(Never, &[exited("a", 0), exited("b", 0)]),
            "Succeeded"
        );
        assert_eq!(
            app_phase(Never, &[exited("a", 0), exited("b", 3)]),
            "Failed"
        );
        assert_eq!(app_phase(OnFailure, &[exited("a", 0)]), "Succeeded");
        assert_eq!(app_phase(OnFailure, &[waiting("a", Some(1))]), "Running");
        assert_eq!(app_phase(Never, &[]), "Pending");
    }

    #[test]
    fn init_container_phases() {
        let specs = [init_spec("i")];
        let app = [waiting("a", None)];
        let p = |policy, init: &[ContainerStatus]| phase(policy, &specs, init, &app, false, false);
        assert_eq!(p(Always, &[]), "Pending");
        assert_eq!(p(Always, &[running("i")]), "Pending");
        assert_eq!(p(Never, &[exited("i", 1)]), "Failed");
        assert_eq!(p(Always, &[exited("i", 1)]), "Pending");
        assert_eq!(p(OnFailure, &[waiting("i", Some(1))]), "Pending");
        assert_eq!(p(Always, &[exited("i", 0)]), "Pending", "app still waiting");
        assert_eq!(
            phase(
                Always,
                &specs,
                &[exited("i", 0)],
                &[running("a")],
                false,
                false
            ),
            "Running"
        );
        assert_eq!(
            phase(Always, &specs, &[], &[running("a")], true, false),
            "Running",
            "initialized before (re-adopted)"
        );
    }

    #[test]
    fn terminal_pods_settle() {
        let p = |app: &[ContainerStatus]| phase(Always, &[], &[], app, false, true);
        assert_eq!(p(&[exited("a", 0)]), "Succeeded");
        assert_eq!(p(&[exited("a", 143)]), "Failed");
    }
}
