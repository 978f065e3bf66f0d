//! A joined node's credentials: the cluster CA and its own certificate and key under
//! `<data-dir>/pki` (`ca.crt`, `node.crt`, `node.key`), and the API client made from them.
//!
//! The client is built once and handed to the agent; the connection layer underneath it is
//! swapped ([`SwappableClient`]) in two ways. Renewal ([`SwappableClient::swap`]): requests
//! after it use the new certificate, while requests already in flight (a long watch) finish
//! on the old one. Failover ([`SwappableClient::fail_over`]): the old manager may be
//! partitioned or stopped, so requests in flight on its transport end with an error at once
//! (their callers retry, on the new transport) instead of hanging until a timeout.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use anyhow::Context as _;
use tokio::sync::watch;
use tutti_pki::{CertInfo, CertifiedKey, NodeIdentity};

/// The node's certificate and key (PEM) with the CA that signed it.
#[derive(Clone)]
pub struct NodeCredentials {
    pub ca_pem: String,
    pub cert: CertifiedKey,
}

const STEM: &str = "node";

impl NodeCredentials {
    /// Credentials left by an earlier join, if present, still valid and naming `node`.
    pub fn load(pki: &Path, node: &NodeIdentity) -> anyhow::Result<Option<NodeCredentials>> {
        let ca_path = pki.join("ca.crt");
        let Some(cert) = CertifiedKey::load(pki, STEM)? else {
            return Ok(None);
        };
        if !ca_path.exists() {
            return Ok(None);
        }
        let ca_pem = std::fs::read_to_string(&ca_path)
            .with_context(|| format!("reading {}", ca_path.display()))?;
        let info = CertInfo::parse(&cert.cert_pem)?;
        let (cn, _) = node.subject();
        if info.common_name != cn || info.not_after <= SystemTime::now() {
            return Ok(None);
        }
        // A crash between writing the key and the certificate leaves a pair that does not
        // match: join again rather than fail every handshake.
        if tutti_apiserver::serve::ReloadableCert::new(&cert.cert_pem, &cert.key_pem).is_err() {
            return Ok(None);
        }
        Ok(Some(NodeCredentials { ca_pem, cert }))
    }

    /// Write `ca.crt`, `node.crt` and `node.key` (key mode 0600).
    pub fn save(&self, pki: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(pki).with_context(|| format!("creating {}", pki.display()))?;
        let ca_path = pki.join("ca.crt");
        std::fs::write(&ca_path, &self.ca_pem)
            .with_context(|| format!("writing {}", ca_path.display()))?;
        self.cert.save(pki, STEM)?;
        Ok(())
    }

    pub fn info(&self) -> anyhow::Result<CertInfo> {
        Ok(CertInfo::parse(&self.cert.cert_pem)?)
    }

    /// A kube client for `server` (https URL) authenticating with this certificate.
    pub async fn client(&self, server: &str) -> anyhow::Result<kube::Client> {
        let yaml = tutti_pki::kubeconfig_yaml(
            "tutti",
            server,
            &self.ca_pem,
            &self.cert.cert_pem,
            &self.cert.key_pem,
        );
        let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }
}

/// Where a node's pki lives.
pub fn pki_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pki")
}

/// A client whose transport can be replaced while clones of it are in use.
#[derive(Clone)]
pub struct SwappableClient {
    current: Arc<RwLock<Transport>>,
    /// The generation of the transport in use, for responses to notice they were retired.
    generation: Arc<watch::Sender<u64>>,
}

/// The inner client and its generation: failovers start a new generation, renewals do not.
struct Transport {
    client: kube::Client,
    generation: u64,
}

impl SwappableClient {
    pub fn new(inner: kube::Client) -> SwappableClient {
        SwappableClient {
            current: Arc::new(RwLock::new(Transport {
                client: inner,
                generation: 0,
            })),
            generation: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The client to hand out: every request goes to whatever transport is current.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Certificate renewal: use `inner` for every request from now on; requests in flight
    /// finish on the transport they started on.
    pub fn swap(&self, inner: kube::Client) {
        self.replace(|t| t.client = inner);
    }

    /// Failover: use `inner` (another manager) for every request from now on, and end every
    /// request and response body still in flight on the retired transport with an error.
    pub fn fail_over(&self, inner: kube::Client) {
        self.replace(|t| {
            t.client = inner;
            t.generation += 1;
            // Under the lock, so generations are announced in order.
            self.generation.send_replace(t.generation);
        });
    }

    fn replace(&self, change: impl FnOnce(&mut Transport)) {
        match self.current.write() {
            Ok(mut t) => change(&mut t),
            // A poisoned lock holds a whole transport still (assignments do not panic midway).
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    fn current(&self) -> (kube::Client, u64) {
        let t = match self.current.read() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        (t.client.clone(), t.generation)
    }

    /// Resolves once the transport of `generation` has been retired by a failover (never,
    /// if every handle to this client is gone). Generations only grow: a request that read
    /// the new transport just before its generation was announced is not retired.
    fn retired(&self, generation: u64) -> Retirement {
        let mut rx = self.generation.subscribe();
        Box::pin(async move {
            if rx.wait_for(|g| *g > generation).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

type Retirement = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The error a request or response body on a retired transport ends with.
#[derive(Debug)]
pub struct Retired;

impl std::fmt::Display for Retired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection's manager was replaced by another (failover)")
    }
}

impl std::error::Error for Retired {}

/// A response body that ends with [`Retired`] once its transport is retired by a failover.
pub struct RetirableBody {
    inner: kube::client::Body,
    retired: Retirement,
    ended: bool,
}

impl http_body::Body for RetirableBody {
    type Data = axum::body::Bytes;
    type Error = kube::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.retired.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(Some(Err(kube::Error::Service(Box::new(Retired)))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl tower::Service<http::Request<kube::client::Body>> for SwappableClient {
    type Response = http::Response<RetirableBody>;
    type Error = kube::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, kube::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), kube::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let (client, generation) = self.current();
        let mut retired = self.retired(generation);
        Box::pin(async move {
            let response = tokio::select! {
                r = client.send(req) => r?,
                () = &mut retired => return Err(kube::Error::Service(Box::new(Retired))),
            };
            Ok(response.map(|inner| RetirableBody {
                inner,
                retired,
                ended: false,
            }))
        })
    }
}
