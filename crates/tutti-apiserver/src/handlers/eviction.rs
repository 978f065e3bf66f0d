//! `POST pods/<name>/eviction` (a `policy/v1` Eviction): delete a pod unless that would break
//! the PodDisruptionBudget covering it, as kube-apiserver's eviction subresource does.
//!
//! A pod that is not running (Pending, Succeeded, Failed) or already terminating goes at once.
//! Otherwise the one budget whose selector matches the pod decides: with
//! `status.disruptionsAllowed > 0` it is decremented (and the pod recorded in
//! `status.disruptedPods` so the disruption controller does not count it while it stops) in the
//! same compare-on-revision write that reads it, then the pod is deleted with the eviction's
//! deleteOptions. With no disruption left the answer is 429 TooManyRequests, which `kubectl
//! drain` retries. More than one matching budget is a 500, as in Kubernetes.

use axum::http::StatusCode;
use axum::response::Response;
use k8s_openapi::api::policy::v1::Eviction;
use serde_json::{Value, json};
use tutti_core::labels::Selector;
use tutti_core::registry::{self, ResourceInfo};

use super::delete::{DeleteOptions, delete_object};
use super::list::list_objects;
use super::write::{Part, Update, WriteOptions, current, update_with};
use super::{Params, Req, respond};
use crate::ApiServer;
use crate::error::{ApiError, ApiResult, StatusCause};
use crate::objects::{self, from_kv};

/// What kubectl and client libraries read from a refused eviction.
const VIOLATES_BUDGET: &str = "Cannot evict pod as it would violate the pod's disruption budget.";
/// Evictions a budget may hold unconfirmed by the disruption controller (Kubernetes' limit).
const MAX_DISRUPTED_PODS: usize = 2000;

pub async fn evict(req: Req) -> ApiResult<Response> {
    let body = crate::body::decode_object(&req.headers, &req.body)?;
    let eviction: Eviction =
        tutti_core::decode::decode_as(&body).map_err(|e| ApiError::Invalid {
            group_kind: "Eviction.policy".into(),
            kind: "Eviction".into(),
            name: objects::name(&body).to_string(),
            causes: vec![e],
        })?;
    let pods = req.target.info;
    let ns = req.target.ns();
    let name = req.target.name()?;
    if eviction
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Eviction object".into(),
        ));
    }
    if eviction
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|n| !n.is_empty() && Some(n) != ns)
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    let mut opts = delete_options(body.get("deleteOptions"), &req.params)?;
    let user_set_rv = opts.resource_version.is_some();
    let pod = from_kv(&current(&req.api, pods, ns, name).await?)?;

    // The budget whose refusal a failed precondition of our own stands for.
    let mut guarded_by = None;
    if !can_ignore_budget(&pod) {
        let pdb_info = pdb_info()?;
        let (all, _) = list_objects(&req.api, pdb_info, ns, &Params::default()).await?;
        let matching: Vec<&Value> = all.iter().filter(|p| covers(p, &pod)).collect();
        match matching.as_slice() {
            [] => {}
            [pdb] => {
                let pdb_name = objects::name(pdb).to_string();
                if unhealthy_may_go(&pod, pdb) {
                    // The pod does not count towards the budget: delete it only if it is still
                    // the pod we judged (it might have become ready meanwhile).
                    opts.resource_version = Some(
                        objects::meta_str(&pod, "resourceVersion")
                            .unwrap_or("")
                            .to_string(),
                    );
                    if !user_set_rv {
                        guarded_by = Some(pdb_name);
                    }
                } else {
                    decrement(&req.api, pdb_info, ns, &pdb_name, name, opts.dry_run).await?;
                }
            }
            _ => {
                return Err(ApiError::Internal(
                    "Internal error occurred: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
                        .into(),
                ));
            }
        }
    }
    let result = async {
        mark_disruption_target(&req.api, pods, ns, name, &mut opts).await?;
        delete_object(&req.api, pods, ns, name, &opts).await
    }
    .await;
    match (result, guarded_by) {
        (Ok(_), _) => {}
        (Err(ApiError::Conflict { .. }), Some(pdb)) => {
            // Our own precondition failed: the pod changed; the client should try again.
            return Err(still_processing(&pdb));
        }
        (Err(e), _) => return Err(e),
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(respond(&req, StatusCode::CREATED, status, &[]))
}

fn pdb_info() -> ApiResult<&'static ResourceInfo> {
    registry::find_by_plural("policy", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::Internal("poddisruptionbudgets are not registered".into()))
}

/// The eviction's `deleteOptions` (and a `dryRun=All` query), as a DELETE would take them.
fn delete_options(raw: Option<&Value>, params: &Params) -> ApiResult<DeleteOptions> {
    let raw = raw.cloned().unwrap_or_else(|| json!({}));
    let text = |p: &str| raw.pointer(p).and_then(Value::as_str).map(str::to_string);
    let opts = DeleteOptions {
        propagation: text("/propagationPolicy"),
        grace_period: raw.get("gracePeriodSeconds").and_then(Value::as_i64),
        uid: text("/preconditions/uid"),
        resource_version: text("/preconditions/resourceVersion"),
        dry_run: params.get("dryRun") == Some("All")
            || raw
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()),
    };
    match opts.propagation.as_deref() {
        None | Some("Orphan" | "Background" | "Foreground") => Ok(opts),
        Some(p) => Err(ApiError::BadRequest(format!(
            "propagationPolicy must be one of Orphan, Background or Foreground, not {p:?}"
        ))),
    }
}

/// Pods that are not running, or already going away, disrupt nothing.
fn can_ignore_budget(pod: &Value) -> bool {
    objects::is_terminating(pod)
        || matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            None | Some("Pending" | "Succeeded" | "Failed")
        )
}

