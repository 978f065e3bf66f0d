//! The one conformance suite every `RuntimeDriver` passes: each `pub async fn` checks one
//! clause of the driver contract (lib.rs) against drivers from a factory, using only
//! `sh` features both busybox and the host's shell have. `conformance_suite!` instantiates
//! every test for one driver; helpers (`support`) are shared with driver-specific tests.

#![allow(dead_code)]

mod support;

pub use support::*;

use std::time::{Duration, SystemTime};

use tutti_runtime::{ContainerState, LogOptions, RuntimeDriver, RuntimeError};

pub async fn runs_to_completion_with_env_workdir_and_logs<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("complete");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(
        f,
        &pod,
        "echo",
        "echo \"greeting=$GREETING\"; pwd; echo oops >&2",
    );
    spec.env = vec![("GREETING".into(), "hello world".into())];
    spec.working_dir = Some("/tmp".into());
    let c = start(&d, &sb, &spec).await;
    assert_eq!(
        (c.pod_uid.as_str(), c.name.as_str(), c.attempt),
        (pod.pod_uid.as_str(), "echo", 0)
    );
    assert_eq!(exited(&d, &c.id).await, (0, "Completed".to_string()));
    let out = logs(&d, &c.id, LogOptions::default()).await;
    assert!(out.contains("greeting=hello world\n"), "{out:?}");
    assert!(out.contains("/tmp\n"), "{out:?}");
    assert!(out.contains("oops\n"), "stderr is in the logs too: {out:?}");
    let info = d.inspect(&c.id).await.expect("inspect");
    assert!(matches!(
        info.state,
        ContainerState::Exited {
            started_at: Some(_),
            ..
        }
    ));
    cleanup(&d, &pod, &[&c.id]).await;
}

pub async fn non_zero_exit_is_an_error_and_attempts_are_kept<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("fail");
    let sb = sandbox(&d, &pod).await;
    let first = start(&d, &sb, &shell(f, &pod, "fail", "echo attempt0; exit 3")).await;
    assert_eq!(exited(&d, &first.id).await, (3, "Error".to_string()));
    let mut again = shell(f, &pod, "fail", "echo attempt1; exit 4");
    again.attempt = 1;
    let second = start(&d, &sb, &again).await;
    assert_ne!(first.id, second.id);
    assert_eq!(exited(&d, &second.id).await, (4, "Error".to_string()));
    // The previous attempt stays (for `kubectl logs --previous`) until removed.
    let listed = d.list().await.expect("list");
    let ours: Vec<_> = listed
        .iter()
        .filter(|c| c.pod_uid == pod.pod_uid)
        .map(|c| c.attempt)
        .collect();
    assert_eq!(ours, vec![0, 1]);
    assert!(
        logs(&d, &first.id, LogOptions::default())
            .await
            .contains("attempt0")
    );
    cleanup(&d, &pod, &[&first.id, &second.id]).await;
}

pub async fn stop_sends_sigterm_then_sigkill_after_grace<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("stop");
    let sb = sandbox(&d, &pod).await;
    let polite = format!("trap 'echo bye; exit 0' TERM; echo ready; {IDLE}");
    let stubborn = format!("trap '' TERM; echo ready; {IDLE}");
    let polite = start(&d, &sb, &shell(f, &pod, "polite", &polite)).await;
    let stubborn = start(&d, &sb, &shell(f, &pod, "stubborn", &stubborn)).await;
    wait_for_log(&d, &polite.id, "ready").await;
    wait_for_log(&d, &stubborn.id, "ready").await;

    d.stop_container(&polite.id, Duration::from_secs(20))
        .await
        .expect("stop");
    assert_eq!(
        exited(&d, &polite.id).await,
        (0, "Completed".to_string()),
        "exited on SIGTERM"
    );
    assert!(
        logs(&d, &polite.id, LogOptions::default())
            .await
            .contains("bye")
    );

    d.stop_container(&stubborn.id, Duration::from_secs(1))
        .await
        .expect("stop");
    assert_eq!(
        exited(&d, &stubborn.id).await,
        (137, "Error".to_string()),
        "SIGKILLed"
    );
    // Stopping what has exited is a no-op.
    d.stop_container(&stubborn.id, Duration::from_secs(1))
        .await
        .expect("stop again");
    cleanup(&d, &pod, &[&polite.id, &stubborn.id]).await;
}

pub async fn remove_is_idempotent<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("remove");
    let sb = sandbox(&d, &pod).await;
    let c = start(&d, &sb, &shell(f, &pod, "idle", IDLE)).await;
    d.remove_container(&c.id)
        .await
        .expect("remove a running container");
    d.remove_container(&c.id).await.expect("remove again");
    assert!(matches!(
        d.inspect(&c.id).await,
        Err(RuntimeError::NotFound { .. })
    ));
    assert!(!d.list().await.expect("list").iter().any(|x| x.id == c.id));
    d.remove_sandbox(&pod.pod_uid)
        .await
        .expect("remove_sandbox");
    d.remove_sandbox(&pod.pod_uid)
        .await
        .expect("remove_sandbox again");
}

