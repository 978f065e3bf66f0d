//! Kubernetes' human-readable durations (apimachinery `duration.HumanDuration`), shared by
//! the server's tables and the CLI so AGE reads the same everywhere; and Go's duration
//! syntax (`time.ParseDuration`), which Kubernetes fields and flags use.

use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;

/// Go's `time.ParseDuration` syntax, unsigned, ASCII units: `1h30m`, `90s`, `1.5h`, `500ms`,
/// `0`. `None` for anything else (no unit, an unknown unit, empty).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..letters] {
            "ns" => 1e-9,
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[letters..];
        total += value * unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Renders a duration with two or three significant figures, exactly as apimachinery's
/// `duration.HumanDuration` does: `59s`, `119s`, `2m`, `2m30s`, `10m`, `179m`, `3h`, `7h59m`,
/// `8h`, `47h`, `2d`, `7d23h`, `8d`, `729d`, `2y`, `7y364d`, `8y`.
///
/// Up to one second in the future counts as now (`0s`), to tolerate clock skew between machines;
/// anything further in the future is `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    // Go truncates towards zero (`int(d.Seconds())`); so does `as_secs`.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// `7d` when the remainder is zero, else `7d23h`.
fn with_remainder(whole: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{whole}{unit}")
    } else {
        format!("{whole}{unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_match_kubernetes() {
        let s = |n: i64| human_duration(SignedDuration::from_secs(n));
        assert_eq!(s(-5), "<invalid>");
        assert_eq!(s(-1), "0s");
        assert_eq!(s(119), "119s");
        assert_eq!(s(120), "2m");
        assert_eq!(s(150), "2m30s");
        assert_eq!(s(179 * 60), "179m");
        assert_eq!(s(3 * 3600), "3h");
        assert_eq!(s(47 * 3600), "47h");
        assert_eq!(s(8 * 86400), "8d");
        assert_eq!(s(8 * 365 * 86400), "8y");
    }
}
