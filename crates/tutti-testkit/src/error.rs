//! Errors of the testkit: malformed histories, saving and loading them, and workload failures.

use crate::history::OpId;

/// Everything the testkit can fail with. A non-linearizable history is not an error: it is a
/// verdict ([`crate::linearizability::Linearizability::NotLinearizable`]).
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("history event for operation {id} has no matching invocation")]
    UnknownOperation { id: OpId },
    #[error("operation {id} is invoked twice in the history")]
    DuplicateInvocation { id: OpId },
    #[error("operation {id} is completed twice in the history")]
    DuplicateCompletion { id: OpId },
    #[error("operation {id} completes before it is invoked")]
    CompletedBeforeInvoked { id: OpId },
    #[error("operation {id}: outcome {outcome} does not fit operation {op}")]
    MismatchedOutcome {
        id: OpId,
        op: String,
        outcome: String,
    },
    #[error("history file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("history JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("workload client {client} failed: {reason}")]
    Client { client: u32, reason: String },
    #[error("fault injector failed: {0}")]
    Faults(String),
}
