//! CronJob schedules: the standard five-field cron syntax and the `@hourly`-style
//! descriptors, parsed as Kubernetes' cron library does, with its error messages.

/// Why a schedule was rejected (messages as `robfig/cron` words them).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// A parsed schedule: the set of minutes, hours, days of month, months and weekdays it fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// `*` in day-of-month or day-of-week: the two are then ANDed instead of ORed.
    dom_star: bool,
    dow_star: bool,
    /// `@every <duration>` schedules fire on an interval instead.
    every_seconds: Option<u64>,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl CronSchedule {
    /// Parses `*/5 * * * *`, `0 9 * * mon-fri`, `@daily`, `@every 1h30m`.
    pub fn parse(spec: &str) -> Result<CronSchedule, CronError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(CronError("empty spec string".into()));
        }
        if let Some(descriptor) = spec.strip_prefix('@') {
            return parse_descriptor(descriptor, spec);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            )));
        }
        let (minutes, _) = parse_field(fields[0], &MINUTES)?;
        let (hours, _) = parse_field(fields[1], &HOURS)?;
        let (days_of_month, dom_star) = parse_field(fields[2], &DOM)?;
        let (months, _) = parse_field(fields[3], &MONTHS)?;
        let (days_of_week, dow_star) = parse_field(fields[4], &DOW)?;
        Ok(CronSchedule {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_star,
            dow_star,
            every_seconds: None,
        })
    }

    /// Whether the schedule fires at this wall-clock minute (`weekday` 0 = Sunday).
    /// Always false for `@every` schedules, which fire on an interval.
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        let has = |set: u64, v: u32| v < 64 && set & (1 << v) != 0;
        if self.every_seconds.is_some() {
            return false;
        }
        let dom = has(self.days_of_month, day);
        let dow = has(self.days_of_week, weekday);
        let day_ok = if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        };
        has(self.minutes, minute) && has(self.hours, hour) && has(self.months, month) && day_ok
    }

    /// The interval of an `@every` schedule, in seconds.
    pub fn every_seconds(&self) -> Option<u64> {
        self.every_seconds
    }
}

fn parse_descriptor(descriptor: &str, spec: &str) -> Result<CronSchedule, CronError> {
    let standard = match descriptor {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => {
            let Some(duration) = descriptor.strip_prefix("every ") else {
                return Err(CronError(format!("unrecognized descriptor: {spec}")));
            };
            let seconds = parse_duration(duration.trim()).ok_or_else(|| {
                CronError(format!(
                    "failed to parse duration {spec}: time: invalid duration {:?}",
                    duration.trim()
                ))
            })?;
            let mut schedule = CronSchedule::parse("* * * * *")?;
            schedule.every_seconds = Some(seconds.max(1));
            return Ok(schedule);
        }
    };
    CronSchedule::parse(standard)
}

/// Go duration syntax (`1h30m`, `90s`, `1.5h`; ASCII units only), whole seconds.
fn parse_duration(s: &str) -> Option<u64> {
    crate::duration::parse_go_duration(s).map(|d| d.as_secs())
}

/// A comma-separated list of ranges; returns the bit set and whether it was `*`/`?`.
fn parse_field(field: &str, bounds: &Bounds) -> Result<(u64, bool), CronError> {
    let mut bits = 0u64;
    let mut star = false;
    for expr in field.split(',') {
        let (b, s) = parse_range(expr, bounds)?;
        bits |= b;
        star |= s;
    }
    Ok((bits, star))
}

fn parse_range(expr: &str, bounds: &Bounds) -> Result<(u64, bool), CronError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let mut star = false;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        star = true;
        (bounds.min, bounds.max)
    } else {
        let start = parse_int_or_name(low_and_high[0], bounds)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, parse_int_or_name(low_and_high[1], bounds)?),
            _ => return Err(CronError(format!("too many hyphens: {expr}"))),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_int(range_and_step[1])?;
            if single {
                end = bounds.max;
            }
            if step > 1 {
                star = false;
            }
            step
        }
        _ => return Err(CronError(format!("too many slashes: {expr}"))),
    };
    if start < bounds.min {
        return Err(CronError(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            bounds.min
        )));
    }
    if end > bounds.max {
        return Err(CronError(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            bounds.max
        )));
    }
    if start > end {
        return Err(CronError(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(CronError(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok((bits, star))
}

fn parse_int_or_name(expr: &str, bounds: &Bounds) -> Result<u32, CronError> {
    let lower = expr.to_ascii_lowercase();
    if let Some(i) = bounds.names.iter().position(|n| *n == lower) {
        let index = u32::try_from(i).unwrap_or(0);
        return Ok(index + bounds.min);
    }
    parse_int(expr)
}

fn parse_int(expr: &str) -> Result<u32, CronError> {
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(CronError(format!(
            "negative number ({n}) not allowed: {expr}"
        ))),
        Ok(n) => u32::try_from(n).map_err(|_| {
            CronError(format!(
                "failed to parse int from {expr}: value out of range"
            ))
        }),
        Err(_) => Err(CronError(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        CronSchedule::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn accepts_standard_schedules() {
        for s in [
            "*/1 * * * *",
            "0 9 * * mon-fri",
            "30 2 1,15 * ?",
            "0 0 1 jan *",
            "@hourly",
            "@daily",
            "@every 1h30m",
            "5-10/2 * * * *",
        ] {
            assert!(CronSchedule::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn reports_like_robfig_cron() {
        assert_eq!(err("* * *"), "expected exactly 5 fields, found 3: [* * *]");
        assert_eq!(
            err("60 * * * *"),
            "end of range (60) above maximum (59): 60"
        );
        assert_eq!(
            err("* * 0 * *"),
            "beginning of range (0) below minimum (1): 0"
        );
        assert_eq!(
            err("x * * * *"),
            "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
        assert_eq!(
            err("*/0 * * * *"),
            "step of range should be a positive number: */0"
        );
        assert_eq!(
            err("5-1 * * * *"),
            "beginning of range (5) beyond end of range (1): 5-1"
        );
        assert_eq!(err(""), "empty spec string");
    }

    #[test]
    fn matches_wall_clock_minutes() {
        let s = CronSchedule::parse("*/15 9 * * mon-fri").unwrap();
        assert!(s.matches(30, 9, 3, 6, 1));
        assert!(!s.matches(31, 9, 3, 6, 1));
        assert!(!s.matches(30, 9, 3, 6, 0));
        let s = CronSchedule::parse("0 0 1 * mon").unwrap();
        assert!(
            s.matches(0, 0, 1, 6, 3),
            "day of month OR day of week when neither is *"
        );
        assert!(s.matches(0, 0, 9, 6, 1));
        assert_eq!(
            CronSchedule::parse("@every 90s").unwrap().every_seconds(),
            Some(90)
        );
    }
}
