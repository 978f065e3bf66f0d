//! RFC 3339 timestamps (Docker's `StartedAt`, log line prefixes) to and from `SystemTime`.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2024-05-01T12:00:00.123456789Z`; `None` for Docker's "never" (`0001-01-01T00:00:00Z`),
/// anything before 1970, or text that is not a timestamp.
pub(crate) fn parse(text: &str) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    if at.unix_timestamp() <= 0 {
        return None;
    }
    Some(SystemTime::from(at))
}

/// RFC 3339 in UTC with nanoseconds, the form Docker and CRI log files use.
pub(crate) fn format(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    // Formatting a UTC date in the years 1970..9999 cannot fail; fall back to the epoch.
    at.format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn round_trip_keeps_nanoseconds() {
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let text = format(at);
        assert_eq!(text, "2023-11-14T22:13:20.123456789Z");
        assert_eq!(parse(&text), Some(at));
    }

    #[test]
    fn docker_never_is_none() {
        assert_eq!(parse("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse("garbage"), None);
    }
}
