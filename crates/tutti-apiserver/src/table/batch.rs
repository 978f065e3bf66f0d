//! Rows of batch/v1 Job and CronJob (kube's `printJob`, `printCronJob`): job status from its
//! conditions, COMPLETIONS, DURATION, and a cron job's schedule, suspension and last run.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::{age, human_duration, since, timestamp};
use super::column::{AGE, CONTAINERS, Column, IMAGES, NAME};
use super::fields::{count, flag_opt, int, int_opt, items, name, text};
use super::labels::format_label_selector;
use super::template::container_cells;

pub(super) const JOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new("Completions", "string", "The number of pods which reached phase Succeeded."),
    Column::new("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", "A label query over pods that should match the pod count. Normally, the system sets this field for you.").wide(),
];

pub(super) fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match int_opt(job, "/spec/completions") {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int_opt(job, "/spec/parallelism").unwrap_or(0) {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = timestamp(job.pointer("/status/startTime"));
    let duration = match (start, timestamp(job.pointer("/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let [containers, images] = container_cells(job, "/spec/template/spec/containers");
    vec![
        name(job),
        json!(job_status(job)),
        json!(completions),
        json!(duration),
        age(job, now),
        containers,
        images,
        json!(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

/// The STATUS of a job, in kube's order of precedence.
fn job_status(job: &Value) -> &'static str {
    // kube looks at the first condition of each type only.
    let holds = |ty: &str| {
        items(job, "/status/conditions")
            .iter()
            .find(|c| text(c, "/type") == ty)
            .is_some_and(|c| text(c, "/status") == "True")
    };
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if job
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating"
    } else if holds("Suspended") {
        "Suspended"
    } else if holds("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

pub(super) const CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    Column::new("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    Column::new("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false."),
    Column::new("Active", "integer", "A list of pointers to currently running jobs."),
    Column::new("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", "A label query over pods that should match the pod count. Normally, the system sets this field for you.").wide(),
];

pub(super) fn cron_job_cells(cron_job: &Value, now: Timestamp) -> Vec<Value> {
    let time_zone = cron_job
        .pointer("/spec/timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // `spec.suspend` defaults to false in the API, so an unset field reads "False".
    let suspend = if flag_opt(cron_job, "/spec/suspend").unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    let last_schedule = match cron_job.pointer("/status/lastScheduleTime") {
        None | Some(Value::Null) => "<none>".to_string(),
        Some(at) => since(timestamp(Some(at)), now),
    };
    let [containers, images] =
        container_cells(cron_job, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        name(cron_job),
        json!(text(cron_job, "/spec/schedule")),
        json!(time_zone),
        json!(suspend),
        json!(count(cron_job, "/status/active")),
        json!(last_schedule),
        age(cron_job, now),
        containers,
        images,
        json!(format_label_selector(
            cron_job.pointer("/spec/jobTemplate/spec/selector")
        )),
    ]
}

#[cfg(test)]
mod tests;
