//! When a CronJob fires, in UTC: the next firing after a time, and the most recent firing
//! not yet acted on (with how many were missed, counted up to [`TOO_MANY_MISSED`] + 1), as
//! Kubernetes' `mostRecentScheduleTime` computes them with robfig/cron.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tutti_core::validation::{CronError, CronSchedule};

/// Kubernetes stops listing missed start times past this many and warns instead.
pub const TOO_MANY_MISSED: usize = 100;

/// How far ahead (or back) a firing is searched for, as robfig/cron does: five years.
const SEARCH_DAYS: usize = 366 * 5;

/// A parsed `spec.schedule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Wall-clock minutes (`*/5 * * * *`, `@daily`).
    Cron(CronSchedule),
    /// `@every <duration>`: a fixed interval from the last firing.
    Every(i64),
}

/// The most recent unmet firing and how many firings were missed up to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub time: Timestamp,
    /// Firings in (earliest, now], counted up to `TOO_MANY_MISSED + 1`.
    pub missed: usize,
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, CronError> {
        let cron = CronSchedule::parse(spec)?;
        Ok(match cron.every_seconds() {
            Some(s) => Schedule::Every(i64::try_from(s).unwrap_or(i64::MAX).max(1)),
            None => Schedule::Cron(cron),
        })
    }

    /// The first firing strictly after `t` (for `@every`, `t` plus the interval, whole seconds).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(s) => from_second(t.as_second().checked_add(*s)?),
            Schedule::Cron(c) => cron_next(c, t),
        }
    }

    /// The latest firing in `(earliest, now]`, if there is one.
    pub fn due(&self, earliest: Timestamp, now: Timestamp) -> Option<Due> {
        let first = self.next_after(earliest).filter(|t| *t <= now)?;
        match self {
            Schedule::Every(s) => {
                let k = now.duration_since(first).as_secs() / s;
                let time = from_second(first.as_second() + k * s)?;
                let missed = usize::try_from(k + 1)
                    .unwrap_or(usize::MAX)
                    .min(TOO_MANY_MISSED + 1);
                Some(Due { time, missed })
            }
            Schedule::Cron(c) => {
                let time = cron_at_or_before(c, now).filter(|t| *t >= first)?;
                let mut missed = 1;
                let mut cursor = first;
                while missed <= TOO_MANY_MISSED {
                    match cron_next(c, cursor) {
                        Some(t) if t <= now => {
                            missed += 1;
                            cursor = t;
                        }
                        _ => break,
                    }
                }
                Some(Due { time, missed })
            }
        }
    }

    /// The next firing after `now` in the series that started at `earliest`.
    pub fn next_from(&self, earliest: Timestamp, now: Timestamp) -> Option<Timestamp> {
        match self.due(earliest, now) {
            Some(due) if matches!(self, Schedule::Every(_)) => self.next_after(due.time),
            _ if matches!(self, Schedule::Every(_)) => self.next_after(earliest),
            _ => self.next_after(now.max(earliest)),
        }
    }
}

fn from_second(s: i64) -> Option<Timestamp> {
    Timestamp::from_second(s).ok()
}

fn matches(c: &CronSchedule, date: Date, hour: i8, minute: i8) -> bool {
    let n = |v: i8| u32::from(v.unsigned_abs());
    c.matches(
        n(minute),
        n(hour),
        n(date.day()),
        n(date.month()),
        n(date.weekday().to_sunday_zero_offset()),
    )
}

fn at(date: Date, hour: i8, minute: i8) -> Option<Timestamp> {
    TimeZone::UTC.to_timestamp(date.at(hour, minute, 0, 0)).ok()
}

/// Start of the minute containing `t`, in UTC.
fn minute_of(t: Timestamp) -> Option<DateTime> {
    let floored = from_second(t.as_second().div_euclid(60) * 60)?;
    Some(TimeZone::UTC.to_datetime(floored))
}

/// The first matching minute strictly after `t`.
fn cron_next(c: &CronSchedule, t: Timestamp) -> Option<Timestamp> {
    let start = minute_of(t.checked_add(SignedDuration::from_secs(60)).ok()?)?;
    let mut date = start.date();
    let (mut h0, mut m0) = (start.hour(), start.minute());
    for _ in 0..SEARCH_DAYS {
        for h in h0..24 {
            let from = if h == h0 { m0 } else { 0 };
            for m in from..60 {
                if matches(c, date, h, m) {
                    return at(date, h, m);
                }
            }
        }
        date = date.tomorrow().ok()?;
        (h0, m0) = (0, 0);
    }
    None
}

