//! Kubernetes' human-readable durations (apimachinery `duration.HumanDuration`) and the
//! "how long ago" cells built on them: AGE, LAST SEEN, LAST SCHEDULE, DURATION.

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

pub use tutti_core::duration::human_duration;

/// Parses a `metav1.Time` or `metav1.MicroTime` (RFC 3339) field; absent, null or malformed
/// timestamps are `None`, which kube treats as the zero time.
pub(super) fn timestamp(value: Option<&Value>) -> Option<Timestamp> {
    value?.as_str()?.parse().ok()
}

/// kube's `translateTimestampSince`: the time elapsed since `then`, or `<unknown>` without one.
pub(super) fn since(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(then) => human_duration(now.duration_since(then)),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell: time since `metadata.creationTimestamp`.
pub(super) fn age(obj: &Value, now: Timestamp) -> Value {
    Value::String(since(
        timestamp(obj.pointer("/metadata/creationTimestamp")),
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    fn secs(s: i64) -> String {
        human_duration(SignedDuration::from_secs(s))
    }

    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const YEAR: i64 = 365 * DAY;

    #[test]
    fn future_within_tolerance_is_now_and_beyond_is_invalid() {
        assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
        assert_eq!(secs(-1), "0s");
        assert_eq!(secs(-2), "<invalid>");
        assert_eq!(secs(-3 * DAY), "<invalid>");
    }

    #[test]
    fn seconds_up_to_two_minutes() {
        assert_eq!(secs(0), "0s");
        assert_eq!(human_duration(SignedDuration::from_millis(999)), "0s");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(60), "60s");
        assert_eq!(secs(119), "119s");
    }

    #[test]
    fn minutes_with_seconds_below_ten_minutes() {
        assert_eq!(secs(2 * MIN), "2m");
        assert_eq!(secs(2 * MIN + 30), "2m30s");
        assert_eq!(secs(10 * MIN - 1), "9m59s");
        assert_eq!(secs(10 * MIN), "10m");
        assert_eq!(secs(10 * MIN + 59), "10m");
        assert_eq!(secs(3 * HOUR - 1), "179m");
    }

    #[test]
    fn hours_with_minutes_below_eight_hours() {
        assert_eq!(secs(3 * HOUR), "3h");
        assert_eq!(secs(3 * HOUR + 5 * MIN + 59), "3h5m");
        assert_eq!(secs(8 * HOUR - 1), "7h59m");
        assert_eq!(secs(8 * HOUR), "8h");
        assert_eq!(secs(48 * HOUR - 1), "47h");
    }

    #[test]
    fn days_with_hours_below_eight_days() {
        assert_eq!(secs(2 * DAY), "2d");
        assert_eq!(secs(2 * DAY + 3 * HOUR), "2d3h");
        assert_eq!(secs(8 * DAY - 1), "7d23h");
        assert_eq!(secs(8 * DAY), "8d");
        assert_eq!(secs(2 * YEAR - 1), "729d");
    }

    #[test]
    fn years_with_days_below_eight_years() {
        assert_eq!(secs(2 * YEAR), "2y");
        assert_eq!(secs(2 * YEAR + 40 * DAY), "2y40d");
        assert_eq!(secs(8 * YEAR - 1), "7y364d");
        assert_eq!(secs(8 * YEAR), "8y");
        assert_eq!(secs(20 * YEAR + 100 * DAY), "20y");
    }

    #[test]
    fn missing_or_malformed_timestamps_are_unknown() {
        let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
        assert_eq!(since(timestamp(None), now), "<unknown>");
        assert_eq!(since(timestamp(Some(&Value::Null)), now), "<unknown>");
        assert_eq!(
            since(timestamp(Some(&"yesterday".into())), now),
            "<unknown>"
        );
        assert_eq!(
            since(timestamp(Some(&"2025-06-01T11:57:30Z".into())), now),
            "2m30s"
        );
        assert_eq!(
            since(timestamp(Some(&"2025-06-01T11:59:59.500000Z".into())), now),
            "0s"
        );
    }
}
