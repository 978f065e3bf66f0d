//! Retrying a Job's failed pods: when a pod finished, and how long to wait before the next
//! replacement (10 s doubling per failure since the last success, capped at 6 min, as
//! Kubernetes' `DefaultJobPodFailureBackOff` / `MaxJobPodFailureBackOff`).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// First retry delay after a failed pod; doubles per failure since the last success.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(360);

/// When a finished pod finished: its containers' last `finishedAt`, else when it stopped
/// being ready, else its deletion or creation time.
pub fn finish_time(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let from_containers = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .chain(s.container_statuses.iter())
                .flatten()
        })
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let from_ready = || {
        status?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")?
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
    };
    from_containers
        .or_else(from_ready)
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The retry delay after `failures` failed pods in a row: 10 s, 20 s, 40 s ... capped at 6 min.
pub fn backoff_delay(failures: usize) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP)
}

/// How long until a replacement may be created, counting the failures since the last success.
pub fn backoff_remaining(succeeded: &[&Pod], failed: &[&Pod], now: Timestamp) -> Option<Duration> {
    let last_success = succeeded.iter().map(|p| finish_time(p)).max();
    let recent: Vec<Timestamp> = failed
        .iter()
        .map(|p| finish_time(p))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let last = recent.iter().max()?;
    let due = after(*last, backoff_delay(recent.len()));
    (due > now).then(|| now.duration_since(due).unsigned_abs())
}

/// `t + d`, saturating.
pub fn after(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.saturating_add(d).unwrap_or(Timestamp::MAX)
}
