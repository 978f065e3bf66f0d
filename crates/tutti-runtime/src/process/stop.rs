//! Stopping a host process: SIGTERM to its process group, up to `grace` to exit, then
//! SIGKILL; and removing a container's files.

use std::time::Duration;

use rustix::process::{Signal, kill_process_group};
use tracing::{debug, info};

use super::observe::observe;
use super::procfs;
use super::record::{Layout, Record};
use crate::{ContainerState, RuntimeError};

const POLL: Duration = Duration::from_millis(20);
/// How long a SIGKILLed process may take to disappear, and its exit to be recorded.
const AFTER_KILL: Duration = Duration::from_secs(10);

pub(crate) async fn stop(layout: &Layout, id: &str, grace: Duration) -> Result<(), RuntimeError> {
    let record = layout.load(id)?;
    // Adopt it first if nobody supervises it, so its last words reach the log.
    observe(layout, record.clone())?;
    if record.exit.is_none() && procfs::alive(record.pid, record.pid_start_ticks) {
        signal(&record, Signal::TERM);
        if !gone(&record, grace).await {
            info!(container = %id, grace_ms = grace.as_millis() as u64, "did not stop in time; killing");
            signal(&record, Signal::KILL);
            if !gone(&record, AFTER_KILL).await {
                return Err(RuntimeError::Other(format!(
                    "container {id} (pid {}) survived SIGKILL",
                    record.pid
                )));
            }
            // The wrapper died with it: leave the status a SIGKILL gives, for a supervisor
            // that is not its parent.
            let exit_file = layout.exit_file(id);
            if !exit_file.exists() {
                let _ = std::fs::write(&exit_file, "137\n");
            }
        }
        // Whatever it left behind in its process group goes too.
        signal(&record, Signal::KILL);
    }
    // Return with the exit recorded, so inspect right after shows it.
    settled(layout, id).await
}

/// Wait (bounded) until the container's exit is recorded.
async fn settled(layout: &Layout, id: &str) -> Result<(), RuntimeError> {
    let deadline = tokio::time::Instant::now() + AFTER_KILL;
    loop {
        let info = observe(layout, layout.load(id)?)?;
        if matches!(info.state, ContainerState::Exited { .. })
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Kill what is still running and delete the container's files. Idempotent.
pub(crate) async fn remove(layout: &Layout, id: &str) -> Result<(), RuntimeError> {
    let record = match layout.load(id) {
        Ok(record) => record,
        Err(RuntimeError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if record.exit.is_none() && procfs::alive(record.pid, record.pid_start_ticks) {
        signal(&record, Signal::KILL);
        gone(&record, AFTER_KILL).await;
        settled(layout, id).await?;
    }
    let dir = layout.container_dir(id);
    // A supervisor or log pump may still be finishing a write into the directory.
    let mut attempts = 0;
    loop {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(POLL).await;
            }
            Err(e) => return Err(RuntimeError::Other(format!("{}: {e}", dir.display()))),
        }
    }
    debug!(container = %id, "removed");
    Ok(())
}

/// Signal the process group (its pgid is its pid), unless the process is gone.
fn signal(record: &Record, signal: Signal) {
    let Some(pid) = procfs::pid(record.pid) else {
        return;
    };
    if let Err(e) = kill_process_group(pid, signal) {
        debug!(pid = record.pid, ?signal, error = %e, "signal not delivered");
    }
}

/// Wait up to `limit` for the process to be gone; true if it is.
async fn gone(record: &Record, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if !procfs::alive(record.pid, record.pid_start_ticks) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
