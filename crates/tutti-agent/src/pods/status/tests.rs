//! Container statuses and pod conditions.

use std::time::Duration;

use super::*;
use serde_json::json;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn exited(id: &str, code: i32, start: u64, end: u64) -> Attempt {
    Attempt {
        id: format!("fake://{id}"),
        state: RtState::Exited {
            exit_code: code,
            reason: None,
            started_at: Some(at(start)),
            finished_at: at(end),
        },
        image_id: "sha256:img".into(),
    }
}

fn running(id: &str, start: u64) -> Attempt {
    Attempt {
        id: format!("fake://{id}"),
        state: RtState::Running {
            started_at: at(start),
        },
        image_id: "sha256:img".into(),
    }
}

fn facts(current: Option<Attempt>, previous: Option<Attempt>) -> ContainerFacts {
    ContainerFacts {
        name: "app".into(),
        image: "nginx".into(),
        current,
        previous,
        waiting: None,
        default_waiting: "ContainerCreating",
        restart_count: 0,
        ready: true,
        started: true,
    }
}

#[test]
fn running_after_a_crash_shows_the_last_termination() {
    let mut f = facts(Some(running("b", 20)), Some(exited("a", 1, 0, 10)));
    f.restart_count = 1;
    let s = container_status(&f);
    let state = s.state.unwrap();
    assert_eq!(
        state.running.unwrap().started_at,
        Some(kubetime::time(at(20)))
    );
    let last = s.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(last.container_id.as_deref(), Some("fake://a"));
    assert_eq!(s.container_id.as_deref(), Some("fake://b"));
    assert_eq!((s.ready, s.started, s.restart_count), (true, Some(true), 1));
}

#[test]
fn crash_loop_back_off_waits_with_the_exit_as_last_state() {
    let mut f = facts(Some(exited("b", 2, 20, 21)), Some(exited("a", 1, 0, 10)));
    f.waiting = Some(("CrashLoopBackOff".into(), "back-off 10s restarting".into()));
    let s = container_status(&f);
    let w = s.state.unwrap().waiting.unwrap();
    assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 2);
    assert!(!s.ready, "not running: not ready");
    assert_eq!(s.started, Some(false));
}

#[test]
fn exited_for_good_is_terminated() {
    let s = container_status(&facts(Some(exited("a", 0, 0, 5)), None));
    let t = s.state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(s.last_state, Some(ContainerState::default()));
}

#[test]
fn not_started_yet_waits_with_the_default_reason() {
    let mut f = facts(None, None);
    f.default_waiting = "PodInitializing";
    let s = container_status(&f);
    assert_eq!(
        s.state.unwrap().waiting.unwrap().reason.as_deref(),
        Some("PodInitializing")
    );
    assert_eq!(s.container_id, None);
}

fn pod(status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}, {"name": "side", "image": "x"}]},
        "status": status,
    }))
    .unwrap()
}

fn input<'a>(pod: &'a Pod, app: Vec<ContainerStatus>) -> StatusInput<'a> {
    StatusInput {
        pod,
        init: vec![],
        app,
        initialized: false,
        sandbox_ready: true,
        pod_ip: Some("10.0.0.7".into()),
        host_ip: "192.168.0.2".into(),
        start_time: kubetime::time(at(0)),
        unsupported: None,
        terminal: false,
        now: at(100),
    }
}

fn condition<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
    s.conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == t)
        .unwrap()
}

#[test]
fn ready_only_when_every_container_is() {
    let p = pod(json!({"phase": "Pending"}));
    let mut unready = facts(Some(running("s", 1)), None);
    unready.name = "side".into();
    unready.ready = false;
    let app = vec![
        container_status(&facts(Some(running("a", 1)), None)),
        container_status(&unready),
    ];
    let s = pod_status(&input(&p, app));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let ready = condition(&s, "Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [side]")
    );
    assert_eq!(condition(&s, "Initialized").status, "True");
    assert_eq!(condition(&s, "PodScheduled").status, "True");
    assert_eq!(s.pod_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(s.host_ip.as_deref(), Some("192.168.0.2"));
}

#[test]
fn transition_times_stay_while_a_condition_holds() {
    let earlier = kubetime::time(at(50));
    let p = pod(json!({"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": earlier},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": earlier},
        {"type": "ContainersReady", "status": "False", "lastTransitionTime": earlier},
        {"type": "example.com/Gate", "status": "True"},
        {"type": "tutti.dev/Unsupported", "status": "True"},
    ]}));
    let mut side = facts(Some(running("s", 1)), None);
    side.name = "side".into();
    let app = vec![
        container_status(&facts(Some(running("a", 1)), None)),
        container_status(&side),
    ];
    let s = pod_status(&input(&p, app));
    assert_eq!(
        condition(&s, "Ready").last_transition_time,
        Some(earlier.clone())
    );
    assert_eq!(
        condition(&s, "PodScheduled").last_transition_time,
        Some(earlier)
    );
    assert_eq!(
        condition(&s, "ContainersReady").last_transition_time,
        Some(kubetime::time(at(100)))
    );
    assert_eq!(condition(&s, "example.com/Gate").status, "True", "kept");
    assert!(
        !s.conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == UNSUPPORTED_CONDITION),
        "dropped once nothing is ignored"
    );
}

#[test]
fn succeeded_pods_are_not_ready_and_stay_succeeded() {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "job", "uid": "u"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "x"}]},
    }))
    .unwrap();
    let app = vec![container_status(&facts(Some(exited("a", 0, 0, 5)), None))];
    let s = pod_status(&input(&p, app));
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    assert_eq!(
        condition(&s, "Ready").reason.as_deref(),
        Some("PodCompleted")
    );
    let mut done = p.clone();
    done.status = Some(s);
    let s = pod_status(&input(&done, vec![container_status(&facts(None, None))]));
    assert_eq!(
        s.phase.as_deref(),
        Some("Succeeded"),
        "terminal phases are final"
    );
}

#[test]
fn unsupported_fields_condition() {
    let p = pod(json!({}));
    let mut i = input(&p, vec![]);
    i.unsupported = Some("ignored by the process driver: x".into());
    let s = pod_status(&i);
    let c = condition(&s, UNSUPPORTED_CONDITION);
    assert_eq!(c.status, "True");
    assert_eq!(
        c.message.as_deref(),
        Some("ignored by the process driver: x")
    );
}
