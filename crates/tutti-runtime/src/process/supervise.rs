//! Watching a container's process: copy its stdout/stderr from their FIFOs into the log
//! file, and record its exit. Exactly one driver supervises a container at a time — the one
//! holding `supervisor.lock` (flock, released by the kernel when that agent dies), so a
//! restarted agent takes over (adopts) the processes its predecessor started.
//!
//! The process holds its FIFOs open read-write, so its writes never fail while no driver
//! reads them: they wait in the pipe (64 KiB) until the next supervisor drains it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::io::Write;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::logfile::format_entry;
use super::procfs;
use super::record::{Exit, Layout, Record};
use crate::RuntimeError;

/// Longer lines are stored in pieces (CRI `P` entries).
const MAX_LINE: usize = 16 * 1024;
/// How long, after the process exited, its output may take to drain (a grandchild that
/// keeps the pipe open could hold it forever).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an adopted process (not our child: no wait()) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(100);

pub(crate) fn fifo_paths(dir: &Path) -> [(PathBuf, &'static str); 2] {
    [
        (dir.join("stdout.fifo"), "stdout"),
        (dir.join("stderr.fifo"), "stderr"),
    ]
}

/// Take the supervisor lock of a container, unless another driver holds it.
pub(crate) fn try_lock(dir: &Path) -> Result<Option<File>, RuntimeError> {
    let path = dir.join("supervisor.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(RuntimeError::Other(format!("{}: {e}", path.display())))
        }
    }
}

/// Supervise a process we spawned: its exit code is known exactly. `outputs` were opened
/// before the spawn: a FIFO nobody holds open loses what was written into it.
pub(crate) fn own_child(
    layout: Layout,
    record: &Record,
    mut child: Child,
    lock: File,
    outputs: Outputs,
) -> Result<(), RuntimeError> {
    let pumps = start_pumps(outputs, &record.log_path);
    let id = record.id.clone();
    tokio::spawn(async move {
        let _lock = lock;
        let exit = match child.wait().await {
            Ok(status) => Exit::from_code(exit_code(status)),
            Err(e) => {
                warn!(container = %id, error = %e, "lost track of the process");
                Exit::unknown()
            }
        };
        drain(pumps).await;
        info!(container = %id, exit_code = exit.code, reason = %exit.reason, "process exited");
        record_exit(&layout, &id, exit, false);
    });
    Ok(())
}

/// Take over a running process nobody supervises (its agent restarted). `Ok(false)` when
/// another driver supervises it.
pub(crate) fn adopt(layout: &Layout, record: &Record) -> Result<bool, RuntimeError> {
    let dir = layout.container_dir(&record.id);
    let Some(lock) = try_lock(&dir)? else {
        return Ok(false);
    };
    // Its previous supervisor may have recorded the exit just before letting go.
    if layout.load(&record.id)?.exit.is_some() {
        return Ok(false);
    }
    let pumps = start_pumps(open_outputs(&dir)?, &record.log_path);
    info!(container = %record.id, pid = record.pid, "adopted a running process");
    let layout = layout.clone();
    let (id, pid, ticks) = (record.id.clone(), record.pid, record.pid_start_ticks);
    tokio::spawn(async move {
        let _lock = lock;
        while procfs::alive(pid, ticks) {
            tokio::time::sleep(ADOPTED_POLL).await;
        }
        drain(pumps).await;
        // Not our child, so no wait(): the wrapper shell wrote the status, unless it was
        // killed too.
        let exit = layout.wrapper_exit(&id).unwrap_or_else(Exit::unknown);
        info!(container = %id, exit_code = exit.code, reason = %exit.reason, "adopted process exited");
        record_exit(&layout, &id, exit, true);
    });
    Ok(true)
}

/// Exit code as a shell reports it: killed by signal N is 128+N.
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => super::record::UNKNOWN_EXIT_CODE,
    }
}

/// Write the exit into the record; `keep_known` leaves an already recorded exit alone.
/// A record whose directory was removed meanwhile stays removed.
pub(crate) fn record_exit(layout: &Layout, id: &str, exit: Exit, keep_known: bool) {
    let mut record = match layout.load(id) {
        Ok(record) => record,
        Err(e) => {
            debug!(container = %id, error = %e, "no record to write the exit into");
            return;
        }
    };
    if keep_known && record.exit.is_some() {
        return;
    }
    record.exit = Some(exit);
    if let Err(e) = layout.save(&record) {
        debug!(container = %id, error = %e, "could not record the exit");
    }
}

async fn drain(pumps: Vec<JoinHandle<()>>) {
    if tokio::time::timeout(DRAIN_TIMEOUT, futures::future::join_all(pumps))
        .await
        .is_err()
    {
        debug!("output still open after the process exited (a child holds it)");
    }
}

/// The read ends of a container's stdout and stderr FIFOs.
pub(crate) struct Outputs(Vec<(pipe::Receiver, &'static str)>);

pub(crate) fn open_outputs(dir: &Path) -> Result<Outputs, RuntimeError> {
    let mut outputs = Vec::new();
    for (fifo, stream) in fifo_paths(dir) {
        let rx = pipe::OpenOptions::new()
            .open_receiver(&fifo)
            .map_err(|e| RuntimeError::Other(format!("{}: {e}", fifo.display())))?;
        outputs.push((rx, stream));
    }
    Ok(Outputs(outputs))
}

fn start_pumps(outputs: Outputs, log: &Path) -> Vec<JoinHandle<()>> {
    outputs
        .0
        .into_iter()
        .map(|(rx, stream)| tokio::spawn(pump(rx, stream, log.to_path_buf())))
        .collect()
}

/// Copy one stream into the log file, a timestamped entry per line, until EOF.
///
/// Writes are synchronous on purpose: between reading bytes from the pipe and appending
/// them there is no await point, so an agent shutting down cannot drop a line it took.
async fn pump(mut rx: pipe::Receiver, stream: &'static str, log: PathBuf) {
    let mut file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        Ok(file) => file,
        Err(e) => {
            warn!(log = %log.display(), error = %e, "cannot open the log file");
            return;
        }
    };
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                debug!(stream, error = %e, "output pipe closed");
                break;
            }
        };
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        for &b in &buf[..n] {
            if b == b'\n' {
                out.extend(format_entry(now, stream, false, &line));
                line.clear();
            } else {
                line.push(b);
                if line.len() >= MAX_LINE {
                    out.extend(format_entry(now, stream, true, &line));
                    line.clear();
                }
            }
        }
        if !out.is_empty() && file.write_all(&out).is_err() {
            break;
        }
    }
    if !line.is_empty() {
        let entry = format_entry(std::time::SystemTime::now(), stream, true, &line);
        let _ = file.write_all(&entry);
    }
}