pub async fn sandboxes_are_created_once_and_listed<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("sandbox");
    let first = sandbox(&d, &pod).await;
    let again = sandbox(&d, &pod).await;
    assert_eq!(first, again, "create_sandbox finds the existing sandbox");
    assert!(first.running);
    let listed = d.list_sandboxes().await.expect("list_sandboxes");
    assert!(
        listed.iter().any(|s| s.pod_uid == pod.pod_uid),
        "{listed:?}"
    );
    d.remove_sandbox(&pod.pod_uid)
        .await
        .expect("remove_sandbox");
    let listed = d.list_sandboxes().await.expect("list_sandboxes");
    assert!(!listed.iter().any(|s| s.pod_uid == pod.pod_uid));
}

pub async fn a_restarted_driver_readopts_running_containers<F: DriverFactory>(f: &F) {
    let before = f.make().await;
    let pod = pod("readopt");
    let sb = sandbox(&before, &pod).await;
    let mut spec = shell(f, &pod, "survivor", &format!("echo up; {IDLE}"));
    spec.attempt = 2;
    let c = start(&before, &sb, &spec).await;
    wait_for_log(&before, &c.id, "up").await;
    let ContainerState::Running { started_at } = c.state else {
        panic!("not running: {:?}", c.state)
    };

    let after = f.make().await; // the agent restarted
    let found = after.list().await.expect("list");
    let found = found.iter().find(|x| x.id == c.id).expect("re-adopted");
    assert_eq!(
        (found.pod_uid.as_str(), found.name.as_str(), found.attempt),
        (pod.pod_uid.as_str(), "survivor", 2)
    );
    assert_eq!(
        found.state,
        ContainerState::Running { started_at },
        "not restarted"
    );
    assert!(
        after
            .list_sandboxes()
            .await
            .expect("sandboxes")
            .iter()
            .any(|s| s.pod_uid == pod.pod_uid)
    );
    assert!(
        logs(&after, &c.id, LogOptions::default())
            .await
            .contains("up")
    );
    after
        .stop_container(&c.id, Duration::from_secs(5))
        .await
        .expect("stop");
    assert!(matches!(
        after.inspect(&c.id).await.expect("inspect").state,
        ContainerState::Exited { .. }
    ));
    cleanup(&after, &pod, &[&c.id]).await;
}

pub async fn logs_tail_timestamps_and_follow<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("logs");
    let sb = sandbox(&d, &pod).await;
    let script = "for i in 1 2 3; do echo line$i; done; sleep 1; echo line4";
    let c = start(&d, &sb, &shell(f, &pod, "talker", script)).await;
    // Follow from the start: sees every line, and ends when the container exits.
    let follow = LogOptions {
        follow: true,
        ..Default::default()
    };
    let all = logs(&d, &c.id, follow).await;
    assert_eq!(all, "line1\nline2\nline3\nline4\n");
    exited(&d, &c.id).await;
    let tail = LogOptions {
        tail: Some(2),
        ..Default::default()
    };
    assert_eq!(logs(&d, &c.id, tail).await, "line3\nline4\n");
    let stamped = LogOptions {
        timestamps: true,
        ..Default::default()
    };
    let stamped = logs(&d, &c.id, stamped).await;
    for line in stamped.lines() {
        let (at, text) = line.split_once(' ').expect("timestamp prefix");
        assert!(at.starts_with("20") && at.ends_with('Z'), "{line}");
        assert!(text.starts_with("line"), "{line}");
    }
    // `since` after the last line: nothing.
    let later = LogOptions {
        since: Some(SystemTime::now()),
        ..Default::default()
    };
    assert_eq!(logs(&d, &c.id, later).await, "");
    cleanup(&d, &pod, &[&c.id]).await;
}

pub async fn exec_reports_exit_codes_output_and_timeouts<F: DriverFactory>(f: &F) {
    let d = f.make().await;
    let pod = pod("exec");
    let sb = sandbox(&d, &pod).await;
    let mut spec = shell(f, &pod, "target", &format!("echo ready; {IDLE}"));
    spec.env = vec![("SECRET_WORD".into(), "swordfish".into())];
    let c = start(&d, &sb, &spec).await;
    wait_for_log(&d, &c.id, "ready").await;
    let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let r = d
        .exec(&c.id, &sh("echo out; echo err >&2; exit 7"), WAIT)
        .await
        .expect("exec");
    assert_eq!(r.exit_code, 7);
    assert!(
        r.output.contains("out") && r.output.contains("err"),
        "{r:?}"
    );
    let r = d
        .exec(&c.id, &sh("echo $SECRET_WORD"), WAIT)
        .await
        .expect("exec");
    assert_eq!(
        (r.exit_code, r.output.trim()),
        (0, "swordfish"),
        "exec sees the container's env"
    );
    let slow = d
        .exec(&c.id, &sh("sleep 10"), Duration::from_millis(500))
        .await;
    assert!(slow.is_err(), "a timed-out exec is an error: {slow:?}");
    cleanup(&d, &pod, &[&c.id]).await;
}

#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            runs_to_completion_with_env_workdir_and_logs,
            non_zero_exit_is_an_error_and_attempts_are_kept,
            stop_sends_sigterm_then_sigkill_after_grace,
            remove_is_idempotent,
            sandboxes_are_created_once_and_listed,
            a_restarted_driver_readopts_running_containers,
            logs_tail_timestamps_and_follow,
            exec_reports_exit_codes_output_and_timeouts,
        );
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let factory = $factory;
                conformance::$name(&factory).await;
            }
        )*
    };
}
