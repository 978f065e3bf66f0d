//! API errors, rendered as Kubernetes `Status` objects with the HTTP code, reason and
//! per-field causes that kubectl and client libraries read.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tutti_core::FieldError;
use tutti_store::StoreError;

/// An error answered to a client. `kind`/`name` describe the object it is about.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    #[error("{message}")]
    ConflictMessage {
        resource: String,
        name: String,
        message: String,
    },
    #[error("{group_kind} \"{name}\" is invalid: {}", join_causes(causes))]
    Invalid {
        group_kind: String,
        kind: String,
        name: String,
        causes: Vec<FieldError>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// 403 with the `NamespaceTerminating` cause controllers look for (they stop creating
    /// instead of retrying and reporting every refusal).
    #[error(
        "{resource} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated"
    )]
    NamespaceTerminating {
        resource: String,
        name: String,
        namespace: String,
    },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("the request body is too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    #[error("the server does not support the content type {0}")]
    UnsupportedMediaType(String),
    #[error("too old resource version: {requested} ({compacted})")]
    Gone { requested: i64, compacted: i64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// 429: the request may succeed later (an eviction a disruption budget refuses now).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        /// Sent as `details.retryAfterSeconds` and a `Retry-After` header when non-zero.
        retry_after_seconds: u32,
        causes: Vec<StatusCause>,
    },
}

/// One `details.causes` entry of a `Status` that is not about a field
/// (`{reason: DisruptionBudget, message: ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCause {
    pub reason: String,
    pub message: String,
}

/// `details.name`, `.group` and `.kind` of the object an error is about; `resource` is
/// `plural[.group]` (Kubernetes puts the resource in `kind` here).
fn object_details(details: &mut serde_json::Map<String, Value>, resource: &str, name: &str) {
    let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
    details.insert("name".into(), json!(name));
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    details.insert("kind".into(), json!(kind));
}

fn join_causes(causes: &[FieldError]) -> String {
    let parts: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::NoSuchResource => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ConflictMessage { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) | ApiError::NamespaceTerminating { .. } => StatusCode::FORBIDDEN,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoSuchResource => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ConflictMessage { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Forbidden(_) | ApiError::NamespaceTerminating { .. } => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Gone { .. } => "Expired",
            ApiError::Unavailable(_) => "ServiceUnavailable",
            ApiError::Internal(_) => "InternalError",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
        }
    }

    /// The `Status` object Kubernetes would send for this error.
    pub fn status(&self) -> Value {
        let mut details = serde_json::Map::new();
        match self {
            ApiError::NotFound { resource, name }
            | ApiError::AlreadyExists { resource, name }
            | ApiError::Conflict { resource, name }
            | ApiError::ConflictMessage { resource, name, .. } => {
                object_details(&mut details, resource, name);
            }
            ApiError::Invalid {
                group_kind,
                kind,
                name,
                causes,
            } => {
                let group = group_kind.split_once('.').map(|(_, g)| g).unwrap_or("");
                details.insert("name".into(), json!(name));
                if !group.is_empty() {
                    details.insert("group".into(), json!(group));
                }
                details.insert("kind".into(), json!(kind));
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason.as_cause(), "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
            ApiError::NamespaceTerminating {
                resource,
                name,
                namespace,
            } => {
                object_details(&mut details, resource, name);
                details.insert(
                    "causes".into(),
                    json!([{
                        "reason": "NamespaceTerminating",
                        "message": format!("namespace {namespace} is being terminated"),
                        "field": "metadata.namespace",
                    }]),
                );
            }
            ApiError::TooManyRequests {
                retry_after_seconds,
                causes,
                ..
            } => {
                if !causes.is_empty() {
                    let causes: Vec<Value> = causes
                        .iter()
                        .map(|c| json!({"reason": c.reason, "message": c.message}))
                        .collect();
                    details.insert("causes".into(), Value::Array(causes));
                }
                if *retry_after_seconds > 0 {
                    details.insert("retryAfterSeconds".into(), json!(retry_after_seconds));
                }
            }
            _ => {}
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal(_)) {
            tracing::error!(error = %self, "internal error");
        }
        let mut resp = (self.code(), axum::Json(self.status())).into_response();
        if let ApiError::TooManyRequests {
            retry_after_seconds,
            ..
        } = self
            && retry_after_seconds > 0
        {
            resp.headers_mut()
                .insert("Retry-After", retry_after_seconds.into());
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::Gone {
                requested,
                compacted,
            },
            StoreError::FutureRevision { requested, current } => ApiError::Unavailable(format!(
                "Too large resource version: {requested}, current resource version: {current}"
            )),
            StoreError::NotLeader { .. } | StoreError::Unavailable(_) | StoreError::Shutdown => {
                ApiError::Unavailable(e.to_string())
            }
            StoreError::Lagged | StoreError::Storage(_) => ApiError::Internal(e.to_string()),
            #[allow(unreachable_patterns)]
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
