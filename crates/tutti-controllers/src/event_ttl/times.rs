//! What the event TTL controller reads of an Event: its metadata and the timestamps that
//! say when it was last written. A slim view of the stored object (the message, the
//! involved object and the rest are skipped while decoding), served at core/v1 `events`.
//!
//! Both shapes of Event are understood: core/v1 (`lastTimestamp`, `eventTime`,
//! `series.lastObservedTime`) and events.k8s.io/v1 (`deprecatedLastTimestamp`, `eventTime`,
//! `series.lastObservedTime`). Timestamps that do not parse are ignored rather than failing
//! the watch.

use std::borrow::Cow;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An Event, reduced to what decides its expiry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTimes {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "lenient")]
    pub last_timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    pub deprecated_last_timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient")]
    pub event_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_series")]
    pub series: Option<Timestamp>,
}

/// A timestamp, or None for null, absent, or anything that is not an RFC 3339 string.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(Value::deserialize(d)?.as_str().and_then(|s| s.parse().ok()))
}

/// `series.lastObservedTime`, leniently.
fn lenient_series<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(Value::deserialize(d)?
        .get("lastObservedTime")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok()))
}

impl kube::Resource for EventTimes {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Event".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "events".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl EventTimes {
    /// How long ago, by its own timestamps, the Event was last written: the latest of its
    /// creationTimestamp, lastTimestamp (or deprecatedLastTimestamp), eventTime,
    /// series.lastObservedTime and managedFields times. Whole-second timestamps count as
    /// the end of their second, so the estimate errs towards keeping the Event longer; one
    /// in the future counts as now. None when it carries no timestamp at all.
    pub fn age(&self, now: Timestamp) -> Option<Duration> {
        let second = SignedDuration::from_secs(1);
        let whole_seconds = [self.last_timestamp, self.deprecated_last_timestamp]
            .into_iter()
            .chain(std::iter::once(
                self.metadata.creation_timestamp.as_ref().map(|t| t.0),
            ))
            .chain(
                self.metadata
                    .managed_fields
                    .iter()
                    .flatten()
                    .map(|f| f.time.as_ref().map(|t| t.0)),
            )
            .flatten()
            .filter_map(|t| t.checked_add(second).ok());
        let exact = [self.event_time, self.series].into_iter().flatten();
        let latest = whole_seconds.chain(exact).max()?;
        let age = now.duration_since(latest);
        Some(Duration::try_from(age).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn decode(v: Value) -> EventTimes {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_latest_timestamp_of_a_core_v1_event_counts() {
        let ev = decode(json!({
            "metadata": {"name": "a", "namespace": "default", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "firstTimestamp": "2026-01-01T10:00:00Z",
            "lastTimestamp": "2026-01-01T10:30:00Z",
            "count": 7,
            "eventTime": null,
        }));
        // lastTimestamp has whole seconds: it counts as 10:30:01.
        assert_eq!(
            ev.age(at("2026-01-01T11:00:00Z")),
            Some(Duration::from_secs(29 * 60 + 59))
        );
    }

    #[test]
    fn series_and_event_time_of_an_events_k8s_io_event_count() {
        let ev = decode(json!({
            "apiVersion": "events.k8s.io/v1",
            "metadata": {"name": "a", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "eventTime": "2026-01-01T10:05:00.000000Z",
            "deprecatedLastTimestamp": "2026-01-01T10:06:00Z",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T10:40:00.500000Z"},
        }));
        assert_eq!(
            ev.age(at("2026-01-01T11:00:00Z")),
            Some(Duration::from_millis(19 * 60_000 + 59_500))
        );
    }

    #[test]
    fn a_future_timestamp_means_now_and_none_means_unknown() {
        let ev = decode(json!({"metadata": {}, "lastTimestamp": "2030-01-01T00:00:00Z"}));
        assert_eq!(ev.age(at("2026-01-01T00:00:00Z")), Some(Duration::ZERO));
        assert_eq!(
            decode(json!({"metadata": {}})).age(at("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn malformed_timestamps_are_ignored() {
        let ev = decode(json!({
            "metadata": {"creationTimestamp": "2026-01-01T10:00:00Z"},
            "lastTimestamp": "yesterday",
            "eventTime": 12,
            "series": "weekly",
        }));
        assert_eq!(
            ev.age(at("2026-01-01T10:00:11Z")),
            Some(Duration::from_secs(10))
        );
    }
}
