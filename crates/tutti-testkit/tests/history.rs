//! The recorder: pairing of invocations and completions, indeterminate ends, JSON round trip,
//! and rejection of malformed histories.

use tutti_testkit::history::{Event, EventKind, History, Op, Outcome, Recorder};
use tutti_testkit::{CheckOptions, Linearizability, TestkitError, check_history};

#[test]
fn recorder_pairs_invocations_with_their_ends() {
    let recorder = Recorder::new();
    let write = recorder.invoke(1, Op::write("k", "a"));
    let read = recorder.invoke(2, Op::read("k"));
    write.complete(Outcome::WriteOk);
    read.complete(Outcome::ReadOk {
        value: Some("a".into()),
    });
    let timed_out = recorder.invoke(3, Op::write("k", "b"));
    timed_out.indeterminate();
    drop(recorder.invoke(4, Op::cas("k", Some("a"), "c")));

    let ops = recorder.history().operations().expect("well-formed");
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0].outcome, Some(Outcome::WriteOk));
    assert!(
        ops[0]
            .completed_at
            .is_some_and(|end| end >= ops[0].invoked_at)
    );
    assert!(ops[1].invoked_at <= ops[0].completed_at.unwrap_or(0));
    assert_eq!(ops[2].outcome, None, "indeterminate");
    assert_eq!(ops[3].completed_at, None, "dropped = indeterminate");
    let events = recorder.history().events;
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "monotonic");
    assert!(matches!(
        &events.last().map(|e| &e.kind),
        Some(EventKind::Indeterminate { reason }) if reason.contains("dropped")
    ));
}

#[test]
fn recorder_is_shared_across_threads() {
    let recorder = Recorder::new();
    std::thread::scope(|scope| {
        for client in 0..4 {
            let recorder = recorder.clone();
            scope.spawn(move || {
                for i in 0..100 {
                    let op = recorder.invoke(client, Op::write("k", format!("{client}-{i}")));
                    op.complete(Outcome::WriteOk);
                }
            });
        }
    });
    let ops = recorder.history().operations().expect("well-formed");
    assert_eq!(ops.len(), 400);
    let report = check_history(&recorder.history(), &CheckOptions::default()).expect("check");
    assert_eq!(report.result, Linearizability::Linearizable);
}

#[test]
fn history_survives_a_json_round_trip() {
    let recorder = Recorder::new();
    recorder
        .invoke(1, Op::cas("k", None, "a"))
        .complete(Outcome::CasFailed {
            current: Some("z".into()),
        });
    recorder
        .invoke(2, Op::read("k"))
        .indeterminate_because("timed out");
    let history = recorder.history();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.json");
    history.save(&path).expect("save");
    let loaded = History::load(&path).expect("load");
    assert_eq!(loaded, history);
    let json = history.to_json().expect("json");
    assert!(json.contains("\"event\": \"invoke\""), "{json}");
    assert!(json.contains("timed out"), "{json}");
}

#[test]
fn malformed_histories_are_rejected() {
    let event = |id, kind| Event {
        id,
        client: 1,
        at: 10,
        kind,
    };
    let invoke = |id| event(id, EventKind::Invoke { op: Op::read("k") });
    let ok = |id| {
        event(
            id,
            EventKind::Complete {
                outcome: Outcome::ReadOk { value: None },
            },
        )
    };
    let cases = [
        (vec![ok(1)], "no matching invocation"),
        (vec![invoke(1), invoke(1)], "invoked twice"),
        (vec![invoke(1), ok(1), ok(1)], "completed twice"),
        (
            vec![
                invoke(1),
                event(
                    1,
                    EventKind::Complete {
                        outcome: Outcome::CasOk,
                    },
                ),
            ],
            "does not fit",
        ),
    ];
    for (events, expected) in cases {
        let err = History { events }.operations().expect_err(expected);
        assert!(err.to_string().contains(expected), "{err}");
    }
    let mut early = ok(1);
    early.at = 5;
    let err = History {
        events: vec![invoke(1), early],
    }
    .operations()
    .expect_err("completes early");
    assert!(matches!(
        err,
        TestkitError::CompletedBeforeInvoked { id: 1 }
    ));
}
