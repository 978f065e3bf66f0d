//! What the process driver remembers about each container, as small JSON files under the
//! state directory, so a restarted agent re-adopts its processes:
//!
//! ```text
//! <state_dir>/containers/<id>/record.json    pid, its start time, pod, name, attempt, exit
//! <state_dir>/containers/<id>/supervisor.lock held (flock) by the driver supervising it
//! <state_dir>/containers/<id>/std{out,err}.fifo  the process's stdout and stderr
//! <state_dir>/containers/<id>/exit_code       written by the wrapper shell when it ends
//! <state_dir>/containers/<id>/work/           default working directory
//! <state_dir>/containers/<id>/container.log   logs, unless the spec names a log_dir
//! <state_dir>/sandboxes/<pod uid>.json
//! ```
//!
//! The environment is deliberately not recorded: it may hold secrets, which never reach
//! the disk in plaintext.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// Exit code and reason for a process that ended while no driver watched it: Kubernetes
/// reports such a container as `ContainerStatusUnknown` with exit code 137.
pub(crate) const UNKNOWN_EXIT_CODE: i32 = 137;
pub(crate) const UNKNOWN_EXIT_REASON: &str = "ContainerStatusUnknown";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat at spawn: tells our process from a reused pid.
    pub pid_start_ticks: u64,
    pub started_at_unix_ns: u64,
    pub log_path: PathBuf,
    pub exit: Option<Exit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Exit {
    pub code: i32,
    pub reason: String,
    pub finished_at_unix_ns: u64,
}

impl Exit {
    /// `Completed` for 0, else `Error`; a signal N is exit code 128+N.
    pub fn from_code(code: i32) -> Exit {
        let reason = if code == 0 { "Completed" } else { "Error" };
        Exit {
            code,
            reason: reason.to_string(),
            finished_at_unix_ns: unix_ns(SystemTime::now()),
        }
    }

    pub fn unknown() -> Exit {
        Exit {
            code: UNKNOWN_EXIT_CODE,
            reason: UNKNOWN_EXIT_REASON.to_string(),
            finished_at_unix_ns: unix_ns(SystemTime::now()),
        }
    }
}

pub(crate) fn unix_ns(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_unix_ns(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Where a driver's files live.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    pub fn sandboxes(&self) -> PathBuf {
        self.root.join("sandboxes")
    }

    pub fn sandbox_file(&self, pod_uid: &str) -> PathBuf {
        self.sandboxes().join(format!("{pod_uid}.json"))
    }
}

fn io_error(path: &Path, e: io::Error) -> RuntimeError {
    RuntimeError::Other(format!("{}: {e}", path.display()))
}

/// Write atomically (temporary file, then rename): a crash never leaves half a record.
pub(crate) fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

pub(crate) fn load_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<T>, RuntimeError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))
}

impl Layout {
    /// Where the wrapper shell (see `spawn`) leaves the command's exit status, so it
    /// survives the agent that started it.
    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exit_code")
    }

    /// The exit status the wrapper left, if it got to write one.
    pub fn wrapper_exit(&self, id: &str) -> Option<Exit> {
        let text = std::fs::read_to_string(self.exit_file(id)).ok()?;
        text.trim().parse::<i32>().ok().map(Exit::from_code)
    }

    pub fn record_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("record.json")
    }

    pub fn load(&self, id: &str) -> Result<Record, RuntimeError> {
        // Ids name directories: refuse anything that could step outside ours.
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(RuntimeError::NotFound { id: id.to_string() });
        }
        load_json(&self.record_path(id))?
            .ok_or_else(|| RuntimeError::NotFound { id: id.to_string() })
    }

    pub fn save(&self, record: &Record) -> Result<(), RuntimeError> {
        save_json(&self.record_path(&record.id), record)
    }

    /// Every record, sorted by id; unreadable ones are skipped.
    pub fn all(&self) -> Result<Vec<Record>, RuntimeError> {
        let dir = self.containers();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&dir, e)),
        };
        let mut records: Vec<Record> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| self.load(&id).ok())
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_missing_is_not_found() -> Result<(), RuntimeError> {
        let dir = tempfile::tempdir().map_err(|e| RuntimeError::Other(e.to_string()))?;
        let layout = Layout::new(dir.path().to_path_buf());
        let record = Record {
            id: "c1".into(),
            pod_uid: "u".into(),
            pod_name: "p".into(),
            namespace: "n".into(),
            name: "c".into(),
            attempt: 1,
            image: "busybox".into(),
            pid: 42,
            pid_start_ticks: 7,
            started_at_unix_ns: 1,
            log_path: "/x.log".into(),
            exit: Some(Exit::from_code(3)),
        };
        std::fs::create_dir_all(layout.container_dir("c1"))
            .map_err(|e| RuntimeError::Other(e.to_string()))?;
        layout.save(&record)?;
        assert_eq!(layout.load("c1")?, record);
        assert_eq!(layout.all()?, vec![record]);
        assert!(matches!(
            layout.load("nope"),
            Err(RuntimeError::NotFound { .. })
        ));
        assert!(matches!(
            layout.load("../x"),
            Err(RuntimeError::NotFound { .. })
        ));
        Ok(())
    }
}
