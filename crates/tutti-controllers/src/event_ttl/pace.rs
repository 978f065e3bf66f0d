//! Spacing the event TTL controller's deletions: at most `per_second` on average, with a
//! burst of `burst` after a quiet spell (a token bucket, kept as the time the next token is
//! due).

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    /// How far behind `now` the bucket may fall: `burst` intervals.
    slack: Duration,
    next: Option<Instant>,
}

impl Pace {
    pub fn new(per_second: u32, burst: u32) -> Pace {
        let interval = Duration::from_secs(1) / per_second.max(1);
        Pace {
            interval,
            slack: interval * burst.max(1).saturating_sub(1),
            next: None,
        }
    }

    /// Take a token at `now`, or say when the next one is due.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let floor = now.checked_sub(self.slack).unwrap_or(now);
        let next = self.next.map_or(floor, |n| n.max(floor));
        if next > now {
            return Err(next);
        }
        self.next = Some(next + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let mut pace = Pace::new(100, 5);
        let start = Instant::now();
        let mut taken = 0;
        while pace.take(Instant::now()).is_ok() {
            taken += 1;
        }
        assert_eq!(taken, 5, "the burst");
        // One second later: 100 more (the bucket holds no more than the burst meanwhile).
        let end = start + Duration::from_secs(1);
        let mut later = 0;
        loop {
            match pace.take(Instant::now()) {
                Ok(()) => later += 1,
                Err(at) if at <= end => tokio::time::sleep_until(at).await,
                Err(_) => break,
            }
        }
        assert!((99..=101).contains(&later), "{later} in the next second");
    }
}
