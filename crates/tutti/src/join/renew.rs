//! Renewing a joined node's certificate before it expires: at a random point in the last
//! third of its validity (the jitter is logged), a new key and CSR are sent to the manager in
//! use over the current mutual-TLS identity; the answer is saved, the API client's transport
//! to that manager is swapped and the agent's serving certificate replaced. Running
//! containers are untouched: only connections are.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tutti_apiserver::serve::ReloadableCert;
use tutti_pki::{CertifiedKey, NodeCsr, NodeIdentity, RenewRequest};

use super::bootstrap;
use super::credentials::NodeCredentials;
use super::managers::Managers;

/// Everything renewal touches.
pub struct Renewer {
    pub node: NodeIdentity,
    /// The managers: renewal asks the one in use and reconnects to it.
    pub managers: Managers,
    pub pki: std::path::PathBuf,
    pub ips: Vec<std::net::IpAddr>,
    pub credentials: NodeCredentials,
    pub serving: Arc<ReloadableCert>,
}

impl Renewer {
    /// Renew forever, each time at a jittered point in the last third of the lifetime;
    /// failures retry with back-off until the certificate expires (and after: a manager may
    /// come back).
    pub async fn run(mut self) {
        loop {
            let info = match self.credentials.info() {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the node certificate; renewal stops");
                    return;
                }
            };
            let jitter: f64 = rand::random();
            let at = info.renew_at(jitter);
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            tracing::info!(
                node = %self.node.name,
                jitter,
                renew_in_s = wait.as_secs(),
                expires_in_s = info.not_after.duration_since(SystemTime::now()).unwrap_or_default().as_secs(),
                "next certificate renewal scheduled"
            );
            tokio::time::sleep(wait).await;
            let mut delay = Duration::from_secs(1);
            loop {
                match self.renew_once().await {
                    Ok(()) => break,
                    Err(e) => {
                        let left = info
                            .not_after
                            .duration_since(SystemTime::now())
                            .unwrap_or_default();
                        tracing::warn!(node = %self.node.name, error = %e, expires_in_s = left.as_secs(), "certificate renewal failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    }

    async fn renew_once(&mut self) -> anyhow::Result<()> {
        let csr = NodeCsr::generate(&self.node.name)?;
        let req = RenewRequest {
            csr: csr.csr_pem,
            ips: self.ips.clone(),
        };
        let server = self.managers.current();
        let issued = bootstrap::renew(&self.managers.client(), &server, &req).await?;
        let fresh = NodeCredentials {
            ca_pem: self.credentials.ca_pem.clone(),
            cert: CertifiedKey {
                cert_pem: issued.certificate,
                key_pem: csr.key_pem,
            },
        };
        let info = fresh.info()?;
        let (cn, _) = self.node.subject();
        if info.common_name != cn {
            anyhow::bail!(
                "the manager renewed the certificate for {:?}, not {cn:?}",
                info.common_name
            );
        }
        // New connections first, then disk: a crash in between re-joins or reuses the old
        // (still valid) pair on disk.
        let server = self.managers.renewed(&fresh).await?;
        self.serving
            .replace(&fresh.cert.cert_pem, &fresh.cert.key_pem)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        fresh.save(&self.pki)?;
        let valid_for = info
            .not_after
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tracing::info!(node = %self.node.name, manager = %server, valid_for_s = valid_for.as_secs(), "node certificate renewed");
        self.credentials = fresh;
        Ok(())
    }
}
