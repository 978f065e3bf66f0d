//! `docker exec` with a timeout, capturing combined output (exec probes). On timeout the
//! exec'd process is killed on the host (the engine itself never stops an exec).

use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::StreamExt;
use tracing::warn;

use super::engine_error;
use crate::{ExecResult, RuntimeError};

/// Output beyond this many bytes is dropped (kubelet keeps 10 KiB of probe output).
pub(crate) const MAX_OUTPUT: usize = 10 * 1024;

pub(crate) async fn run(
    docker: &Docker,
    id: &str,
    command: &[String],
    timeout: Duration,
) -> Result<ExecResult, RuntimeError> {
    if command.is_empty() {
        return Err(RuntimeError::Other(format!(
            "exec in container {id}: empty command"
        )));
    }
    let options = CreateExecOptions {
        cmd: Some(command.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec_id = docker
        .create_exec(id, options)
        .await
        .map_err(|e| engine_error(id, e))?
        .id;
    let run = async {
        let started = docker
            .start_exec(&exec_id, Some(StartExecOptions::default()))
            .await
            .map_err(|e| engine_error(id, e))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached {
            output: mut frames, ..
        } = started
        {
            while let Some(frame) = frames.next().await {
                let frame = frame.map_err(|e| engine_error(id, e))?;
                let room = MAX_OUTPUT.saturating_sub(output.len());
                let bytes = frame.into_bytes();
                output.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        }
        let done = docker
            .inspect_exec(&exec_id)
            .await
            .map_err(|e| engine_error(id, e))?;
        Ok(ExecResult {
            exit_code: done.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(result) => result,
        Err(_) => {
            kill(docker, &exec_id).await;
            Err(RuntimeError::Other(format!(
                "exec {command:?} in container {id} timed out after {timeout:?}"
            )))
        }
    }
}

/// Best effort: the engine reports the exec's host pid; SIGKILL it.
async fn kill(docker: &Docker, exec_id: &str) {
    let pid = docker
        .inspect_exec(exec_id)
        .await
        .ok()
        .and_then(|e| e.pid)
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid
        && let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::KILL)
    {
        warn!(exec = %exec_id, error = %e, "could not kill a timed-out exec");
    }
}
