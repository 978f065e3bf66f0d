//! Joining nodes: the bootstrap endpoints a node calls before it has a certificate, and
//! certificate renewal after.
//!
//! - `GET /join/v1/ca` (unauthenticated): the cluster CA, PEM. The joiner fetches it over an
//!   unverified connection and trusts it only if its SHA-256 matches the digest in its join
//!   token.
//! - `POST /join/v1/node` (unauthenticated; the join token is the credential):
//!   [`JoinRequest`] → [`Issued`]. A wrong, rotated or foreign token is a 401 `Status`.
//! - `POST /join/v1/renew` (authenticated by the node's current certificate):
//!   [`RenewRequest`] → [`Issued`], same name and role.
//!
//! The server reaches the CA and the token store through [`JoinAuthority`], set in
//! `ApiConfig::join`; without one, these endpoints answer 404.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tutti_pki::{Enrollment, Issued, JoinRequest, NodeIdentity, PkiError, RenewRequest};

use crate::ApiServer;
use crate::auth::Identity;

/// What the join endpoints need from the manager's PKI.
///
/// Contract: `join` admits a request only with a join token that is current at the time of
/// the call (a rotated token must fail from the moment rotation returns) and for the role
/// the token was made for; `renew` keeps the caller's name and role and refuses callers that
/// are not nodes or managers. Both sign only keys whose CSR signature verifies.
pub trait JoinAuthority: Send + Sync + std::fmt::Debug {
    fn ca_pem(&self) -> &str;
    fn join(&self, req: &JoinRequest) -> Result<(NodeIdentity, Issued), PkiError>;
    fn renew(
        &self,
        user: &str,
        groups: &[String],
        req: &RenewRequest,
    ) -> Result<(NodeIdentity, Issued), PkiError>;
}

impl JoinAuthority for Enrollment {
    fn ca_pem(&self) -> &str {
        Enrollment::ca_pem(self)
    }
    fn join(&self, req: &JoinRequest) -> Result<(NodeIdentity, Issued), PkiError> {
        Enrollment::join(self, req)
    }
    fn renew(
        &self,
        user: &str,
        groups: &[String],
        req: &RenewRequest,
    ) -> Result<(NodeIdentity, Issued), PkiError> {
        Enrollment::renew(self, user, groups, req)
    }
}

/// A Kubernetes `Status` for a refused join or renewal.
fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

fn refused(e: &PkiError) -> Response {
    match e {
        PkiError::BadToken { .. } | PkiError::TokenRejected(_) => {
            status(StatusCode::UNAUTHORIZED, "Unauthorized", e.to_string())
        }
        PkiError::BadCsr { .. } | PkiError::BadNodeName { .. } => {
            status(StatusCode::BAD_REQUEST, "BadRequest", e.to_string())
        }
        PkiError::NotANode { .. } => status(StatusCode::FORBIDDEN, "Forbidden", e.to_string()),
        _ => {
            tracing::error!(error = %e, "cannot issue a node certificate");
            status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("cannot issue a certificate: {e}"),
            )
        }
    }
}

fn authority(api: &ApiServer) -> Result<&Arc<dyn JoinAuthority>, Box<Response>> {
    api.config.join.as_ref().ok_or_else(|| {
        Box::new(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "this API server does not admit nodes (it has no join authority)".into(),
        ))
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("invalid request body: {e}"),
        ))
    })
}

/// `GET /join/v1/ca`
pub async fn ca(State(api): State<Arc<ApiServer>>) -> Response {
    match authority(&api) {
        Ok(a) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            a.ca_pem().to_string(),
        )
            .into_response(),
        Err(r) => *r,
    }
}

/// `POST /join/v1/node`
pub async fn node(State(api): State<Arc<ApiServer>>, body: Bytes) -> Response {
    let authority = match authority(&api) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let req: JoinRequest = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match authority.join(&req) {
        Ok((node, issued)) => {
            tracing::info!(node = %node.name, role = %node.role, "node joined: certificate issued");
            axum::Json(issued).into_response()
        }
        Err(e) => {
            tracing::warn!(node = %req.node_name, role = %req.role, error = %e, "join refused");
            refused(&e)
        }
    }
}

/// `POST /join/v1/renew`
pub async fn renew(
    State(api): State<Arc<ApiServer>>,
    identity: Option<Extension<Identity>>,
    body: Bytes,
) -> Response {
    let authority = match authority(&api) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let (user, groups) = match identity.as_deref() {
        Some(Identity::User { name, groups }) => (name.as_str(), groups.as_slice()),
        _ => {
            return status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "only nodes and managers renew certificates here, with their current one".into(),
            );
        }
    };
    let req: RenewRequest = match parse(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match authority.renew(user, groups, &req) {
        Ok((node, issued)) => {
            tracing::info!(node = %node.name, role = %node.role, "node certificate renewed");
            axum::Json(issued).into_response()
        }
        Err(e) => {
            tracing::warn!(user, error = %e, "renewal refused");
            refused(&e)
        }
    }
}
