//! REST calls through kube's client: JSON in and out, the server's `Warning` headers shown on
//! stderr, and failures kept as the server's `Status` (reason, message, field causes) so each
//! command can word them like kubectl.

use std::fmt;

use kube::core::Status;
use serde_json::Value;

use crate::config::Context;

/// The `Accept` header asking for the server-side printed `Table` (kubectl's).
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with an error `Status`.
    Server(Box<Status>),
    /// The server could not be reached, or the connection broke.
    Transport { server: String, error: kube::Error },
    /// The server answered 2xx with a body that is not JSON.
    Decode(String),
}

impl ApiError {
    /// The HTTP code of a server error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Server(s) => Some(s.code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// kubectl's wording: `Error from server (NotFound): deployments.apps "x" not found`.
    pub fn from_server(&self) -> String {
        match self {
            ApiError::Server(s) if !s.reason.is_empty() => {
                format!("Error from server ({}): {self}", s.reason)
            }
            ApiError::Server(_) => format!("Error from server: {self}"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for ApiError {
    /// A server error prints its field causes (`spec.replicas: Invalid value: -1: ...`) when it
    /// has them, otherwise its message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Server(s) => {
                let causes: Vec<String> = s
                    .details
                    .iter()
                    .flat_map(|d| d.causes.iter())
                    .map(|c| {
                        if c.field.is_empty() {
                            c.message.clone()
                        } else {
                            format!("{}: {}", c.field, c.message)
                        }
                    })
                    .collect();
                if causes.is_empty() {
                    let msg = if s.message.is_empty() {
                        "the server reported an error without a message"
                    } else {
                        &s.message
                    };
                    write!(f, "{msg}")
                } else {
                    write!(f, "{}", causes.join("; "))
                }
            }
            ApiError::Transport { server, error } => {
                write!(
                    f,
                    "cannot reach the API server at {server}: {}; is it running? (`tutti dev` starts one)",
                    root_cause(error)
                )
            }
            ApiError::Decode(msg) => write!(f, "the server's answer is not valid JSON: {msg}"),
        }
    }
}

impl std::error::Error for ApiError {}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Sends `req` and returns the JSON body; prints the response's warnings to stderr.
pub async fn send(ctx: &Context, req: http::Request<Vec<u8>>) -> Result<Value, ApiError> {
    let transport = |error| ApiError::Transport {
        server: ctx.server.clone(),
        error,
    };
    let res = ctx
        .client
        .send(req.map(kube::client::Body::from))
        .await
        .map_err(transport)?;
    print_warnings(res.headers());
    let status = res.status();
    let body = res.into_body().collect_bytes().await.map_err(transport)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()));
    }
    Err(ApiError::Server(Box::new(error_status(
        status.as_u16(),
        &body,
    ))))
}

/// The error body as a `Status`; a body that is not one (a proxy's page) becomes the message.
fn error_status(code: u16, body: &[u8]) -> Status {
    match serde_json::from_slice::<Status>(body) {
        Ok(mut s) if !s.message.is_empty() || s.details.is_some() => {
            if s.code == 0 {
                s.code = code;
            }
            s
        }
        _ => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            let message = if text.is_empty() {
                format!("the server answered HTTP {code}")
            } else {
                text
            };
            Status::failure(&message, "").with_code(code)
        }
    }
}

/// Prints `Warning: ...` for each `Warning: 299 - "text"` header, as kubectl does.
fn print_warnings(headers: &http::HeaderMap) {
    for value in headers.get_all(http::header::WARNING) {
        if let Ok(v) = value.to_str() {
            eprintln!("Warning: {}", warning_text(v));
        }
    }
}

/// The text of an RFC 7234 warning value (`299 - "text"`); other shapes are shown whole.
fn warning_text(value: &str) -> &str {
    let mut parts = value.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(code), Some(_agent), Some(text))
            if code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()) =>
        {
            let text = text.trim();
            let text = text.strip_prefix('"').unwrap_or(text);
            // A date may follow the quoted text; cut at the closing quote.
            match text.rfind('"') {
                Some(i) => &text[..i],
                None => text,
            }
        }
        _ => value,
    }
}

/// Sets the request's `Accept` header.
pub fn accept(mut req: http::Request<Vec<u8>>, value: &'static str) -> http::Request<Vec<u8>> {
    req.headers_mut()
        .insert(http::header::ACCEPT, http::HeaderValue::from_static(value));
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn warnings_show_their_text() {
        assert_eq!(
            warning_text("299 - \"spec.x is deprecated\""),
            "spec.x is deprecated"
        );
        assert_eq!(
            warning_text("299 tutti \"a \\\"b\\\"\" \"Mon, 01 Jan 2024\""),
            "a \\\"b\\\"\" \"Mon, 01 Jan 2024"
        );
        assert_eq!(warning_text("plain"), "plain");
    }

    #[test]
    fn invalid_objects_print_their_field_causes() {
        let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
            "message": "Deployment.apps \"web\" is invalid: spec.template.spec.containers[0].image: Required value",
            "details": {"name": "web", "group": "apps", "kind": "Deployment",
                "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers[0].image"}]}});
        let err = ApiError::Server(Box::new(error_status(422, body.to_string().as_bytes())));
        assert_eq!(
            err.to_string(),
            "spec.template.spec.containers[0].image: Required value"
        );
        assert_eq!(err.code(), Some(422));
    }

    #[test]
    fn not_found_reads_like_kubectl() {
        let body = json!({"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound",
            "message": "deployments.apps \"x\" not found", "details": {"name": "x", "group": "apps", "kind": "deployments"}});
        let err = ApiError::Server(Box::new(error_status(404, body.to_string().as_bytes())));
        assert!(err.is_not_found());
        assert_eq!(
            err.from_server(),
            "Error from server (NotFound): deployments.apps \"x\" not found"
        );
        let html = ApiError::Server(Box::new(error_status(502, b"<html>bad gateway</html>")));
        assert_eq!(
            (html.code(), html.to_string()),
            (Some(502), "<html>bad gateway</html>".to_string())
        );
    }
}
