//! `describe deployment`: selector, the replica summary, strategy, pod template, conditions
//! and the old/new ReplicaSets, as kubectl prints them.

use kube::api::ListParams;
use serde_json::Value;

use super::containers::pod_template;
use super::writer::{NONE, Writer, array, int, selector_text, text};
use super::{conditions, metadata};
use crate::api;
use crate::config::Context;

const REVISION: &str = "/metadata/annotations/deployment.kubernetes.io~1revision";

/// The deployment's description, its ReplicaSets given (all in its namespace).
pub fn write(w: &mut Writer, d: &Value, replica_sets: &[Value]) {
    metadata(w, d, true);
    w.field(
        0,
        "Selector",
        selector_text(
            d.pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object),
        ),
    );
    w.field(0, "Replicas", replicas_line(d));
    let strategy = text(d, "/spec/strategy/type");
    w.field(
        0,
        "StrategyType",
        if strategy.is_empty() {
            "RollingUpdate"
        } else {
            strategy
        },
    );
    w.field(0, "MinReadySeconds", int(d, "/spec/minReadySeconds", 0));
    if strategy.is_empty() || strategy == "RollingUpdate" {
        let ru = |k: &str| {
            d.pointer(&format!("/spec/strategy/rollingUpdate/{k}"))
                .map_or("25%".to_string(), super::writer::scalar)
        };
        w.field(
            0,
            "RollingUpdateStrategy",
            format!(
                "{} max unavailable, {} max surge",
                ru("maxUnavailable"),
                ru("maxSurge")
            ),
        );
    }
    pod_template(w, 0, d.pointer("/spec/template"));
    conditions(w, d, &["Type", "Status", "Reason"]);
    let (old, new) = split_replica_sets(d, replica_sets);
    let show = |rs: &Value| {
        format!(
            "{} ({}/{} replicas created)",
            text(rs, "/metadata/name"),
            int(rs, "/status/replicas", 0),
            int(rs, "/spec/replicas", 0)
        )
    };
    let old: Vec<String> = old.iter().map(|rs| show(rs)).collect();
    w.field(
        0,
        "OldReplicaSets",
        if old.is_empty() {
            NONE.to_string()
        } else {
            old.join(", ")
        },
    );
    w.field(0, "NewReplicaSet", new.map_or(NONE.to_string(), show));
}

/// `3 desired | 3 updated | 3 total | 3 available | 0 unavailable`.
pub fn replicas_line(d: &Value) -> String {
    let s = |k: &str| int(d, &format!("/status/{k}"), 0);
    format!(
        "{} desired | {} updated | {} total | {} available | {} unavailable",
        int(d, "/spec/replicas", 1),
        s("updatedReplicas"),
        s("replicas"),
        s("availableReplicas"),
        s("unavailableReplicas")
    )
}

/// The deployment's ReplicaSets (owned by its uid): the new one (same revision as the
/// deployment, else the newest revision) and the old ones that still have replicas.
pub fn split_replica_sets<'a>(d: &Value, all: &'a [Value]) -> (Vec<&'a Value>, Option<&'a Value>) {
    let uid = text(d, "/metadata/uid");
    let owned: Vec<&Value> = all
        .iter()
        .filter(|rs| {
            array(rs, "/metadata/ownerReferences")
                .iter()
                .any(|o| !uid.is_empty() && text(o, "/uid") == uid)
        })
        .collect();
    let revision = |v: &Value| text(v, REVISION).parse::<i64>().unwrap_or(0);
    let wanted = revision(d);
    let new = owned
        .iter()
        .copied()
        .find(|rs| wanted > 0 && revision(rs) == wanted)
        .or_else(|| owned.iter().copied().max_by_key(|rs| revision(rs)));
    let old = owned
        .into_iter()
        .filter(|rs| {
            !new.is_some_and(|n| std::ptr::eq(*rs, n)) && int(rs, "/spec/replicas", 0) != 0
        })
        .collect();
    (old, new)
}

/// The ReplicaSets in the deployment's namespace matching its selector.
pub async fn replica_sets(ctx: &Context, d: &Value) -> Result<Vec<Value>, api::ApiError> {
    let ns = text(d, "/metadata/namespace");
    let selector = selector_text(
        d.pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object),
    );
    let params = ListParams {
        label_selector: (selector != NONE).then_some(selector),
        ..ListParams::default()
    };
    let req = kube::core::Request::new(format!("/apis/apps/v1/namespaces/{ns}/replicasets"))
        .list(&params)
        .map_err(|e| api::ApiError::Decode(format!("cannot build the request: {e}")))?;
    let list = api::send(ctx, req).await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, owner: &str, revision: &str, replicas: i64) -> Value {
        json!({"metadata": {"name": name, "ownerReferences": [{"uid": owner}],
            "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
    }

    #[test]
    fn new_and_old_replica_sets_follow_the_revision() {
        let d = json!({"metadata": {"uid": "d1", "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 3}, "status": {"replicas": 4, "updatedReplicas": 2, "availableReplicas": 3, "unavailableReplicas": 1}});
        let all = vec![
            rs("web-1", "d1", "1", 2),
            rs("web-2", "d1", "2", 2),
            rs("web-0", "d1", "0", 0),
            rs("other", "x", "2", 1),
        ];
        let (old, new) = split_replica_sets(&d, &all);
        assert_eq!(new.map(|n| text(n, "/metadata/name")), Some("web-2"));
        assert_eq!(
            old.iter()
                .map(|o| text(o, "/metadata/name"))
                .collect::<Vec<_>>(),
            vec!["web-1"]
        );
        assert_eq!(
            replicas_line(&d),
            "3 desired | 2 updated | 4 total | 3 available | 1 unavailable"
        );
    }
}