/// The last matching minute at or before `t`.
fn cron_at_or_before(c: &CronSchedule, t: Timestamp) -> Option<Timestamp> {
    let start = minute_of(t)?;
    let mut date = start.date();
    let (mut h0, mut m0) = (start.hour(), start.minute());
    for _ in 0..SEARCH_DAYS {
        for h in (0..=h0).rev() {
            let to = if h == h0 { m0 } else { 59 };
            for m in (0..=to).rev() {
                if matches(c, date, h, m) {
                    return at(date, h, m);
                }
            }
        }
        date = date.yesterday().ok()?;
        (h0, m0) = (23, 59);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn sched(s: &str) -> Schedule {
        Schedule::parse(s).unwrap()
    }

    #[test]
    fn next_after_is_strictly_later() {
        let every_minute = sched("* * * * *");
        assert_eq!(
            every_minute.next_after(ts("2024-05-01T10:00:00Z")),
            Some(ts("2024-05-01T10:01:00Z"))
        );
        assert_eq!(
            every_minute.next_after(ts("2024-05-01T10:00:59.9Z")),
            Some(ts("2024-05-01T10:01:00Z"))
        );
        let weekdays = sched("30 9 * * mon-fri");
        assert_eq!(
            weekdays.next_after(ts("2024-05-03T10:00:00Z")),
            Some(ts("2024-05-06T09:30:00Z")),
            "Friday after 9:30 → Monday"
        );
        assert_eq!(
            sched("0 0 29 2 *").next_after(ts("2024-03-01T00:00:00Z")),
            Some(ts("2028-02-29T00:00:00Z"))
        );
        assert_eq!(
            sched("0 0 30 2 *").next_after(ts("2024-03-01T00:00:00Z")),
            None,
            "never fires"
        );
        assert_eq!(
            sched("@hourly").next_after(ts("2024-12-31T23:59:00Z")),
            Some(ts("2025-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn due_finds_the_latest_unmet_firing_and_counts_misses() {
        let s = sched("*/5 * * * *");
        assert_eq!(
            s.due(ts("2024-05-01T10:00:00Z"), ts("2024-05-01T10:04:59Z")),
            None
        );
        assert_eq!(
            s.due(ts("2024-05-01T10:00:00Z"), ts("2024-05-01T10:05:00Z")),
            Some(Due {
                time: ts("2024-05-01T10:05:00Z"),
                missed: 1
            })
        );
        assert_eq!(
            s.due(ts("2024-05-01T10:00:00Z"), ts("2024-05-01T10:17:00Z")),
            Some(Due {
                time: ts("2024-05-01T10:15:00Z"),
                missed: 3
            })
        );
        let many = s.due(ts("2024-05-01T00:00:00Z"), ts("2024-05-02T00:00:00Z"));
        assert_eq!(
            many,
            Some(Due {
                time: ts("2024-05-02T00:00:00Z"),
                missed: TOO_MANY_MISSED + 1
            })
        );
    }

    #[test]
    fn every_counts_from_the_last_firing() {
        let s = sched("@every 90s");
        assert_eq!(s, Schedule::Every(90));
        let t0 = ts("2024-05-01T10:00:00Z");
        assert_eq!(s.due(t0, ts("2024-05-01T10:01:29Z")), None);
        assert_eq!(
            s.due(t0, ts("2024-05-01T10:04:00Z")),
            Some(Due {
                time: ts("2024-05-01T10:03:00Z"),
                missed: 2
            })
        );
        assert_eq!(
            s.next_from(t0, ts("2024-05-01T10:04:00Z")),
            Some(ts("2024-05-01T10:04:30Z"))
        );
        assert_eq!(
            s.next_from(t0, ts("2024-05-01T10:00:10Z")),
            Some(ts("2024-05-01T10:01:30Z"))
        );
    }

    #[test]
    fn next_from_for_cron_is_the_next_minute_after_now() {
        let s = sched("0 * * * *");
        assert_eq!(
            s.next_from(ts("2024-05-01T08:00:00Z"), ts("2024-05-01T10:20:00Z")),
            Some(ts("2024-05-01T11:00:00Z"))
        );
    }
}
