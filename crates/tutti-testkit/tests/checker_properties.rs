//! Property tests of the checker: histories of a correct (atomic) register are always
//! accepted, the same histories with one stale read injected are always rejected, and on small
//! arbitrary histories (linearizable or not) the checker agrees with brute force.

use proptest::prelude::*;
use tutti_testkit::simulation::{Simulation, inject_stale_read, simulate};
use tutti_testkit::{CheckOptions, Linearizability, Op, Operation, Outcome, check};

fn simulation(value_pool: impl Strategy<Value = Option<u32>>) -> impl Strategy<Value = Simulation> {
    (
        (any::<u64>(), 1u32..12, 1u32..4, 1usize..400),
        (0.0f64..0.6, 0.0f64..0.3, 1u64..200, value_pool),
    )
        .prop_map(
            |((seed, clients, keys, operations), (writes, timeouts, latency, value_pool))| {
                Simulation {
                    seed,
                    clients,
                    keys,
                    operations,
                    write_ratio: writes / 2.0,
                    timeout_ratio: timeouts,
                    max_latency: latency,
                    value_pool,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn histories_of_an_atomic_register_are_accepted(
        sim in simulation(prop::option::of(1u32..6)),
    ) {
        let ops = simulate(&sim);
        let report = check(&ops, &CheckOptions::default());
        prop_assert_eq!(report.result, Linearizability::Linearizable);
    }

    #[test]
    fn an_injected_stale_read_is_rejected(
        sim in simulation(Just(None)),
        injection_seed in any::<u64>(),
    ) {
        let mut ops = simulate(&sim);
        inject_stale_read(&mut ops, injection_seed);
        let report = check(&ops, &CheckOptions::default());
        prop_assert!(
            matches!(report.result, Linearizability::NotLinearizable { .. }),
            "{}",
            report.result
        );
    }
}

/// One arbitrary operation on key "k" over values "a", "b", "c".
fn arbitrary_op() -> impl Strategy<Value = Operation> {
    let value = prop::option::of(prop::sample::select(vec!["a", "b", "c"]));
    let named = prop::sample::select(vec!["a", "b", "c"]);
    (
        0u8..6,
        value.clone(),
        named,
        value,
        0u64..20,
        0u64..10,
        0u8..4,
    )
        .prop_map(|(kind, v1, name, v2, call, length, end)| {
            let some = |v: Option<&str>| v.map(str::to_string);
            let (op, outcome) = match kind {
                0 | 1 => (Op::read("k"), Outcome::ReadOk { value: some(v1) }),
                2 | 3 => (Op::write("k", name), Outcome::WriteOk),
                4 => (Op::cas("k", v1, name), Outcome::CasOk),
                _ => (
                    Op::cas("k", v1, name),
                    Outcome::CasFailed { current: some(v2) },
                ),
            };
            // One in four operations is indeterminate.
            let determinate = end != 0;
            Operation {
                id: 0,
                client: 0,
                op,
                invoked_at: call,
                completed_at: determinate.then_some(call + length),
                outcome: determinate.then_some(outcome),
            }
        })
}

fn apply(op: &Operation, state: &Option<String>) -> Option<Option<String>> {
    match (&op.op, &op.outcome) {
        (Op::Read { .. }, Some(Outcome::ReadOk { value })) => {
            (value == state).then(|| state.clone())
        }
        (Op::Write { value, .. }, _) => Some(Some(value.clone())),
        (Op::Cas { expected, new, .. }, Some(Outcome::CasOk) | None) => {
            (expected == state).then(|| Some(new.clone()))
        }
        (Op::Cas { expected, .. }, Some(Outcome::CasFailed { current })) => {
            (current == state && expected != state).then(|| state.clone())
        }
        _ => None,
    }
}

/// Every order of every choice of indeterminate operations, respecting real time.
fn brute_force(ops: &[Operation]) -> bool {
    fn extend(ops: &[Operation], used: &mut Vec<bool>, state: &Option<String>) -> bool {
        if ops
            .iter()
            .zip(used.iter())
            .all(|(op, &u)| u || op.completed_at.is_none())
        {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            // `i` may go next only if nothing unused returned before it was invoked.
            let blocked = ops.iter().zip(used.iter()).any(|(other, &u)| {
                !u && other
                    .completed_at
                    .is_some_and(|end| end < ops[i].invoked_at)
            });
            if blocked {
                continue;
            }
            if let Some(next) = apply(&ops[i], state) {
                used[i] = true;
                let found = extend(ops, used, &next);
                used[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    // Indeterminate reads constrain nothing.
    let ops: Vec<Operation> = ops
        .iter()
        .filter(|op| op.completed_at.is_some() || !matches!(op.op, Op::Read { .. }))
        .cloned()
        .collect();
    extend(&ops, &mut vec![false; ops.len()], &None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn small_histories_agree_with_brute_force(mut ops in prop::collection::vec(arbitrary_op(), 0..7)) {
        for (id, op) in ops.iter_mut().enumerate() {
            op.id = id as u64;
            op.client = id as u32;
        }
        let expected = brute_force(&ops);
        let report = check(&ops, &CheckOptions::default());
        prop_assert_eq!(report.result.is_linearizable(), expected, "{}", report.result);
    }
}

/// A small simulated history over few values, with at most one outcome tampered with: close
/// to linearizable, so both verdicts are common and the search's prunings are exercised.
fn near_linearizable() -> impl Strategy<Value = Vec<Operation>> {
    (
        any::<u64>(),
        1u32..4,
        1usize..8,
        1u32..4,
        0.0f64..0.4,
        any::<Option<(prop::sample::Index, u8)>>(),
    )
        .prop_map(|(seed, clients, operations, pool, timeouts, tamper)| {
            let mut ops = simulate(&Simulation {
                seed,
                clients,
                keys: 1,
                operations,
                write_ratio: 0.3,
                timeout_ratio: timeouts,
                max_latency: 10,
                value_pool: Some(pool),
            });
            if let Some((index, choice)) = tamper {
                let value = (choice % 3 != 0).then(|| format!("v{}", choice % pool as u8));
                let op = &mut ops[index.index(operations)];
                op.outcome = match op.outcome.take() {
                    Some(Outcome::ReadOk { .. }) => Some(Outcome::ReadOk { value }),
                    Some(Outcome::CasOk) => Some(Outcome::CasFailed { current: value }),
                    Some(Outcome::CasFailed { .. }) if choice % 2 == 0 => Some(Outcome::CasOk),
                    Some(Outcome::CasFailed { .. }) => Some(Outcome::CasFailed { current: value }),
                    other => other,
                };
            }
            ops
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn near_linearizable_histories_agree_with_brute_force(ops in near_linearizable()) {
        let expected = brute_force(&ops);
        let report = check(&ops, &CheckOptions::default());
        prop_assert_eq!(report.result.is_linearizable(), expected, "{}", report.result);
    }
}
