//! Hand-made histories with known verdicts, and large simulated ones.

use std::time::Instant;

use super::*;
use crate::history::{Op, Outcome};
use crate::simulation::{Simulation, inject_stale_read, simulate};

fn op(client: u32, op: Op, call: u64, ret: Option<u64>, outcome: Option<Outcome>) -> Operation {
    Operation {
        id: 0,
        client,
        op,
        invoked_at: call,
        completed_at: ret,
        outcome,
    }
}

fn write(client: u32, value: &str, call: u64, ret: u64) -> Operation {
    op(
        client,
        Op::write("k", value),
        call,
        Some(ret),
        Some(Outcome::WriteOk),
    )
}

fn write_maybe(client: u32, value: &str, call: u64) -> Operation {
    op(client, Op::write("k", value), call, None, None)
}

fn read(client: u32, value: Option<&str>, call: u64, ret: u64) -> Operation {
    let value = value.map(str::to_string);
    op(
        client,
        Op::read("k"),
        call,
        Some(ret),
        Some(Outcome::ReadOk { value }),
    )
}

fn cas(
    client: u32,
    expected: Option<&str>,
    new: &str,
    call: u64,
    ret: u64,
    ok: Option<&str>,
) -> Operation {
    // `ok`: None = succeeded; Some(current) = failed, seeing `current` ("-" for absent).
    let outcome = match ok {
        None => Outcome::CasOk,
        Some("-") => Outcome::CasFailed { current: None },
        Some(current) => Outcome::CasFailed {
            current: Some(current.to_string()),
        },
    };
    op(
        client,
        Op::cas("k", expected, new),
        call,
        Some(ret),
        Some(outcome),
    )
}

fn verdict(mut ops: Vec<Operation>) -> Linearizability {
    for (id, op) in ops.iter_mut().enumerate() {
        op.id = id as u64;
    }
    check(&ops, &CheckOptions::default()).result
}

