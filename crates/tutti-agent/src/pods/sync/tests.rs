//! The pod state machine's decisions.

use super::*;
use Observed::*;
use RestartPolicy::*;

fn c(name: &str, observed: Observed) -> View {
    View {
        name: name.to_string(),
        sidecar: false,
        observed,
        unhealthy: false,
    }
}

fn sidecar(name: &str, observed: Observed) -> View {
    View {
        sidecar: true,
        ..c(name, observed)
    }
}

fn start(name: &str) -> Step {
    Step::Start(name.to_string())
}

const UP: Observed = Running { started: true };

#[test]
fn init_containers_run_one_at_a_time() {
    let app = [c("app", NotStarted)];
    let init = |a, b| [c("a", a), c("b", b)];
    assert_eq!(
        decide(Always, &init(NotStarted, NotStarted), &app, false),
        [start("a")]
    );
    assert_eq!(decide(Always, &init(UP, NotStarted), &app, false), []);
    assert_eq!(
        decide(
            Always,
            &init(Exited { exit_code: 0 }, NotStarted),
            &app,
            false
        ),
        [start("b")]
    );
    assert_eq!(
        decide(
            Always,
            &init(Exited { exit_code: 0 }, Exited { exit_code: 0 }),
            &app,
            false
        ),
        [start("app")]
    );
}

#[test]
fn failed_init_container_restarts_unless_never() {
    let init = [c("a", Exited { exit_code: 1 })];
    let app = [c("app", NotStarted)];
    assert_eq!(decide(Always, &init, &app, false), [start("a")]);
    assert_eq!(decide(OnFailure, &init, &app, false), [start("a")]);
    assert_eq!(decide(Never, &init, &app, false), []);
}

#[test]
fn initialized_pods_skip_init_containers() {
    let init = [c("a", NotStarted)];
    let app = [c("app", UP)];
    assert_eq!(decide(Always, &init, &app, true), []);
}

#[test]
fn restart_policies() {
    let app = |code| [c("ok", UP), c("done", Exited { exit_code: code })];
    assert_eq!(decide(Always, &[], &app(0), false), [start("done")]);
    assert_eq!(decide(OnFailure, &[], &app(0), false), []);
    assert_eq!(decide(OnFailure, &[], &app(2), false), [start("done")]);
    assert_eq!(decide(Never, &[], &app(2), false), []);
}

#[test]
fn all_app_containers_start_together() {
    let app = [c("a", NotStarted), c("b", NotStarted), c("c", Created)];
    assert_eq!(decide(Always, &[], &app, false), [start("a"), start("b")]);
}

#[test]
fn unhealthy_containers_are_killed() {
    let mut sick = c("app", UP);
    sick.unhealthy = true;
    assert_eq!(
        decide(Never, &[], &[sick], false),
        [Step::Kill("app".into(), KillReason::Unhealthy)]
    );
}

#[test]
fn sidecars_start_before_later_init_containers_and_stop_after_the_app() {
    let app = [c("app", NotStarted)];
    let init = |s, i| [sidecar("proxy", s), c("migrate", i)];
    assert_eq!(
        decide(Never, &init(NotStarted, NotStarted), &app, false),
        [start("proxy")]
    );
    assert_eq!(
        decide(
            Never,
            &init(Running { started: false }, NotStarted),
            &app,
            false
        ),
        [],
        "waits for the sidecar's startup probe"
    );
    assert_eq!(
        decide(Never, &init(UP, NotStarted), &app, false),
        [start("migrate")]
    );
    assert_eq!(
        decide(Never, &init(UP, Exited { exit_code: 0 }), &app, false),
        [start("app")]
    );
    let done = [c("app", Exited { exit_code: 0 })];
    assert_eq!(
        decide(Never, &init(UP, Exited { exit_code: 0 }), &done, false),
        [Step::Kill("proxy".into(), KillReason::SidecarDone)]
    );
    assert_eq!(
        decide(
            Never,
            &init(Exited { exit_code: 137 }, Exited { exit_code: 0 }),
            &done,
            true
        ),
        [],
        "a stopped sidecar of a finished pod stays stopped"
    );
    let running = [c("app", UP)];
    assert_eq!(
        decide(
            Never,
            &init(Exited { exit_code: 1 }, Exited { exit_code: 0 }),
            &running,
            true
        ),
        [start("proxy")],
        "sidecars always restart while the app runs"
    );
}
