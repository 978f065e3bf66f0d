//! Histories of a simulated atomic key-value register (linearizable by construction), and a
//! way to break one: known-good and known-bad input for the linearizability checker.
//!
//! Each simulated client issues one operation at a time; every operation takes effect at a
//! random instant between its invocation and its return, and outcomes come from applying
//! operations to a plain map in the order of those instants. Some operations time out: the
//! client never learns their outcome, and a timed-out write takes effect or not at random.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::{ClientId, Nanos, Op, Operation, Outcome};

/// Shape of a simulated history. Randomness comes from `seed` only.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    pub seed: u64,
    pub clients: u32,
    pub keys: u32,
    pub operations: usize,
    /// Fraction of operations that are writes; as many again are compare-and-sets.
    pub write_ratio: f64,
    /// Fraction of operations whose client times out.
    pub timeout_ratio: f64,
    /// Largest delay (ns) between invocation and taking effect, and between that and return.
    pub max_latency: Nanos,
    /// Draw written values from this many (so values repeat); `None`: every value is new.
    pub value_pool: Option<u32>,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            seed: 0,
            clients: 8,
            keys: 4,
            operations: 1_000,
            write_ratio: 0.3,
            timeout_ratio: 0.02,
            max_latency: 100,
            value_pool: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
    Cas,
}

struct Planned {
    client: ClientId,
    key: String,
    kind: Kind,
    call: Nanos,
    effect: Nanos,
    ret: Nanos,
    timed_out: bool,
}

/// Run the simulation: operations in invocation order, ids in that order.
pub fn simulate(sim: &Simulation) -> Vec<Operation> {
    let mut rng = StdRng::seed_from_u64(sim.seed);
    let clients = sim.clients.max(1);
    let mut clocks: Vec<Nanos> = vec![0; clients as usize];
    let mut planned = Vec::with_capacity(sim.operations);
    for _ in 0..sim.operations {
        // The client that is free first goes next, as in a discrete-event simulation.
        let (client, clock) = clocks
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, at)| at)
            .unwrap_or((0, 0));
        let call = clock + rng.random_range(0..=sim.max_latency / 4);
        let effect = call + rng.random_range(0..=sim.max_latency);
        let ret = effect + rng.random_range(0..=sim.max_latency);
        clocks[client] = ret;
        let roll: f64 = rng.random();
        let kind = if roll < sim.write_ratio {
            Kind::Write
        } else if roll < 2.0 * sim.write_ratio {
            Kind::Cas
        } else {
            Kind::Read
        };
        planned.push(Planned {
            client: u32::try_from(client).unwrap_or(u32::MAX),
            key: format!("k{}", rng.random_range(0..sim.keys.max(1))),
            kind,
            call,
            effect,
            ret,
            timed_out: rng.random_bool(sim.timeout_ratio.clamp(0.0, 1.0)),
        });
    }

    // Apply in the order the operations take effect.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].effect, i));
    let mut state: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut written: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut results: Vec<Option<(Op, Outcome)>> = vec![None; planned.len()];
    for (n, i) in order.into_iter().enumerate() {
        let p = &planned[i];
        let current = state.get(&p.key).cloned().flatten();
        let value = match sim.value_pool {
            Some(pool) => format!("v{}", rng.random_range(0..pool.max(1))),
            None => format!("v{n}"),
        };
        let applies = !p.timed_out || rng.random_bool(0.5);
        let (op, outcome, new) = match p.kind {
            Kind::Read => (
                Op::read(&p.key),
                Outcome::ReadOk {
                    value: current.clone(),
                },
                None,
            ),
            Kind::Write => (Op::write(&p.key, &value), Outcome::WriteOk, Some(value)),
            Kind::Cas => {
                let seen = written.get(&p.key).map(Vec::as_slice).unwrap_or_default();
                let expected = if rng.random_bool(0.5) || seen.is_empty() {
                    current.clone()
                } else {
                    Some(seen[rng.random_range(0..seen.len())].clone())
                };
                let op = Op::cas(&p.key, expected.as_deref(), &value);
                if expected == current {
                    (op, Outcome::CasOk, Some(value))
                } else {
                    let current = current.clone();
                    (op, Outcome::CasFailed { current }, None)
                }
            }
        };
        if let Some(new) = new.filter(|_| applies) {
            written.entry(p.key.clone()).or_default().push(new.clone());
            state.insert(p.key.clone(), Some(new));
        }
        results[i] = Some((op, outcome));
    }

    let mut ops: Vec<Operation> = planned
        .iter()
        .zip(results)
        .filter_map(|(p, result)| {
            let (op, outcome) = result?;
            Some(Operation {
                id: 0,
                client: p.client,
                op,
                invoked_at: p.call,
                completed_at: (!p.timed_out).then_some(p.ret),
                outcome: (!p.timed_out).then_some(outcome),
            })
        })
        .collect();
    ops.sort_by_key(|op| (op.invoked_at, op.client));
    for (id, op) in ops.iter_mut().enumerate() {
        op.id = id as u64;
    }
    ops
}

/// Add a read that returns a value that was certainly overwritten: a value whose write
/// completed before another write to the key began, read after that other write completed.
/// Values must be unique per key (as in [`simulate`]). With no such pair of writes, a write
/// and a read of the key's initial (absent) value are appended after everything else.
/// Either way the result is not linearizable.
pub fn inject_stale_read(ops: &mut Vec<Operation>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let completed_writes: Vec<(&Operation, &str)> = ops
        .iter()
        .filter_map(|o| match (&o.op, &o.outcome) {
            (Op::Write { value, .. }, Some(Outcome::WriteOk))
            | (Op::Cas { new: value, .. }, Some(Outcome::CasOk)) => Some((o, value.as_str())),
            _ => None,
        })
        .collect();
    let mut pairs = Vec::new();
    for (old, value) in &completed_writes {
        for (newer, _) in &completed_writes {
            if old.op.key() == newer.op.key()
                && let (Some(old_end), Some(newer_end)) = (old.completed_at, newer.completed_at)
                && old_end < newer.invoked_at
            {
                pairs.push((old.op.key().to_string(), value.to_string(), newer_end));
            }
        }
    }
    let next_id = ops.iter().map(|o| o.id + 1).max().unwrap_or(0);
    let client = ops.iter().map(|o| o.client + 1).max().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| o.completed_at.unwrap_or(o.invoked_at))
        .max()
        .unwrap_or(0);
    let read = |id, key: &str, at: Nanos, value: Option<String>| Operation {
        id,
        client,
        op: Op::read(key),
        invoked_at: at,
        completed_at: Some(at + 10),
        outcome: Some(Outcome::ReadOk { value }),
    };
    if pairs.is_empty() {
        let key = ops.first().map_or("k0", |o| o.op.key()).to_string();
        ops.push(Operation {
            id: next_id,
            client,
            op: Op::write(&key, "injected"),
            invoked_at: end + 1,
            completed_at: Some(end + 2),
            outcome: Some(Outcome::WriteOk),
        });
        ops.push(read(next_id + 1, &key, end + 3, None));
        return;
    }
    let (key, value, after) = pairs.swap_remove(rng.random_range(0..pairs.len()));
    let at = rng.random_range(after + 1..=end.max(after + 1));
    ops.push(read(next_id, &key, at, Some(value)));
    ops.sort_by_key(|op| op.invoked_at);
}
