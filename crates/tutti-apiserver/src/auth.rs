//! Authentication: who is calling. A request is allowed in if it carries a client
//! certificate signed by the cluster CA (verified by the TLS layer, see `serve`), a known
//! bearer token, or comes from an in-process client. Everything else gets 401, except the
//! health endpoints and the join bootstrap endpoints (`join`: the join token is their
//! credential), which are routed outside this layer. What an identity may do is `authz`'s.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use tutti_pki::constant_time_eq;

use crate::ApiServer;
use crate::error::ApiError;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A user from a client certificate (CN) or a bearer token.
    User { name: String, groups: Vec<String> },
    /// A component inside this process (controllers, scheduler) using the in-process client.
    Internal,
}

/// Credentials the server accepts besides CA-signed client certificates.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    /// Bearer token of the cluster admin.
    pub admin_token: Option<String>,
}

impl Authenticator {
    fn by_token(&self, token: &str) -> Option<Identity> {
        let admin = self.admin_token.as_deref()?;
        constant_time_eq(admin.as_bytes(), token.as_bytes()).then(|| Identity::User {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
        })
    }
}

/// Middleware: let the request through only with an identity.
pub async fn require(State(api): State<Arc<ApiServer>>, mut req: Request, next: Next) -> Response {
    if req.extensions().get::<Identity>().is_none() {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match token.and_then(|t| api.auth.by_token(t)) {
            Some(id) => {
                req.extensions_mut().insert(id);
            }
            None => return ApiError::Unauthorized.into_response(),
        }
    }
    next.run(req).await
}
