//! Job and CronJob validation: counts and deadlines, completion mode, restart policy of the
//! pod template, cron schedule syntax, concurrency policy.

use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use serde_json::Value;

use super::cron::CronSchedule;
use super::meta::{NameRule, Scope, nonnegative, validate_label_selector, validate_object_meta};
use super::path::{Path, go_map, go_selector, q};
use super::pod::validate_pod_template;
use crate::error::FieldError;
use crate::labels::Selector;

pub(super) fn validate_job(job: &Job) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&job.metadata, Scope::Namespaced, NameRule::Subdomain);
    let spec = job.spec.clone().unwrap_or_default();
    errs.extend(validate_job_spec(&spec, &Path::new("spec")));
    errs
}

/// `ValidateJobSpec` without the generated-selector rules (the registry adds the
/// `controller-uid` selector and labels when it creates the Job).
fn validate_job_spec(spec: &JobSpec, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let counts = [
        ("parallelism", spec.parallelism.map(i64::from)),
        ("completions", spec.completions.map(i64::from)),
        ("activeDeadlineSeconds", spec.active_deadline_seconds),
        ("backoffLimit", spec.backoff_limit.map(i64::from)),
        (
            "ttlSecondsAfterFinished",
            spec.ttl_seconds_after_finished.map(i64::from),
        ),
    ];
    for (field, value) in counts {
        if let Some(v) = value {
            errs.extend(nonnegative(v, &path.child(field)));
        }
    }
    match spec.completion_mode.as_deref() {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if spec.completions.is_none() {
                errs.push(
                    FieldError::required(path.child("completions"))
                        .with_message("when completion mode is Indexed"),
                );
            }
        }
        Some(other) => {
            errs.push(FieldError::not_supported(
                path.child("completionMode"),
                q(other),
                &["NonIndexed", "Indexed"],
            ));
        }
    }
    if let Some(policy) = spec.pod_replacement_policy.as_deref()
        && policy != "TerminatingOrFailed"
        && policy != "Failed"
    {
        errs.push(FieldError::not_supported(
            path.child("podReplacementPolicy"),
            q(policy),
            &["TerminatingOrFailed", "Failed"],
        ));
    }
    let template_path = path.child("template");
    if let Some(selector) = &spec.selector {
        let selector_path = path.child("selector");
        errs.extend(validate_label_selector(selector, &selector_path));
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref());
        if let Ok(s) = Selector::from_label_selector(selector)
            && !s.is_empty()
            && !s.matches(labels.unwrap_or(&Default::default()))
        {
            errs.push(FieldError::invalid(
                template_path.children(&["metadata", "labels"]),
                go_map(labels),
                "`selector` does not match template `labels`",
            ));
        }
    }
    errs.extend(validate_pod_template(&spec.template, &template_path));
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("");
    if restart != "OnFailure" && restart != "Never" {
        errs.push(FieldError::not_supported(
            template_path.children(&["spec", "restartPolicy"]),
            q(restart),
            &["OnFailure", "Never"],
        ));
    }
    errs
}

pub(super) fn validate_cron_job(cj: &CronJob, raw: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cj.metadata, Scope::Namespaced, NameRule::Subdomain);
    let name = cj.metadata.name.as_deref().unwrap_or("");
    if name.len() > 52 {
        errs.push(FieldError::invalid(
            "metadata.name",
            q(name),
            "must be no more than 52 characters",
        ));
    }
    let spec = cj.spec.clone().unwrap_or_default();
    let path = Path::new("spec");
    let schedule_path = path.child("schedule");
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(&schedule_path));
    } else {
        if let Err(e) = CronSchedule::parse(&spec.schedule) {
            errs.push(FieldError::invalid(&schedule_path, q(&spec.schedule), e));
        }
        if spec.schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                &schedule_path,
                q(&spec.schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    if let Some(tz) = spec.time_zone.as_deref() {
        if tz.is_empty() {
            errs.push(FieldError::invalid(
                path.child("timeZone"),
                q(tz),
                "timeZone must be nil or non-empty string",
            ));
        } else if tz.eq_ignore_ascii_case("local") {
            errs.push(FieldError::invalid(
                path.child("timeZone"),
                q(tz),
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            ));
        }
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        errs.extend(nonnegative(
            deadline,
            &path.child("startingDeadlineSeconds"),
        ));
    }
    match spec.concurrency_policy.as_deref() {
        None | Some("Allow" | "Forbid" | "Replace") => {}
        Some("") => errs.push(FieldError::required(path.child("concurrencyPolicy"))),
        Some(other) => {
            errs.push(FieldError::not_supported(
                path.child("concurrencyPolicy"),
                q(other),
                &["Allow", "Forbid", "Replace"],
            ));
        }
    }
    for (field, value) in [
        (
            "successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit,
        ),
        ("failedJobsHistoryLimit", spec.failed_jobs_history_limit),
    ] {
        if let Some(v) = value {
            errs.extend(nonnegative(i64::from(v), &path.child(field)));
        }
    }
    let job_path = path.children(&["jobTemplate", "spec"]);
    let has_job_spec = raw
        .pointer("/spec/jobTemplate/spec")
        .is_some_and(|s| !s.is_null());
    let job_spec = spec.job_template.spec.clone().unwrap_or_default();
    if !has_job_spec {
        errs.push(FieldError::required(job_path.children(&[
            "template",
            "spec",
            "containers",
        ])));
    }
    if let Some(selector) = &job_spec.selector {
        errs.push(FieldError::invalid(
            job_path.child("selector"),
            go_selector(selector),
            "`selector` will be auto-generated",
        ));
    }
    if job_spec.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(
            job_path.child("manualSelector"),
            "true",
            &["nil", "false"],
        ));
    }
    if has_job_spec {
        errs.extend(validate_job_spec(
            &JobSpec {
                selector: None,
                ..job_spec
            },
            &job_path,
        ));
    }
    errs
}
