//! The conformance suite against the process driver (always runs: it needs only a shell),
//! plus what only the process driver promises.

mod conformance;

use std::time::Duration;

use conformance::{DriverFactory, exited, pod, sandbox, shell, start, wait_for_log};
use tutti_runtime::process::ProcessDriver;
use tutti_runtime::{ContainerState, PullPolicy, RuntimeDriver, RuntimeError};

/// Drivers over one temporary state directory (a second `make` is a restarted agent).
struct Process {
    state: tempfile::TempDir,
}

impl Process {
    fn new() -> Process {
        Process {
            state: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl DriverFactory for Process {
    type D = ProcessDriver;

    async fn make(&self) -> ProcessDriver {
        ProcessDriver::new(self.state.path().to_path_buf())
    }

    fn image(&self) -> &str {
        "ignored:latest"
    }
}

crate::conformance_suite!(Process::new());

#[tokio::test]
async fn images_are_always_present_and_recorded_as_given() {
    let d = Process::new().make().await;
    let info = d
        .ensure_image("nginx", PullPolicy::Never)
        .await
        .expect("ensure_image");
    assert_eq!(info.image_id, "process://nginx");
    assert!(!d.capabilities().images);
    assert!(
        d.version()
            .await
            .expect("version")
            .starts_with("process://")
    );
}

#[tokio::test]
async fn unsupported_fields_are_refused_by_name() {
    let f = Process::new();
    let d = f.make().await;
    let pod = pod("unsupported");
    let sb = sandbox(&d, &pod).await;
    assert_eq!(sb.ip, "", "the agent fills in the node IP");
    let mut spec = shell(&f, &pod, "limited", "true");
    spec.memory_limit_bytes = Some(64 << 20);
    spec.security.privileged = true;
    match d.start_container(&sb, &spec).await {
        Err(RuntimeError::Unsupported(msg)) => {
            assert!(msg.contains("resources.limits.memory"), "{msg}");
            assert!(msg.contains("securityContext.privileged"), "{msg}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(d.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn a_missing_command_or_working_dir_fails_to_start() {
    let f = Process::new();
    let d = f.make().await;
    let pod = pod("badstart");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&f, &pod, "nope", "true");
    spec.command = vec!["/nonexistent/binary".into()];
    spec.args.clear();
    let err = d
        .start_container(&sb, &spec)
        .await
        .expect_err("no such binary");
    assert!(matches!(err, RuntimeError::StartFailed(_)), "{err:?}");
    let mut spec = shell(&f, &pod, "wd", "true");
    spec.working_dir = Some("/nonexistent/dir".into());
    let err = d
        .start_container(&sb, &spec)
        .await
        .expect_err("no such dir");
    assert!(err.to_string().contains("/nonexistent/dir"), "{err}");
}

#[tokio::test]
async fn the_environment_is_exactly_the_spec_plus_path() {
    let f = Process::new();
    let d = f.make().await;
    let pod = pod("env");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(&f, &pod, "env", "env | sort");
    spec.env = vec![("ONLY".into(), "this".into())];
    let c = start(&d, &sb, &spec).await;
    exited(&d, &c.id).await;
    let out = conformance::logs(&d, &c.id, Default::default()).await;
    let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    // `sh` itself may add PWD, SHLVL or `_`.
    for name in &names {
        assert!(
            ["ONLY", "PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(name),
            "leaked {name}: {out}"
        );
    }
    assert!(out.contains("ONLY=this"));
}

#[tokio::test]
async fn a_process_that_exits_after_its_agent_died_keeps_its_exit_code() {
    // Simulate an agent that died: spawn through one driver in a separate runtime, then
    // drop that runtime (and its supervisor) before the process exits. The new driver is
    // not the process's parent; the wrapper shell's exit file tells the code.
    let f = Process::new();
    let pod = pod("orphan");
    let spec = shell(&f, &pod, "short", "echo started; sleep 1; exit 3");
    let dir = f.state.path().to_path_buf();
    let id = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let d = ProcessDriver::new(dir);
            let sb = d.create_sandbox(&pod).await.expect("sandbox");
            d.start_container(&sb, &spec).await.expect("start").id
        })
    })
    .join()
    .expect("first agent");
    let d = f.make().await;
    // Still running: adopted (its logs keep flowing) ...
    wait_for_log(&d, &id, "started").await;
    // ... then it exits while only the adopting driver watches.
    assert_eq!(exited(&d, &id).await, (3, "Error".to_string()));
    d.remove_container(&id).await.expect("remove");
}

#[tokio::test]
async fn stats_report_the_process_groups_memory() {
    let f = Process::new();
    let d = f.make().await;
    let pod = pod("stats");
    let sb = sandbox(&d, &pod).await;
    let script = format!("echo ready; {}", conformance::IDLE);
    let c = start(&d, &sb, &shell(&f, &pod, "idle", &script)).await;
    wait_for_log(&d, &c.id, "ready").await;
    // The kernel updates resident-set counters lazily: poll.
    let deadline = tokio::time::Instant::now() + conformance::WAIT;
    loop {
        let stats = d.stats(&c.id).await.expect("stats");
        if stats.memory_bytes > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.stop_container(&c.id, Duration::from_secs(1))
        .await
        .expect("stop");
    assert!(matches!(
        d.inspect(&c.id).await.expect("inspect").state,
        ContainerState::Exited { .. }
    ));
    d.remove_container(&c.id).await.expect("remove");
}
