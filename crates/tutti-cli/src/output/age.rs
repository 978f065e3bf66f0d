//! Durations and times as kubectl shows them: `HumanDuration` ages (`2m5s`, `3h`, `4d5h`) and
//! describe's RFC 1123 timestamps.

use k8s_openapi::jiff::Timestamp;

pub use tutti_core::duration::human_duration;

/// Age of an RFC 3339 timestamp relative to `now`, or `<unknown>` when absent or malformed.
pub fn age_since(time: Option<&str>, now: Timestamp) -> String {
    match time.and_then(|t| t.parse::<Timestamp>().ok()) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// describe's time format, `Tue, 05 Mar 2024 10:00:00 +0000` (UTC).
pub fn rfc1123(time: &str) -> String {
    match time.parse::<Timestamp>() {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        Err(_) => time.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    #[test]
    fn ages_read_like_kubectl() {
        let d = SignedDuration::from_secs;
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(125)), "2m5s");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(3 * 3600 + 60)), "3h1m");
        assert_eq!(human_duration(d(30 * 3600)), "30h");
        assert_eq!(human_duration(d(4 * 86400 + 5 * 3600)), "4d5h");
        assert_eq!(human_duration(d(-5)), "<invalid>");
    }

    #[test]
    fn timestamps_print_in_rfc1123() {
        assert_eq!(
            rfc1123("2024-03-05T10:00:00Z"),
            "Tue, 05 Mar 2024 10:00:00 +0000"
        );
        let now: Timestamp = "2024-03-05T10:02:05Z".parse().unwrap_or_default();
        assert_eq!(age_since(Some("2024-03-05T10:00:00Z"), now), "2m5s");
        assert_eq!(age_since(None, now), "<unknown>");
    }
}
