//! The server half of the Raft transport: an axum [`Router`] answering `/raft/append`,
//! `/raft/vote`, `/raft/snapshot` and `/raft/forward` with MessagePack bodies.
//!
//! The router holds the store weakly: once the store is shut down (or dropped) every route
//! answers 503, which tells the caller to dial again (a restarted member behind the same
//! address gets a fresh connection).
//!
//! Authentication is the mounting server's job: serve this router only behind TLS that
//! requires a client certificate signed by the cluster CA, and only to managers.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::network::fatal_only;
use super::rpc::{self, Forward, ForwardResult};
use super::store::{Inner, RaftStore, lock};
use super::types::{NodeId, TypeConfig};

/// Largest request body accepted: a full append batch or one snapshot chunk fits well below.
const MAX_BODY: usize = 256 << 20;

#[derive(Clone)]
struct Served(Weak<Inner>);

impl Served {
    fn store(&self) -> Option<RaftStore> {
        let inner = self.0.upgrade()?;
        let store = RaftStore { inner };
        store.ensure_open().ok().map(|()| store)
    }
}

impl RaftStore {
    /// The Raft transport's routes, for the manager to mount next to its API (they all live
    /// under `/raft/`). Peers reach them at the address given to [`RaftStore::add_learner`].
    pub fn raft_router(&self) -> Router {
        Router::new()
            .route(rpc::APPEND, post(append))
            .route(rpc::VOTE, post(vote))
            .route(rpc::SNAPSHOT, post(snapshot))
            .route(rpc::FORWARD, post(forward))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Served(Arc::downgrade(&self.inner)))
    }
}

/// Why a request is not served.
enum Rejection {
    ShutDown,
    BadRequest(String),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::ShutDown => {
                (StatusCode::SERVICE_UNAVAILABLE, "raft store is shut down").into_response()
            }
            Rejection::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
        }
    }
}

fn msgpack<T: Serialize>(value: &T) -> Response {
    match rpc::encode(value) {
        Ok(body) => ([(header::CONTENT_TYPE, rpc::CONTENT_TYPE)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The store and the decoded request.
fn accept<T: DeserializeOwned>(served: &Served, body: &[u8]) -> Result<(RaftStore, T), Rejection> {
    let store = served.store().ok_or(Rejection::ShutDown)?;
    let request = rpc::decode(body).map_err(|e| Rejection::BadRequest(e.to_string()))?;
    Ok((store, request))
}

async fn append(State(served): State<Served>, body: Bytes) -> Response {
    let (store, request) = match accept::<AppendEntriesRequest<TypeConfig>>(&served, &body) {
        Ok(accepted) => accepted,
        Err(rejection) => return rejection.into_response(),
    };
    let result = store
        .inner
        .raft
        .append_entries(request)
        .await
        .map_err(fatal_only);
    if result.is_ok() {
        *lock(&store.inner.leader_contact) = Some(Instant::now());
    }
    msgpack(&result)
}

async fn vote(State(served): State<Served>, body: Bytes) -> Response {
    let (store, request) = match accept::<VoteRequest<NodeId>>(&served, &body) {
        Ok(accepted) => accepted,
        Err(rejection) => return rejection.into_response(),
    };
    let result = store.inner.raft.vote(request).await.map_err(fatal_only);
    msgpack(&result)
}

async fn snapshot(State(served): State<Served>, body: Bytes) -> Response {
    let (store, request) = match accept::<InstallSnapshotRequest<TypeConfig>>(&served, &body) {
        Ok(accepted) => accepted,
        Err(rejection) => return rejection.into_response(),
    };
    let result = store.inner.raft.install_snapshot(request).await;
    msgpack(&result)
}

async fn forward(State(served): State<Served>, body: Bytes) -> Response {
    let (store, request) = match accept::<Forward>(&served, &body) {
        Ok(accepted) => accepted,
        Err(rejection) => return rejection.into_response(),
    };
    let cap = store.inner.config.open_timeout;
    let budget = Duration::from_millis(request.budget_ms).min(cap);
    let name = request.op.name();
    let result: ForwardResult = store
        .serve_locally(request.op, Instant::now() + budget)
        .await;
    if let Err(e) = &result {
        tracing::debug!(op = name, error = %e, "forwarded request failed");
    }
    msgpack(&result)
}
