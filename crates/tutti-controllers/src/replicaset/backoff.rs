//! Per-key exponential back-off for reconcile errors, the `error_policy` half of a
//! kube-runtime `Controller`: each failure of a key doubles its retry delay (up to a cap),
//! a success forgets it.
//!
//! Shared: the Deployment, DaemonSet, Job and CronJob controllers use it too. Keep `next`
//! and `reset` as they are; change the delays only knowing every controller gets them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// First retry delay after an error.
const BASE: Duration = Duration::from_millis(250);
/// Longest retry delay.
const CAP: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub(crate) struct ErrorBackoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl ErrorBackoff {
    /// Record one more failure of `key` and return how long to wait before retrying it.
    pub(crate) fn next(&self, key: &str) -> Duration {
        let n = match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(key.to_string()).or_default();
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        delay(n)
    }

    /// `key` reconciled successfully: its next failure starts from the base delay again.
    pub(crate) fn reset(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

/// The delay before retry number `n` (1-based): BASE · 2^(n-1), at most CAP.
fn delay(n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
    BASE.checked_mul(factor).unwrap_or(CAP).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_on_success() {
        let b = ErrorBackoff::default();
        assert_eq!(b.next("a"), Duration::from_millis(250));
        assert_eq!(b.next("a"), Duration::from_millis(500));
        assert_eq!(b.next("a"), Duration::from_secs(1));
        assert_eq!(
            b.next("other"),
            Duration::from_millis(250),
            "keys are independent"
        );
        b.reset("a");
        assert_eq!(b.next("a"), Duration::from_millis(250));
        assert_eq!(delay(40), CAP);
    }
}
