//! A fixed clock for the printers' tests: the server's "now" and RFC 3339 timestamps before it.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The server time every test prints at.
pub(super) fn now() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

/// The RFC 3339 timestamp `secs` seconds before [`now`].
pub(super) fn ago(secs: i64) -> String {
    now()
        .checked_sub(SignedDuration::from_secs(secs))
        .unwrap()
        .to_string()
}

/// The row a `kind` object prints as at [`now`], cells as plain strings for easy comparison.
pub(super) fn row(kind: &str, obj: &Value) -> Vec<String> {
    super::cells(kind, obj, now())
        .into_iter()
        .map(|cell| match cell {
            Value::String(s) => s,
            other => format!("#{other}"),
        })
        .collect()
}
