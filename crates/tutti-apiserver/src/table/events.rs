//! Event rows (kube's `printEvent`): LAST SEEN from the series or timestamps, the involved
//! object as `kind/name`, and the wide SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME cells. Reads
//! both core/v1 events and events.k8s.io/v1 ones, whose fields carry other names.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::{since, timestamp};
use super::column::{Column, NAME};
use super::fields::{has_object, int, int_opt, name, text};

pub(super) const COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    Column::new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column::new("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    Column::new("Object", "string", "The object that this event is about."),
    Column::new("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].").wide(),
    Column::new("Source", "string", "The component reporting this event. Should be a short machine understandable string.").wide(),
    Column::new("Message", "string", "A human-readable description of the status of this operation."),
    Column::new("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)").wide(),
    Column::new("Count", "string", "The number of times this event has occurred.").wide(),
    NAME.wide(),
];

/// Where an event's fields live in its API version.
struct Fields {
    involved_object: &'static str,
    message: &'static str,
    first_timestamp: &'static str,
    last_timestamp: &'static str,
    count: &'static str,
    source: &'static str,
}

const CORE_V1: Fields = Fields {
    involved_object: "/involvedObject",
    message: "/message",
    first_timestamp: "/firstTimestamp",
    last_timestamp: "/lastTimestamp",
    count: "/count",
    source: "/source",
};

const EVENTS_V1: Fields = Fields {
    involved_object: "/regarding",
    message: "/note",
    first_timestamp: "/deprecatedFirstTimestamp",
    last_timestamp: "/deprecatedLastTimestamp",
    count: "/deprecatedCount",
    source: "/deprecatedSource",
};

pub(super) fn cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let f = if text(event, "/apiVersion") == "events.k8s.io/v1" {
        &EVENTS_V1
    } else {
        &CORE_V1
    };

    let first_seen = match timestamp(event.pointer(f.first_timestamp)) {
        Some(first) => since(Some(first), now),
        None => since(timestamp(event.pointer("/eventTime")), now),
    };
    let mut last_seen = match timestamp(event.pointer(f.last_timestamp)) {
        Some(last) => since(Some(last), now),
        None => first_seen.clone(),
    };
    let mut count = int(event, f.count);
    if has_object(event, "/series") {
        last_seen = since(timestamp(event.pointer("/series/lastObservedTime")), now);
        count = int_opt(event, "/series/count").unwrap_or(0);
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }

    let kind = text(event, &format!("{}/kind", f.involved_object)).to_lowercase();
    let object = match text(event, &format!("{}/name", f.involved_object)) {
        "" => kind,
        object_name => format!("{kind}/{object_name}"),
    };
    vec![
        json!(last_seen),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(object),
        json!(text(event, &format!("{}/fieldPath", f.involved_object))),
        json!(source(event, f)),
        json!(text(event, f.message).trim()),
        json!(first_seen),
        json!(count),
        name(event),
    ]
}

/// `component, host`, falling back to the reporting controller and instance.
fn source(event: &Value, f: &Fields) -> String {
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(
        text(event, &format!("{}/component", f.source)),
        text(event, "/reportingController"),
    );
    let host = first_non_empty(
        text(event, &format!("{}/host", f.source)),
        text(event, "/reportingInstance"),
    );
    if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    }
}

#[cfg(test)]
mod tests;
