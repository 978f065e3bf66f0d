//! The `Events:` section: events whose involvedObject is the described object, oldest first,
//! as `Type Reason Age From Message` rows (`<none>` when there are none).

use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use serde_json::Value;

use super::writer::{Writer, text};
use crate::api;
use crate::config::Context;
use crate::output::age::age_since;

/// Lists the events about `obj`. The server is asked with a field selector; the result is
/// filtered here as well, so a server that ignores the selector still gives the right events.
pub async fn for_object(ctx: &Context, obj: &Value) -> Result<Vec<Value>, api::ApiError> {
    let name = text(obj, "/metadata/name");
    let namespace = text(obj, "/metadata/namespace");
    let uid = text(obj, "/metadata/uid");
    let kind = text(obj, "/kind");
    let mut selector = format!("involvedObject.name={name}");
    if !namespace.is_empty() {
        selector.push_str(&format!(",involvedObject.namespace={namespace}"));
    }
    if !uid.is_empty() {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let path = if namespace.is_empty() {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{namespace}/events")
    };
    let params = ListParams {
        field_selector: Some(selector),
        ..ListParams::default()
    };
    let request = kube::core::Request::new(path);
    let list = match api::send(ctx, request.list(&params).map_err(kube_build)?).await {
        Ok(list) => list,
        // A server without these field selectors answers 400: filter a plain list instead.
        Err(e) if e.code() == Some(400) => {
            api::send(
                ctx,
                request.list(&ListParams::default()).map_err(kube_build)?,
            )
            .await?
        }
        Err(e) => return Err(e),
    };
    let mut events: Vec<Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|e| is_about(e, name, kind, uid))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    events.sort_by_key(|e| last_seen(e).map(|t| t.as_second()).unwrap_or(0));
    Ok(events)
}

fn kube_build(e: kube::core::request::Error) -> api::ApiError {
    api::ApiError::Decode(format!("cannot build the events request: {e}"))
}

fn is_about(event: &Value, name: &str, kind: &str, uid: &str) -> bool {
    let involved = |f: &str| text(event, &format!("/involvedObject/{f}"));
    involved("name") == name
        && (kind.is_empty() || involved("kind").is_empty() || involved("kind") == kind)
        && (uid.is_empty() || involved("uid").is_empty() || involved("uid") == uid)
}

fn time_at(event: &Value, pointers: &[&str]) -> Option<Timestamp> {
    pointers.iter().find_map(|p| {
        event
            .pointer(p)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    })
}

fn last_seen(event: &Value) -> Option<Timestamp> {
    time_at(
        event,
        &[
            "/series/lastObservedTime",
            "/lastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ],
    )
}

fn first_seen(event: &Value) -> Option<Timestamp> {
    time_at(
        event,
        &[
            "/firstTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ],
    )
}

/// `10s`, or `2m (x4 over 10m)` for a repeated event.
fn age(event: &Value, now: Timestamp) -> String {
    let last = last_seen(event).map(|t| t.to_string());
    let last_age = age_since(last.as_deref(), now);
    let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
    if count > 1 {
        let first = first_seen(event).map(|t| t.to_string());
        format!(
            "{last_age} (x{count} over {})",
            age_since(first.as_deref(), now)
        )
    } else {
        last_age
    }
}

/// `kubelet, node1`, the reporting controller, or the source component.
fn from(event: &Value) -> String {
    let component = text(event, "/source/component");
    let component = if component.is_empty() {
        text(event, "/reportingComponent")
    } else {
        component
    };
    let host = text(event, "/source/host");
    if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    }
}

/// Writes the section at level 0.
pub fn write(w: &mut Writer, events: &[Value], now: Timestamp) {
    if events.is_empty() {
        w.field(0, "Events", super::writer::NONE);
        return;
    }
    w.heading(0, "Events");
    w.line(1, "Type\tReason\tAge\tFrom\tMessage");
    w.line(1, "----\t------\t----\t----\t-------");
    for e in events {
        let message = text(e, "/message").trim().replace(['\t', '\n'], " ");
        w.line(
            1,
            format!(
                "{}\t{}\t{}\t{}\t{message}",
                text(e, "/type"),
                text(e, "/reason"),
                age(e, now),
                from(e)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_print_as_a_table_with_repeat_counts() {
        let now: Timestamp = "2024-03-05T10:10:00Z".parse().unwrap_or_default();
        let events = vec![
            json!({"type": "Normal", "reason": "ScalingReplicaSet", "message": "Scaled up replica set nginx-1 to 3",
                "source": {"component": "deployment-controller"}, "count": 1, "lastTimestamp": "2024-03-05T10:09:50Z"}),
            json!({"type": "Warning", "reason": "BackOff", "message": "Back-off pulling image", "source": {"component": "kubelet", "host": "n1"},
                "count": 4, "firstTimestamp": "2024-03-05T10:00:00Z", "lastTimestamp": "2024-03-05T10:08:00Z"}),
        ];
        let mut w = Writer::default();
        write(&mut w, &events, now);
        let expected = "\
Events:
  Type     Reason             Age               From                   Message
  ----     ------             ----              ----                   -------
  Normal   ScalingReplicaSet  10s               deployment-controller  Scaled up replica set nginx-1 to 3
  Warning  BackOff            2m (x4 over 10m)  kubelet, n1            Back-off pulling image
";
        assert_eq!(w.finish(), expected);
        let mut none = Writer::default();
        write(&mut none, &[], now);
        assert_eq!(none.finish(), "Events:  <none>\n");
    }

    #[test]
    fn only_events_about_the_object_count() {
        let e = json!({"involvedObject": {"kind": "Deployment", "name": "web", "uid": "u1"}});
        assert!(is_about(&e, "web", "Deployment", "u1"));
        assert!(!is_about(&e, "web", "Service", ""));
        assert!(!is_about(&e, "web", "Deployment", "u2"));
        assert!(!is_about(&e, "db", "", ""));
    }
}
