//! The loop's bookkeeping driven event by event against the real API (in memory): when it may
//! decide, and what a finished write does to the queue and the snapshot.

use std::time::Instant;

use super::*;
use crate::error::SchedulerError;
use crate::fixtures::{NodeBuilder, PodBuilder};

/// The loop's state with a real API behind it (kept alive by the returned server handle).
async fn state() -> (impl Sized, Loop) {
    let (api, client) = tutti_apiserver::client::test_server().await.unwrap();
    let (state, _done) = Loop::new(client, Profile::spread(), 1);
    (api, state)
}

fn node(event: Event<Node>) -> Input {
    Input::Node(Box::new(Ok(event)))
}

fn pod(event: Event<Pod>) -> Input {
    Input::Pod(Box::new(Ok(event)))
}

fn synced_with(state: &mut Loop, nodes: Vec<Node>, pods: Vec<Pod>) {
    state.apply(node(Event::Init));
    for n in nodes {
        state.apply(node(Event::InitApply(n)));
    }
    state.apply(node(Event::InitDone));
    state.apply(pod(Event::Init));
    for p in pods {
        state.apply(pod(Event::InitApply(p)));
    }
    state.apply(pod(Event::InitDone));
}

#[tokio::test]
async fn nothing_is_decided_before_both_watches_have_listed_everything() {
    let (_api, mut s) = state().await;
    s.apply(node(Event::Init));
    s.apply(node(Event::InitApply(
        NodeBuilder::new("only").cpu("1").build(),
    )));
    s.apply(node(Event::InitDone));
    s.apply(pod(Event::Init));
    s.apply(pod(Event::InitApply(
        PodBuilder::new("pending").cpu("1").build(),
    )));
    s.schedule_batch();
    assert_eq!(
        s.snapshot.placed_node("default/pending"),
        None,
        "decided with pods still being listed"
    );
    s.apply(pod(Event::InitApply(
        PodBuilder::new("running")
            .cpu("1")
            .node_name("only")
            .build(),
    )));
    s.apply(pod(Event::InitDone));
    s.schedule_batch();
    assert_eq!(
        s.snapshot.placed_node("default/pending"),
        None,
        "over-committed the node"
    );
    assert!(!s.queue.has_active(), "the pod waits as unschedulable");
}

#[tokio::test]
async fn a_stale_pending_event_does_not_undo_a_decision() {
    let (_api, mut s) = state().await;
    let pending = PodBuilder::new("web").cpu("1").build();
    synced_with(
        &mut s,
        vec![NodeBuilder::new("n1").cpu("4").build()],
        vec![pending.clone()],
    );
    s.schedule_batch();
    assert_eq!(s.snapshot.placed_node("default/web"), Some("n1"));
    s.apply(pod(Event::Apply(pending)));
    assert_eq!(s.snapshot.placed_node("default/web"), Some("n1"));
    assert!(
        !s.queue.has_active(),
        "a pod being bound is not decided again"
    );
}

#[tokio::test]
async fn already_bound_is_not_an_error_and_a_failed_bind_is_retried() {
    let (_api, mut s) = state().await;
    let pods = vec![
        PodBuilder::new("a").cpu("1").build(),
        PodBuilder::new("b").cpu("1").build(),
    ];
    synced_with(&mut s, vec![NodeBuilder::new("n1").cpu("4").build()], pods);
    s.schedule_batch();
    s.written(Written {
        key: "default/a".into(),
        outcome: BindOutcome::AlreadyBound,
    });
    assert_eq!(
        s.snapshot.placed_node("default/a"),
        None,
        "the watch will say where it went"
    );
    let error = SchedulerError::InvalidPod {
        pod: "default/b".into(),
        field: "f".into(),
        reason: "r".into(),
    };
    s.written(Written {
        key: "default/b".into(),
        outcome: BindOutcome::Failed(error),
    });
    assert_eq!(s.snapshot.placed_node("default/b"), None);
    s.queue.tick(Instant::now() + BIND_RETRY);
    assert_eq!(
        s.queue.pop().map(|(k, _)| k.to_string()),
        Some("default/b".to_string())
    );
    assert!(
        s.queue.pop().is_none(),
        "the already-bound pod is not retried"
    );
}

#[tokio::test]
async fn a_deleted_pod_frees_room_for_a_waiting_one() {
    let (_api, mut s) = state().await;
    let running = PodBuilder::new("running")
        .cpu("1")
        .node_name("only")
        .build();
    let waiting = PodBuilder::new("waiting").cpu("1").build();
    synced_with(
        &mut s,
        vec![NodeBuilder::new("only").cpu("1").build()],
        vec![running.clone(), waiting],
    );
    s.schedule_batch();
    assert!(!s.queue.has_active());
    s.apply(pod(Event::Delete(running)));
    assert!(
        s.queue.has_active(),
        "deleting a pod retries the waiting one"
    );
    s.schedule_batch();
    assert_eq!(s.snapshot.placed_node("default/waiting"), Some("only"));
}
