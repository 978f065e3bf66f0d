//! tutti-apiserver: the Kubernetes-compatible HTTP API over the tutti store.
//!
//! Request flow: TLS + authentication (`auth`, `serve`) → routing (`paths`) → authorization
//! by identity (`authz`) → the verb handlers (`handlers`) → admission (`admission`: shape,
//! unknown fields, defaults, validation) → the store. Discovery and OpenAPI (`discovery`,
//! `openapi`) are generated from the resource registry in tutti-core; `table` renders
//! server-side printing. Nodes join through `join`: bootstrap endpoints outside
//! authentication, where the join token is the credential.

pub mod admission;
pub mod alloc;
pub mod auth;
pub mod authz;
pub mod body;
pub mod bootstrap;
pub mod client;
pub mod compaction;
pub mod decoded;
pub mod discovery;
pub mod error;
pub mod handlers;
pub mod join;
pub mod negotiate;
pub mod objects;
pub mod openapi;
pub mod paths;
pub mod serve;
pub mod table;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::{any, get, post};
use tutti_store::Store;

pub use auth::{Authenticator, Identity};
pub use error::{ApiError, ApiResult};
pub use join::JoinAuthority;

/// Settings of one API server.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Service virtual IPs are allocated from this IPv4 range.
    pub service_cidr: (std::net::Ipv4Addr, u8),
    /// NodePorts are allocated from this range (inclusive).
    pub node_ports: (u16, u16),
    /// Credentials for calling node agents (`kubectl logs`); None: logs are unavailable.
    pub agent_tls: Option<Arc<rustls::ClientConfig>>,
    /// Issues node certificates for `/join/v1/*`; None: this server admits no nodes.
    pub join: Option<Arc<dyn JoinAuthority>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            service_cidr: (std::net::Ipv4Addr::new(10, 96, 0, 0), 12),
            node_ports: (30000, 32767),
            agent_tls: None,
            join: None,
        }
    }
}

/// The API server's shared state. Cheap to clone behind an `Arc`.
pub struct ApiServer {
    pub store: Arc<dyn Store>,
    pub config: ApiConfig,
    pub auth: Authenticator,
    /// Stored objects decoded once for all the watches that send them.
    pub decoded: decoded::DecodeCache,
    ready: AtomicBool,
}

impl ApiServer {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig, auth: Authenticator) -> Arc<ApiServer> {
        Arc::new(ApiServer {
            store,
            config,
            auth,
            decoded: decoded::DecodeCache::default(),
            ready: AtomicBool::new(false),
        })
    }

    /// Create the built-in namespaces and mark the server ready.
    pub async fn start(self: &Arc<Self>) -> ApiResult<()> {
        bootstrap::ensure_defaults(self).await?;
        self.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The whole HTTP surface. Authentication is enforced by a middleware layer here, and
    /// authorization by another on the resource routes; the TLS accept loop (`serve`)
    /// attaches the peer's certificate identity to each request.
    pub fn router(self: &Arc<Self>) -> Router {
        let authz = || axum::middleware::from_fn_with_state(self.clone(), authz::authorize);
        let api = Router::new()
            .route("/version", get(discovery::version))
            .route("/api", get(discovery::core_versions))
            .route("/api/v1", get(discovery::core_resources))
            .route("/apis", get(discovery::groups))
            .route("/apis/{group}", get(discovery::group))
            .route("/apis/{group}/{version}", get(discovery::group_resources))
            .route("/openapi/v2", get(openapi::v2))
            .route("/openapi/v3", get(openapi::index))
            .route("/openapi/v3/{*path}", get(openapi::document))
            .route("/api/v1/{*rest}", any(handlers::core).layer(authz()))
            .route(
                "/apis/{group}/{version}/{*rest}",
                any(handlers::grouped).layer(authz()),
            )
            .route("/join/v1/renew", post(join::renew))
            .fallback(handlers::not_found)
            // Our own limit (body::MAX_BODY) answers with a Status; this only stops the read.
            .layer(axum::extract::DefaultBodyLimit::max(body::MAX_BODY + 1))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::require,
            ));
        Router::new()
            .route("/healthz", get(health))
            .route("/livez", get(health))
            .route("/readyz", get(readyz))
            .route("/join/v1/ca", get(join::ca))
            .route("/join/v1/node", post(join::node))
            .merge(api)
            .with_state(self.clone())
    }
}

async fn health() -> &'static str {
    "ok"
}

async fn readyz(
    axum::extract::State(api): axum::extract::State<Arc<ApiServer>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if api.is_ready() {
        "ok".into_response()
    } else {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
    }
}
