//! tutti-testkit: test-only tools. Record what concurrent clients did to the store and check
//! that it was linearizable; inject faults while they do it.
//!
//! - [`history`]: a thread-safe recorder of invocations and completions (JSON-serializable).
//! - [`linearizability`]: a Wing–Gong/Lowe checker for a key-value register, key by key.
//! - [`simulation`]: histories of a simulated atomic register, to test the checker.
//! - [`store_history`]: concurrent clients against any `tutti_store::Store`, with a fault hook.
//! - [`faults`]: a `Store` wrapper that delays, refuses or loses requests on demand.
//!
//! Why not a crate: `stateright`'s `LinearizabilityTester` explores every interleaving without
//! memoization or a budget and gives no key partitioning, so 10,000-operation histories are
//! out of reach; `todc-utils` (unmaintained since 2023) has no indeterminate operations, no
//! budget and no counterexample. The checker here is small and tested on its own.

pub mod error;
pub mod faults;
pub mod history;
pub mod linearizability;
pub mod simulation;
pub mod store_history;

pub use error::TestkitError;
pub use history::{ClientId, History, Op, Operation, Outcome, PendingOp, Recorder};
pub use linearizability::{
    CheckOptions, CheckReport, Counterexample, Linearizability, check, check_history,
};
