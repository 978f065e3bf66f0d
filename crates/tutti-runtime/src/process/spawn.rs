//! Starting a container's command as a host process in its own process group, under a
//! small wrapper shell that records its exit status, with exactly the spec's environment
//! (plus PATH), its working directory, and stdout/stderr on FIFOs that the supervisor
//! copies into the log file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use rustix::fs::{FileType, Mode};
use tracing::info;

use super::record::{Layout, Record, unix_ns};
use super::{procfs, supervise, unsupported};
use crate::{ContainerSpec, RuntimeError, naming};

/// PATH for a process whose spec sets none and whose agent has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell that runs the wrapper.
const SHELL: &str = "/bin/sh";

/// Runs the command as its child and leaves its exit status in a file (`$1`), so the status
/// survives the agent that started it (a restarted agent is not the parent and cannot
/// wait() for it). `trap :` keeps the shell alive through SIGTERM/SIGINT/SIGHUP (sent to the
/// whole process group) until the command exits; the command gets the default handling
/// (handlers reset on exec). A command killed by signal N exits 128+N, as Docker reports.
/// The shell's own stderr is /dev/null (the command gets the real one as fd 3 → 2 in a
/// subshell), so its "Killed"/"Terminated" job notices never reach the container's log.
const WRAPPER: &str = concat!(
    r#"f=$1; shift; exec 3>&2 2>/dev/null; trap : TERM INT HUP; "#,
    r#"( exec 2>&3 3>&-; exec "$@" ); "#,
    r#"s=$?; printf '%d\n' "$s" >"$f"; exit "$s""#,
);

/// Spawn `spec` and start supervising it. Spawning an attempt that already has a record
/// returns that record (a retried call does not start a second process).
pub(crate) async fn spawn(layout: &Layout, spec: &ContainerSpec) -> Result<Record, RuntimeError> {
    let agent_uid = rustix::process::geteuid().as_raw();
    let refused = unsupported::fields(spec, agent_uid);
    if !refused.is_empty() {
        return Err(RuntimeError::Unsupported(format!(
            "container {}: the process driver cannot honour: {}",
            spec.name,
            refused.join("; ")
        )));
    }
    let effective_uid = spec.security.run_as_user.unwrap_or(i64::from(agent_uid));
    if spec.security.run_as_non_root && effective_uid == 0 {
        return Err(RuntimeError::StartFailed(format!(
            "container has runAsNonRoot and image will run as root (pod: \"{}/{}\", container: {})",
            spec.namespace, spec.pod_name, spec.name
        )));
    }
    let argv: Vec<&String> = spec.command.iter().chain(&spec.args).collect();
    let Some((program, args)) = argv.split_first() else {
        return Err(RuntimeError::StartFailed(format!(
            "container {}: the process driver runs the container's command, and it has none \
             (set command or args)",
            spec.name
        )));
    };
    let id = naming::container_name(
        &spec.name,
        &spec.pod_name,
        &spec.namespace,
        &spec.pod_uid,
        spec.attempt,
    );
    if let Ok(existing) = layout.load(&id) {
        return Ok(existing);
    }
    let dir = layout.container_dir(&id);
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        RuntimeError::StartFailed(format!("container {}: {what}: {e}", spec.name))
    };
    let work = dir.join("work");
    std::fs::create_dir_all(&work).map_err(|e| failed("cannot create its directory", &e))?;
    let working_dir = match spec.working_dir.as_deref().filter(|d| !d.is_empty()) {
        Some(wd) if !Path::new(wd).is_dir() => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(RuntimeError::StartFailed(format!(
                "container {}: workingDir {wd} does not exist on the host",
                spec.name
            )));
        }
        Some(wd) => PathBuf::from(wd),
        None => work,
    };
    let Some(lock) = supervise::try_lock(&dir)? else {
        return Err(failed("already being started", &"supervisor lock held"));
    };
    let log_path = match &spec.log_dir {
        Some(logs) => logs.join(&spec.name).join(format!("{}.log", spec.attempt)),
        None => dir.join("container.log"),
    };
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| failed("cannot create the log directory", &e))?;
    }
    let [out, err] = open_fifos(&dir).map_err(|e| failed("cannot create its output pipes", &e))?;
    let outputs = supervise::open_outputs(&dir)?;

    let path = spec
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string()));
    if find_program(program, &path, &working_dir).is_none() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(RuntimeError::StartFailed(format!(
            "container {}: exec: {program:?}: executable file not found in $PATH ({path})",
            spec.name
        )));
    }
    let mut cmd = std::process::Command::new(SHELL);
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg("tutti-process")
        .arg(layout.exit_file(&id))
        .arg(program)
        .args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("PATH", &path)
        .current_dir(&working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some(uid) = spec.security.run_as_user {
        let uid = u32::try_from(uid).map_err(|e| failed("runAsUser", &e))?;
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
    }
    if let Some(gid) = spec.security.run_as_group {
        let gid = u32::try_from(gid).map_err(|e| failed("runAsGroup", &e))?;
        std::os::unix::process::CommandExt::gid(&mut cmd, gid);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    let spawned = cmd.spawn();
    // The command holds our copies of the FIFOs' write ends: close them now, or the log
    // pumps would never see end-of-file.
    drop(cmd);
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(RuntimeError::StartFailed(format!(
                "container {}: cannot run {program:?}: {e}",
                spec.name
            )));
        }
    };
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| failed("lost its process id", &"exited and reaped"))?;
    // Not reaped yet (we have not waited), so /proc still knows it even if it already exited.
    let pid_start_ticks = procfs::stat(pid).map(|s| s.start_ticks).unwrap_or(0);
    let record = Record {
        id: id.clone(),
        pod_uid: spec.pod_uid.clone(),
        pod_name: spec.pod_name.clone(),
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        attempt: spec.attempt,
        image: spec.image.clone(),
        pid,
        pid_start_ticks,
        started_at_unix_ns: unix_ns(SystemTime::now()),
        log_path,
        exit: None,
    };
    layout.save(&record)?;
    supervise::own_child(layout.clone(), &record, child, lock, outputs)?;
    info!(container = %id, pid, program = %program, "process started");
    Ok(record)
}

/// The executable `program` names: a path (relative to the working directory), or a name
/// looked up in `path`.
fn find_program(program: &str, path: &str, working_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let candidate = working_dir.join(program);
        return executable(&candidate).then_some(candidate);
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| executable(candidate))
}

/// Fresh FIFOs for stdout and stderr, opened read-write for the child (see `supervise`).
fn open_fifos(dir: &Path) -> std::io::Result<[File; 2]> {
    let [(out, _), (err, _)] = supervise::fifo_paths(dir);
    let open = |path: &Path| -> std::io::Result<File> {
        let _ = std::fs::remove_file(path);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )?;
        File::options().read(true).write(true).open(path)
    };
    Ok([open(&out)?, open(&err)?])
}
