//! exec for host processes: run a command on the host with the container's environment
//! and working directory (read from /proc, so nothing secret is kept on disk), as its user,
//! with a timeout, capturing combined output.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::procfs;
use super::record::Record;
use crate::{ExecResult, RuntimeError};

/// Output beyond this many bytes is dropped (kubelet keeps 10 KiB of probe output).
const MAX_OUTPUT: usize = 10 * 1024;

pub(crate) async fn run(
    record: &Record,
    command: &[String],
    timeout: Duration,
) -> Result<ExecResult, RuntimeError> {
    let id = &record.id;
    if record.exit.is_some() || !procfs::alive(record.pid, record.pid_start_ticks) {
        return Err(RuntimeError::Other(format!(
            "container {id} is not running"
        )));
    }
    let Some((program, args)) = command.split_first() else {
        return Err(RuntimeError::Other(format!(
            "exec in container {id}: empty command"
        )));
    };
    let failed =
        |e: std::io::Error| RuntimeError::Other(format!("exec {command:?} in container {id}: {e}"));
    let (reader, writer) = std::io::pipe().map_err(failed)?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(procfs::environ(record.pid))
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(failed)?)
        .stderr(writer);
    if let Some(cwd) = procfs::cwd(record.pid) {
        cmd.current_dir(cwd);
    }
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some((uid, gid)) = procfs::owner(record.pid)
        && rustix::process::geteuid().is_root()
        && uid != 0
    {
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
        std::os::unix::process::CommandExt::gid(&mut cmd, gid);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    let spawned = cmd.spawn();
    drop(cmd); // our copies of the pipe's write end: EOF comes when the command's close
    let mut child = spawned.map_err(failed)?;
    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()).map_err(failed)?;
    let run = async {
        let mut output = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = rx.read(&mut buf).await.map_err(failed)?;
            if n == 0 {
                break;
            }
            let room = MAX_OUTPUT.saturating_sub(output.len());
            output.extend_from_slice(&buf[..n.min(room)]);
        }
        let status = child.wait().await.map_err(failed)?;
        Ok::<_, RuntimeError>((status, output))
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(done) => {
            let (status, output) = done?;
            Ok(ExecResult {
                exit_code: i64::from(super::supervise::exit_code(status)),
                output: String::from_utf8_lossy(&output).into_owned(),
            })
        }
        Err(_) => {
            if let Some(pid) = child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .and_then(procfs::pid)
            {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.wait().await;
            Err(RuntimeError::Other(format!(
                "exec {command:?} in container {id} timed out after {timeout:?}"
            )))
        }
    }
}