/// The ids of the operations a counterexample names as stuck or as needing the stuck state.
fn involved(result: &Linearizability) -> Vec<u64> {
    let Linearizability::NotLinearizable { explanation, .. } = result else {
        panic!("expected a violation, got {result}");
    };
    let mut ids: Vec<u64> = explanation
        .stuck
        .iter()
        .chain(&explanation.still_needed_by)
        .map(|op| op.id)
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn sequential_history_is_linearizable() {
    let result = verdict(vec![
        read(1, None, 0, 5),
        write(1, "a", 10, 20),
        read(2, Some("a"), 30, 40),
        write(2, "b", 50, 60),
        read(1, Some("b"), 70, 80),
    ]);
    assert_eq!(result, Linearizability::Linearizable);
}

#[test]
fn read_overlapping_a_write_may_see_either_value() {
    for seen in ["a", "b"] {
        let result = verdict(vec![
            write(1, "a", 0, 10),
            write(1, "b", 20, 100),
            read(2, Some(seen), 30, 40),
            read(3, Some("b"), 50, 60),
        ]);
        assert_eq!(result, Linearizability::Linearizable, "read saw {seen}");
    }
}

#[test]
fn stale_read_after_completed_write_is_caught() {
    let result = verdict(vec![
        write(1, "a", 0, 10),
        write(1, "b", 20, 30),
        read(2, Some("a"), 40, 50),
    ]);
    // Write "b" cannot go while the later read still needs "a".
    assert_eq!(involved(&result), vec![1, 2], "{result}");
    let Linearizability::NotLinearizable { key, explanation } = &result else {
        unreachable!()
    };
    assert_eq!(key, "k");
    assert_eq!(explanation.state.as_deref(), Some("a"), "{result}");
    assert_eq!(explanation.written_by.as_ref().map(|o| o.id), Some(0));
}

#[test]
fn lost_acknowledged_write_is_caught() {
    let result = verdict(vec![write(1, "a", 0, 10), read(2, None, 20, 30)]);
    assert_eq!(involved(&result), vec![0, 1], "{result}");
}

#[test]
fn indeterminate_write_may_become_visible_later() {
    let result = verdict(vec![
        write(1, "a", 0, 10),
        write_maybe(1, "b", 20),
        read(2, Some("a"), 30, 40),
        read(2, Some("b"), 100, 110),
        read(3, Some("b"), 120, 130),
    ]);
    assert_eq!(result, Linearizability::Linearizable);
}

#[test]
fn indeterminate_write_may_never_take_effect() {
    let result = verdict(vec![
        write(1, "a", 0, 10),
        write_maybe(1, "b", 20),
        read(2, Some("a"), 1_000, 1_010),
    ]);
    assert_eq!(result, Linearizability::Linearizable);
}

#[test]
fn indeterminate_write_cannot_be_undone_once_seen() {
    let result = verdict(vec![
        write(1, "a", 0, 10),
        write_maybe(1, "b", 20),
        read(2, Some("b"), 100, 110),
        read(3, Some("a"), 120, 130),
    ]);
    assert_eq!(involved(&result), vec![1, 3], "{result}");
}

#[test]
fn value_seen_before_its_write_began_is_caught() {
    let result = verdict(vec![read(2, Some("a"), 0, 10), write_maybe(1, "a", 20)]);
    assert!(!result.is_linearizable(), "{result}");
}

#[test]
fn reads_seeing_writes_in_opposite_orders_are_caught() {
    let result = verdict(vec![
        write(1, "a", 0, 100),
        write(2, "b", 0, 100),
        read(3, Some("a"), 10, 20),
        read(4, Some("b"), 10, 20),
        read(3, Some("b"), 30, 40),
        read(4, Some("a"), 30, 40),
    ]);
    assert!(!result.is_linearizable(), "{result}");
    // The same reads in a consistent order are fine.
    let result = verdict(vec![
        write(1, "a", 0, 100),
        write(2, "b", 0, 100),
        read(3, Some("a"), 10, 20),
        read(4, Some("a"), 10, 20),
        read(3, Some("b"), 30, 40),
        read(4, Some("b"), 30, 40),
    ]);
    assert_eq!(result, Linearizability::Linearizable);
}

#[test]
fn compare_and_set_follows_the_register() {
    let result = verdict(vec![
        cas(1, None, "a", 0, 10, None),
        cas(2, None, "x", 20, 30, Some("a")),
        cas(2, Some("a"), "b", 40, 50, None),
        read(1, Some("b"), 60, 70),
    ]);
    assert_eq!(result, Linearizability::Linearizable);

    // Two compare-and-sets from the same value cannot both succeed.
    let result = verdict(vec![
        write(1, "a", 0, 10),
        cas(2, Some("a"), "b", 20, 30, None),
        cas(3, Some("a"), "c", 20, 30, None),
    ]);
    assert!(!result.is_linearizable(), "{result}");

    // A failed compare-and-set must report the value that was there.
    let result = verdict(vec![
        write(1, "a", 0, 10),
        cas(2, Some("x"), "b", 20, 30, Some("-")),
    ]);
    assert_eq!(involved(&result), vec![0, 1], "{result}");
}

#[test]
fn keys_are_checked_independently() {
    let mut other = read(2, Some("a"), 5, 6);
    other.op = Op::read("other");
    other.outcome = Some(Outcome::ReadOk { value: None });
    let result = verdict(vec![
        write(1, "a", 0, 10),
        other,
        read(3, Some("a"), 20, 30),
    ]);
    assert_eq!(result, Linearizability::Linearizable);
}

#[test]
fn running_out_of_budget_is_unknown_not_a_verdict() {
    let ops = simulate(&Simulation {
        operations: 200,
        ..Simulation::default()
    });
    let options = CheckOptions {
        max_steps: 10,
        time_limit: None,
    };
    let report = check(&ops, &options);
    assert!(
        matches!(report.result, Linearizability::Unknown { .. }),
        "{}",
        report.result
    );
}

fn check_simulated(sim: Simulation) -> CheckReport {
    let ops = simulate(&sim);
    let started = Instant::now();
    let report = check(&ops, &CheckOptions::default());
    let elapsed = started.elapsed();
    eprintln!(
        "{} ops on {} keys, {} clients: {} in {elapsed:?} ({:.0} ops/s), {} steps",
        report.operations,
        report.keys,
        sim.clients,
        report.result,
        report.operations as f64 / elapsed.as_secs_f64(),
        report.steps
    );
    report
}

#[test]
fn ten_thousand_simulated_operations_on_one_key_are_linearizable() {
    let report = check_simulated(Simulation {
        seed: 7,
        clients: 16,
        keys: 1,
        operations: 10_000,
        ..Simulation::default()
    });
    assert_eq!(report.result, Linearizability::Linearizable);
    // A near-linear search: each operation is visited a bounded number of times.
    assert!(report.steps < 100 * 10_000, "{} steps", report.steps);
}

#[test]
fn ten_thousand_simulated_operations_on_many_keys_are_linearizable() {
    let report = check_simulated(Simulation {
        seed: 11,
        clients: 32,
        keys: 8,
        operations: 10_000,
        timeout_ratio: 0.05,
        ..Simulation::default()
    });
    assert_eq!(report.result, Linearizability::Linearizable);
}

#[test]
fn a_stale_read_injected_into_a_large_history_is_caught() {
    let mut ops = simulate(&Simulation {
        seed: 3,
        clients: 16,
        keys: 4,
        operations: 10_000,
        ..Simulation::default()
    });
    inject_stale_read(&mut ops, 3);
    let report = check(&ops, &CheckOptions::default());
    assert!(
        matches!(report.result, Linearizability::NotLinearizable { .. }),
        "{}",
        report.result
    );
}
