//! Kubernetes time values from the clocks the agent and the drivers use, and Go's
//! duration spelling (`1m20s`) that kubelet messages carry.

use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;

/// A `SystemTime` as a jiff timestamp (the epoch for times jiff cannot hold).
pub fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A `Time` truncated to whole seconds, which is what `Time` serializes to, so a time read
/// back from the API compares equal to the one computed here.
pub fn time(t: SystemTime) -> Time {
    let ts = timestamp(t);
    Time(Timestamp::from_second(ts.as_second()).unwrap_or(ts))
}

pub fn now() -> Time {
    time(SystemTime::now())
}

pub fn micro_now() -> MicroTime {
    MicroTime(Timestamp::now())
}

pub fn system_time(t: &Time) -> SystemTime {
    SystemTime::from(t.0)
}

/// Go's `time.Duration.String()`: `100ms`, `10s`, `1m20s`, `5m0s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 1_000_000));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    let s = decimal(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// `value / unit` with the fraction written without trailing zeros.
fn decimal(value: u128, unit: u128) -> String {
    let (whole, frac) = (value / unit, value % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(20), "20s"),
            (Duration::from_secs(80), "1m20s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(100), "100ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::ZERO, "0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn time_is_whole_seconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_750);
        assert_eq!(time(t).0.as_second(), 1_700_000_000);
        assert_eq!(time(t).0.subsec_nanosecond(), 0);
    }
}
