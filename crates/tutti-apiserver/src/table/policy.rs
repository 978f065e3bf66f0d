//! Rows of PodDisruptionBudgets (kube's `printPodDisruptionBudget`): the budget's bound,
//! `N/A` for the one not set, and how many pods may be disrupted now.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::age;
use super::column::{AGE, Column, NAME};
use super::fields::{int, name};

pub(super) const PDB_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    Column::new(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    Column::new(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

pub(super) fn pdb_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        json!(bound(obj, "/spec/minAvailable")),
        json!(bound(obj, "/spec/maxUnavailable")),
        json!(int(obj, "/status/disruptionsAllowed")),
        age(obj, now),
    ]
}

/// An int-or-percent as `IntOrString.String()` prints it, or `N/A` when unset.
fn bound(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".to_string(),
    }
}

#[cfg(test)]
mod tests;