/// Whether a budget's selector matches the pod (`policy/v1`: an empty selector matches every
/// pod in the namespace, a missing or invalid one none).
pub fn covers(pdb: &Value, pod: &Value) -> bool {
    let Some(raw) = pdb.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return false;
    };
    serde_json::from_value(raw.clone())
        .ok()
        .and_then(|s| Selector::from_label_selector(&s).ok())
        .is_some_and(|s| s.matches(&objects::labels(pod)))
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn status_count(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// An unready pod does not count as healthy, so evicting it costs the budget nothing when the
/// budget is met anyway (`IfHealthyBudget`), or always with `AlwaysAllow`.
fn unhealthy_may_go(pod: &Value, pdb: &Value) -> bool {
    if is_ready(pod) {
        return false;
    }
    let policy = pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str);
    let desired = status_count(pdb, "desiredHealthy");
    policy == Some("AlwaysAllow") || (status_count(pdb, "currentHealthy") >= desired && desired > 0)
}

/// 429 with Kubernetes' wording for a budget the controller has not caught up with.
fn still_processing(pdb: &str) -> ApiError {
    ApiError::TooManyRequests {
        message: VIOLATES_BUDGET.into(),
        retry_after_seconds: 10,
        causes: vec![StatusCause {
            reason: "DisruptionBudget".into(),
            message: format!("The disruption budget {pdb} is still being processed by the server."),
        }],
    }
}

/// Kubernetes' `checkAndDecrement` on the budget as stored now: refuse, or return it with one
/// disruption fewer and the pod recorded as disrupted at `now`.
pub fn check_and_decrement(pdb: &Value, pod_name: &str, now: &str) -> ApiResult<Value> {
    let name = objects::name(pdb);
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let observed = pdb
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if observed < generation {
        return Err(still_processing(name));
    }
    let allowed = status_count(pdb, "disruptionsAllowed");
    let forbidden = |why: &str| {
        ApiError::Forbidden(format!(
            "poddisruptionbudgets.policy \"{name}\" is forbidden: {why}"
        ))
    };
    if allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object);
    if disrupted.is_some_and(|d| d.len() > MAX_DISRUPTED_PODS) {
        return Err(forbidden(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(ApiError::TooManyRequests {
            message: VIOLATES_BUDGET.into(),
            retry_after_seconds: 0,
            causes: vec![StatusCause {
                reason: "DisruptionBudget".into(),
                message: format!(
                    "The disruption budget {name} needs {} healthy pods and has {} currently",
                    status_count(pdb, "desiredHealthy"),
                    status_count(pdb, "currentHealthy")
                ),
            }],
        });
    }
    let mut new = pdb.clone();
    new["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if !new["status"]["disruptedPods"].is_object() {
        new["status"]["disruptedPods"] = json!({});
    }
    new["status"]["disruptedPods"][pod_name] = json!(now);
    if allowed == 1 {
        set_condition(&mut new, "False", "InsufficientPods", now, observed);
    }
    Ok(new)
}

/// Sets the `DisruptionAllowed` condition, keeping its transition time if the status is unchanged.
fn set_condition(pdb: &mut Value, status: &str, reason: &str, now: &str, generation: i64) {
    let mut conditions: Vec<Value> = pdb["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let old = conditions
        .iter()
        .position(|c| c["type"] == "DisruptionAllowed");
    let since = old
        .map(|i| &conditions[i])
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let condition = json!({"type": "DisruptionAllowed", "status": status, "reason": reason,
        "message": "", "observedGeneration": generation, "lastTransitionTime": since});
    match old {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
    pdb["status"]["conditions"] = Value::Array(conditions);
}

/// Take one disruption from the budget, re-checking it on every compare-on-revision attempt.
async fn decrement(
    api: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    pdb: &str,
    pod: &str,
    dry_run: bool,
) -> ApiResult<()> {
    let opts = WriteOptions {
        dry_run,
        ..WriteOptions::default()
    };
    let how = Update {
        part: Part::Status,
        expected: None,
        opts: &opts,
    };
    update_with(api, info, ns, pdb, how, |old| {
        check_and_decrement(old, pod, &objects::now_rfc3339())
    })
    .await?;
    Ok(())
}

/// Kubernetes marks an evicted pod with a `DisruptionTarget` condition before deleting it. A
/// resourceVersion precondition guards this write instead, and then moves to the new version.
async fn mark_disruption_target(
    api: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &mut DeleteOptions,
) -> ApiResult<()> {
    let pod = from_kv(&current(api, info, ns, name).await?)?;
    if opts.dry_run || objects::is_terminating(&pod) {
        return Ok(());
    }
    let expected = objects::parse_rv(opts.resource_version.as_deref().unwrap_or(""))?;
    let write = WriteOptions::default();
    let how = Update {
        part: Part::Status,
        expected,
        opts: &write,
    };
    let written = update_with(api, info, ns, name, how, |old| {
        if opts.uid.as_deref().is_some_and(|u| u != objects::uid(old)) {
            // The delete reports the failed precondition.
            return Ok(old.clone());
        }
        let mut new = old.clone();
        let mut conditions: Vec<Value> = new["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["type"] != "DisruptionTarget")
            .collect();
        conditions.push(json!({"type": "DisruptionTarget", "status": "True",
            "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
            "lastProbeTime": null, "lastTransitionTime": objects::now_rfc3339()}));
        new["status"]["conditions"] = Value::Array(conditions);
        Ok(new)
    })
    .await?;
    if expected.is_some() {
        opts.resource_version =
            objects::meta_str(&written.obj, "resourceVersion").map(str::to_string);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
