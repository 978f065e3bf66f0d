//! Serving HTTPS: our own accept loop (tokio-rustls → hyper-util's auto HTTP/1+2 builder)
//! so each connection's verified client certificate becomes the requests' [`Identity`].

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::Identity;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid TLS material: {0}")]
    Tls(String),
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A rustls server config: our serving certificate, client certificates optional but, when
/// presented, verified against the cluster CA. ALPN offers h2 and http/1.1.
pub fn tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, ServeError> {
    build_tls_config(ca_pem, cert_pem, key_pem, false)
}

/// Like [`tls_config`] but a client certificate signed by the cluster CA is required: for
/// endpoints only cluster components may call (the node agent's).
pub fn tls_config_require_client(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, ServeError> {
    build_tls_config(ca_pem, cert_pem, key_pem, true)
}

fn build_tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    require_client: bool,
) -> Result<Arc<ServerConfig>, ServeError> {
    let cert = ReloadableCert::new(cert_pem, key_pem)?;
    with_resolver(ca_pem, cert, require_client)
}

/// Like [`tls_config_require_client`], serving whatever `cert` holds at each handshake: a
/// holder that renews its certificate calls [`ReloadableCert::replace`] and new connections
/// get the new one (established connections keep theirs).
pub fn tls_config_require_client_reloadable(
    ca_pem: &str,
    cert: Arc<ReloadableCert>,
) -> Result<Arc<ServerConfig>, ServeError> {
    with_resolver(ca_pem, cert, true)
}

fn tls_error(e: &dyn std::fmt::Display) -> ServeError {
    ServeError::Tls(e.to_string())
}

fn with_resolver(
    ca_pem: &str,
    cert: Arc<ReloadableCert>,
    require_client: bool,
) -> Result<Arc<ServerConfig>, ServeError> {
    let tls = |e: &dyn std::fmt::Display| tls_error(e);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    let builder = if require_client {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    let verifier = builder.build().map_err(|e| tls(&e))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A serving certificate and key that can be replaced while the server runs.
#[derive(Debug)]
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Arc<ReloadableCert>, ServeError> {
        Ok(Arc::new(ReloadableCert {
            current: RwLock::new(certified_key(cert_pem, key_pem)?),
        }))
    }

    /// Serve this certificate from the next handshake on.
    pub fn replace(&self, cert_pem: &str, key_pem: &str) -> Result<(), ServeError> {
        let fresh = certified_key(cert_pem, key_pem)?;
        match self.current.write() {
            Ok(mut c) => *c = fresh,
            // A poisoned lock only means a writer panicked mid-assignment of an Arc; the
            // value is still a whole Arc, so overwrite it.
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.current.read() {
            Ok(c) => Some(c.clone()),
            Err(poisoned) => Some(poisoned.into_inner().clone()),
        }
    }
}

fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, ServeError> {
    let tls = |e: &dyn std::fmt::Display| tls_error(e);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let signing = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| tls(&e))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| tls(&e))?;
    Ok(Arc::new(certified))
}

/// Groups whose members may call a node agent's endpoints: the API server (its client
/// certificate is in `system:masters`) and managers.
pub const CONTROL_PLANE_GROUPS: &[&str] = &["system:masters", "system:managers"];

/// Let only callers whose certificate carries one of `groups` reach `router`; others get
/// 403. For endpoints a TLS config already restricts to cluster certificates, where the role
/// matters too (a worker must not read another node's logs).
pub fn only_groups(router: Router, groups: &'static [&'static str]) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            let allowed = match req.extensions().get::<Identity>() {
                Some(Identity::User { groups: theirs, .. }) => {
                    theirs.iter().any(|g| groups.contains(&g.as_str()))
                }
                Some(Identity::Internal) => true,
                None => false,
            };
            if allowed {
                next.run(req).await
            } else {
                use axum::response::IntoResponse;
                (
                    axum::http::StatusCode::FORBIDDEN,
                    "only the control plane may call this endpoint\n",
                )
                    .into_response()
            }
        },
    ))
}

/// The user named by a verified client certificate: CN is the name, O entries the groups.
fn identity_of(cert: &CertificateDer<'_>) -> Option<Identity> {
    let (cn, orgs) = crate::serve::subject::parse(cert.as_ref())?;
    Some(Identity::User {
        name: cn,
        groups: orgs,
    })
}

/// Accept connections until the listener fails; each connection is served on its own task.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move { serve_connection(acceptor, tcp, peer, router).await });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match acceptor.accept(tcp).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
    };
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(identity_of);
    let svc = router.map_request(
        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            if let Some(id) = &identity {
                req.extensions_mut().insert(id.clone());
            }
            req.map(axum::body::Body::new)
        },
    );
    let result = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(svc))
        .await;
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

pub mod subject;
