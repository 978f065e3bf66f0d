//! A joined node's credentials: the cluster CA and its own certificate and key under
//! `<data-dir>/pki` (`ca.crt`, `node.crt`, `node.key`), and the API client made from them.
//!
//! The client is built once and handed to the agent; renewal swaps the connection layer
//! underneath it ([`SwappableClient`]): requests after a swap use the new certificate, while
//! requests already in flight (a long watch) finish on the old one.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use anyhow::Context as _;
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
    current: Arc<RwLock<kube::Client>>,
}

impl SwappableClient {
    pub fn new(inner: kube::Client) -> SwappableClient {
        SwappableClient {
            current: Arc::new(RwLock::new(inner)),
        }
    }

    /// The client to hand out: every request goes to whatever transport is current.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Use `inner` for every request from now on.
    pub fn swap(&self, inner: kube::Client) {
        match self.current.write() {
            Ok(mut c) => *c = inner,
            // A poisoned lock holds a whole client still (assignment does not panic midway).
            Err(poisoned) => *poisoned.into_inner() = inner,
        }
    }

    fn current(&self) -> kube::Client {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl tower::Service<http::Request<kube::client::Body>> for SwappableClient {
    type Response = http::Response<kube::client::Body>;
    type Error = kube::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, kube::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), kube::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
        let client = self.current();
        Box::pin(async move { client.send(req).await })
    }
}
