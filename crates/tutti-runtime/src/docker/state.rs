//! Docker's inspect answer turned into what Kubernetes shows: a container state with
//! exit code and reason (`OOMKilled` wins, then `Completed` for 0, else `Error`).

use std::time::SystemTime;

use bollard::models::{
    ContainerInspectResponse, ContainerState as EngineState, ContainerStateStatusEnum,
};

use super::labels;
use crate::{ContainerInfo, ContainerState, timestamp};

/// The `ContainerInfo` of an inspected container (sandbox or not).
pub(crate) fn container_info(found: &ContainerInspectResponse) -> ContainerInfo {
    let config = found.config.as_ref();
    let identity = labels::identity(config.and_then(|c| c.labels.as_ref()));
    ContainerInfo {
        id: found.id.clone().unwrap_or_default(),
        pod_uid: identity.pod_uid,
        name: identity.name,
        attempt: identity.attempt,
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        image_id: found
            .image
            .as_ref()
            .map(|id| format!("docker://{id}"))
            .unwrap_or_default(),
        state: state(found.state.as_ref()),
    }
}

/// Whether the engine says the container is running now.
pub(crate) fn is_running(found: &ContainerInspectResponse) -> bool {
    found
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
}

pub(crate) fn state(engine: Option<&EngineState>) -> ContainerState {
    let Some(engine) = engine else {
        return ContainerState::Unknown;
    };
    let started_at = engine.started_at.as_deref().and_then(timestamp::parse);
    let exited = || {
        let exit_code = engine.exit_code.unwrap_or(0);
        let reason = if engine.oom_killed == Some(true) {
            "OOMKilled"
        } else if exit_code == 0 {
            "Completed"
        } else {
            "Error"
        };
        ContainerState::Exited {
            exit_code: i32::try_from(exit_code).unwrap_or(i32::MAX),
            reason: Some(reason.to_string()),
            started_at,
            finished_at: engine
                .finished_at
                .as_deref()
                .and_then(timestamp::parse)
                .unwrap_or_else(SystemTime::now),
        }
    };
    match engine.status {
        Some(ContainerStateStatusEnum::CREATED) => {
            // A start that failed (no such executable, bad mount) leaves the container
            // created with an error and an exit code (126/127/128).
            match engine.error.as_deref() {
                Some(error) if !error.is_empty() => ContainerState::Exited {
                    exit_code: engine
                        .exit_code
                        .and_then(|c| i32::try_from(c).ok())
                        .filter(|c| *c != 0)
                        .unwrap_or(128),
                    reason: Some("ContainerCannotRun".to_string()),
                    started_at: None,
                    finished_at: SystemTime::now(),
                },
                _ => ContainerState::Created,
            }
        }
        Some(ContainerStateStatusEnum::RUNNING)
        | Some(ContainerStateStatusEnum::PAUSED)
        | Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Running {
            started_at: started_at.unwrap_or_else(SystemTime::now),
        },
        Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => exited(),
        _ => ContainerState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i64, oom: bool) -> EngineState {
        EngineState {
            status: Some(ContainerStateStatusEnum::EXITED),
            exit_code: Some(code),
            oom_killed: Some(oom),
            started_at: Some("2024-05-01T12:00:00.5Z".into()),
            finished_at: Some("2024-05-01T12:00:01Z".into()),
            ..Default::default()
        }
    }

    fn reason(s: ContainerState) -> (i32, Option<String>) {
        match s {
            ContainerState::Exited {
                exit_code, reason, ..
            } => (exit_code, reason),
            other => panic!("not exited: {other:?}"),
        }
    }

    #[test]
    fn exit_reasons_follow_kubernetes() {
        assert_eq!(
            reason(state(Some(&exited(0, false)))),
            (0, Some("Completed".into()))
        );
        assert_eq!(
            reason(state(Some(&exited(3, false)))),
            (3, Some("Error".into()))
        );
        assert_eq!(
            reason(state(Some(&exited(137, true)))),
            (137, Some("OOMKilled".into()))
        );
    }

    #[test]
    fn failed_start_is_container_cannot_run() {
        let engine = EngineState {
            status: Some(ContainerStateStatusEnum::CREATED),
            exit_code: Some(127),
            error: Some("exec: \"nope\": executable file not found".into()),
            ..Default::default()
        };
        assert_eq!(
            reason(state(Some(&engine))),
            (127, Some("ContainerCannotRun".into()))
        );
        let fresh = EngineState {
            status: Some(ContainerStateStatusEnum::CREATED),
            ..Default::default()
        };
        assert_eq!(state(Some(&fresh)), ContainerState::Created);
    }

    #[test]
    fn running_keeps_its_start_time() {
        let engine = EngineState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            running: Some(true),
            started_at: Some("2024-05-01T12:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(
            state(Some(&engine)),
            ContainerState::Running {
                started_at: timestamp::parse("2024-05-01T12:00:00Z")
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            }
        );
    }
}
