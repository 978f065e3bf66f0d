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
