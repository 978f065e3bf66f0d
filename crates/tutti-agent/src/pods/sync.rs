//! The pod state machine, pure: from the restart policy and what each container is doing,
//! decide what to do next — start the next init container (one at a time, each must exit
//! 0), start or restart app containers per `restartPolicy`, kill containers whose liveness
//! or startup probe failed, stop sidecars once the app containers are done. Back-off is
//! applied by the caller to every (re)start this returns.

/// `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(s: Option<&str>) -> RestartPolicy {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `code` is started again.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// What the latest attempt of a container is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// No attempt yet (or it could not be started).
    NotStarted,
    /// Created but not (yet) running.
    Created,
    /// Running; `started`: its startup probe passed (or it has none).
    Running {
        started: bool,
    },
    Exited {
        exit_code: i32,
    },
}

/// One container as the state machine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub name: String,
    /// An init container with `restartPolicy: Always` (a native sidecar).
    pub sidecar: bool,
    pub observed: Observed,
    /// A liveness or startup probe failed: kill it.
    pub unhealthy: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// Its liveness or startup probe failed; it is restarted per policy.
    Unhealthy,
    /// A sidecar whose app containers are all done.
    SidecarDone,
    /// Its image changed; it restarts with the new one.
    SpecChanged,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start (or restart) the container.
    Start(String),
    Kill(String, KillReason),
}

/// The steps to take now. `initialized`: the pod's app containers ran before (e.g. seen
/// on re-adoption), so regular init containers are done even if their containers are gone.
pub fn decide(policy: RestartPolicy, init: &[View], app: &[View], initialized: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if !initialized {
        for c in init {
            if c.sidecar {
                match c.observed {
                    Observed::NotStarted | Observed::Exited { .. } => {
                        steps.push(Step::Start(c.name.clone()));
                        return steps;
                    }
                    Observed::Created => return steps,
                    Observed::Running { started } => {
                        if c.unhealthy {
                            steps.push(Step::Kill(c.name.clone(), KillReason::Unhealthy));
                            return steps;
                        }
                        if !started {
                            return steps;
                        }
                    }
                }
                continue;
            }
            match c.observed {
                Observed::NotStarted => {
                    steps.push(Step::Start(c.name.clone()));
                    return steps;
                }
                Observed::Created | Observed::Running { .. } => return steps,
                Observed::Exited { exit_code: 0 } => {}
                Observed::Exited { .. } if policy == RestartPolicy::Never => return steps,
                Observed::Exited { .. } => {
                    steps.push(Step::Start(c.name.clone()));
                    return steps;
                }
            }
        }
    }
    let finished = |c: &View| match c.observed {
        Observed::Exited { exit_code } => !policy.restarts(exit_code),
        _ => false,
    };
    let app_done = !app.is_empty() && app.iter().all(finished);
    for c in init.iter().filter(|c| c.sidecar) {
        match c.observed {
            Observed::Running { .. } if app_done => {
                steps.push(Step::Kill(c.name.clone(), KillReason::SidecarDone));
            }
            Observed::Running { .. } if c.unhealthy => {
                steps.push(Step::Kill(c.name.clone(), KillReason::Unhealthy));
            }
            Observed::NotStarted | Observed::Exited { .. } if !app_done => {
                steps.push(Step::Start(c.name.clone()));
            }
            _ => {}
        }
    }
    for c in app {
        match c.observed {
            Observed::NotStarted => steps.push(Step::Start(c.name.clone())),
            Observed::Running { .. } if c.unhealthy => {
                steps.push(Step::Kill(c.name.clone(), KillReason::Unhealthy));
            }
            Observed::Exited { exit_code } if policy.restarts(exit_code) => {
                steps.push(Step::Start(c.name.clone()));
            }
            _ => {}
        }
    }
    steps
}

#[cfg(test)]
mod tests;
