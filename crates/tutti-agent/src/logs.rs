//! The log endpoint the API server proxies `kubectl logs` to:
//! `GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&sinceSeconds=&sinceTime=&timestamps=&previous=&limitBytes=`
//! (the container may be left out for single-container pods). [`LogState`] knows each
//! container's current and previous attempt; pod workers keep it up to date.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use tracing::debug;
use tutti_runtime::{LogOptions, RuntimeDriver};

#[derive(Clone, Debug, Default)]
struct Attempts {
    current: Option<String>,
    previous: Option<String>,
}

struct PodEntry {
    uid: String,
    driver: Arc<dyn RuntimeDriver>,
    containers: BTreeMap<String, Attempts>,
}

type Index = HashMap<(String, String), PodEntry>;

/// Where each pod's container logs are. Cheap to clone; shared with the running agent.
#[derive(Clone, Default)]
pub struct LogState {
    pods: Arc<RwLock<Index>>,
}

/// Why a log request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for LogError {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

fn not_found(message: String) -> LogError {
    LogError {
        status: StatusCode::NOT_FOUND,
        message,
    }
}

fn bad_request(message: String) -> LogError {
    LogError {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

impl LogState {
    pub fn new() -> LogState {
        LogState::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        // A panic while holding the lock cannot leave the map inconsistent: every write
        // is a single insert or remove.
        self.pods.write().unwrap_or_else(|p| p.into_inner())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_container(
        &self,
        namespace: &str,
        pod: &str,
        uid: &str,
        driver: Arc<dyn RuntimeDriver>,
        container: &str,
        current: Option<String>,
        previous: Option<String>,
    ) {
        let mut pods = self.write();
        let key = (namespace.to_string(), pod.to_string());
        let entry = pods.entry(key).or_insert_with(|| PodEntry {
            uid: uid.to_string(),
            driver: driver.clone(),
            containers: BTreeMap::new(),
        });
        if entry.uid != uid {
            // A new pod with the same name replaced the old one.
            entry.uid = uid.to_string();
            entry.containers.clear();
        }
        entry.driver = driver;
        entry
            .containers
            .insert(container.to_string(), Attempts { current, previous });
    }

    pub(crate) fn remove_pod(&self, namespace: &str, pod: &str, uid: &str) {
        let mut pods = self.write();
        let key = (namespace.to_string(), pod.to_string());
        if pods.get(&key).is_some_and(|e| e.uid == uid) {
            pods.remove(&key);
        }
    }

    /// The driver and container id serving a log request.
    pub fn resolve(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<(Arc<dyn RuntimeDriver>, String), LogError> {
        let pods = self.pods.read().unwrap_or_else(|p| p.into_inner());
        let entry = pods
            .get(&(namespace.to_string(), pod.to_string()))
            .ok_or_else(|| {
                not_found(format!("pod {namespace}/{pod} is not running on this node"))
            })?;
        let names: Vec<&str> = entry.containers.keys().map(String::as_str).collect();
        let name = match container {
            Some(c) => c,
            None if names.len() == 1 => names[0],
            None => {
                return Err(bad_request(format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        };
        let attempts = entry
            .containers
            .get(name)
            .ok_or_else(|| bad_request(format!("container {name} is not valid for pod {pod}")))?;
        let id = if previous {
            attempts.previous.clone().ok_or_else(|| {
                not_found(format!(
                    "previous terminated container \"{name}\" in pod \"{pod}\" not found"
                ))
            })?
        } else {
            attempts.current.clone().ok_or_else(|| {
                bad_request(format!(
                    "container \"{name}\" in pod \"{pod}\" is waiting to start"
                ))
            })?
        };
        Ok((entry.driver.clone(), id))
    }
}

/// Go's `strconv.ParseBool`, as kubelet reads query flags.
fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, LogError> {
    match q.get(name).map(String::as_str) {
        None => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(bad_request(format!(
            "invalid {name}: {v:?} is not a boolean"
        ))),
    }
}

fn number(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, LogError> {
    q.get(name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| bad_request(format!("invalid {name}: {v:?} is not a number")))
        })
        .transpose()
}

/// The driver options of a query; also whether `previous` was asked and `limitBytes`.
pub fn parse_query(
    q: &HashMap<String, String>,
) -> Result<(LogOptions, bool, Option<u64>), LogError> {
    let since_seconds = number(q, "sinceSeconds")?;
    let since_time = q
        .get("sinceTime")
        .map(|t| {
            t.parse::<Timestamp>()
                .map(SystemTime::from)
                .map_err(|e| bad_request(format!("invalid sinceTime {t:?}: {e}")))
        })
        .transpose()?;
    let since = match (since_seconds, since_time) {
        (Some(s), _) if s > 0 => SystemTime::now().checked_sub(Duration::from_secs(s as u64)),
        (_, t) => t,
    };
    let opts = LogOptions {
        follow: flag(q, "follow")?,
        tail: number(q, "tailLines")?.and_then(|n| u64::try_from(n).ok()),
        since,
        timestamps: flag(q, "timestamps")?,
    };
    let limit = number(q, "limitBytes")?.and_then(|n| u64::try_from(n).ok());
    Ok((opts, flag(q, "previous")?, limit))
}

/// Serve `GET /containerLogs/...` from `state`. TLS and authentication are the caller's.
pub fn log_router(state: LogState) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/containerLogs/{namespace}/{pod}", get(only_container_logs))
        .with_state(state)
}

async fn container_logs(
    State(state): State<LogState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, LogError> {
    stream_logs(&state, &namespace, &pod, Some(&container), &q).await
}

async fn only_container_logs(
    State(state): State<LogState>,
    Path((namespace, pod)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, LogError> {
    stream_logs(&state, &namespace, &pod, None, &q).await
}

async fn stream_logs(
    state: &LogState,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Response, LogError> {
    let (opts, previous, limit) = parse_query(q)?;
    let (driver, id) = state.resolve(namespace, pod, container, previous)?;
    debug!(pod = %format!("{namespace}/{pod}"), id = %id, follow = opts.follow, "serving logs");
    let stream = driver.logs(&id, &opts).await.map_err(|e| LogError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("cannot read logs of container {id}: {e}"),
    })?;
    let body = match limit {
        None => Body::from_stream(stream),
        Some(limit) => {
            let limited = stream
                .scan(limit, |left, chunk| {
                    let out = match chunk {
                        Ok(_) if *left == 0 => None,
                        Ok(mut bytes) => {
                            let take = usize::try_from(*left)
                                .unwrap_or(usize::MAX)
                                .min(bytes.len());
                            *left -= take as u64;
                            Some(Ok(bytes.split_to(take)))
                        }
                        Err(e) => Some(Err(e)),
                    };
                    futures::future::ready(out)
                })
                .boxed();
            Body::from_stream(limited)
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_options() {
        let (opts, previous, limit) = parse_query(&q(&[
            ("follow", "true"),
            ("tailLines", "10"),
            ("timestamps", "1"),
            ("previous", "false"),
            ("limitBytes", "100"),
            ("sinceTime", "2024-01-02T03:04:05Z"),
        ]))
        .unwrap();
        assert!(opts.follow && opts.timestamps && !previous);
        assert_eq!(opts.tail, Some(10));
        assert_eq!(limit, Some(100));
        let want: Timestamp = "2024-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(opts.since, Some(SystemTime::from(want)));
        let (opts, _, _) = parse_query(&q(&[("sinceSeconds", "60")])).unwrap();
        let age = SystemTime::now()
            .duration_since(opts.since.unwrap())
            .unwrap();
        assert!(age >= Duration::from_secs(60) && age < Duration::from_secs(70));
        assert!(parse_query(&q(&[("follow", "yes")])).is_err());
        assert!(parse_query(&q(&[("tailLines", "ten")])).is_err());
    }
}
