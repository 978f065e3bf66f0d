//! The in-process client: a `kube::Client` whose transport is this server's router called
//! directly (no socket, no TLS), with the `Internal` identity. Controllers and the scheduler
//! in the manager process use it, so every write goes through the same admission path.

use std::sync::Arc;

use tower::ServiceExt;

use crate::{ApiServer, Identity};

pub fn in_process_client(api: &Arc<ApiServer>) -> kube::Client {
    let svc = api
        .router()
        .map_request(|req: axum::http::Request<kube::client::Body>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(Identity::Internal);
            req
        });
    kube::Client::new(svc, "default")
}

/// An API server over an in-memory store, bootstrapped, with its in-process client: the real
/// API for tests of components (controllers, scheduler, agent) without sockets or TLS.
pub async fn test_server() -> crate::ApiResult<(Arc<ApiServer>, kube::Client)> {
    let store: Arc<dyn tutti_store::Store> = Arc::new(tutti_store::memory::MemoryStore::new());
    let api = ApiServer::new(
        store,
        crate::ApiConfig::default(),
        crate::Authenticator::default(),
    );
    api.start().await?;
    let client = in_process_client(&api);
    Ok((api, client))
}
