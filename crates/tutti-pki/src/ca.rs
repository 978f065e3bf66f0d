//! The cluster CA: created once, loaded on every start, signs serving and client certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::{PkiError, files};

const CA_COMMON_NAME: &str = "tutti-ca";

/// How long an issued certificate is valid.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime(pub Duration);

impl Default for Lifetime {
    /// 90 days, renewed by its holder in the last third.
    fn default() -> Self {
        Lifetime(Duration::from_secs(90 * 24 * 3600))
    }
}

/// A certificate with its private key, both PEM.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster's root CA. Its key never leaves the manager's data directory.
pub struct ClusterCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params() -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    dn.push(DnType::OrganizationName, "tutti");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

impl ClusterCa {
    /// Load the CA from `<dir>/ca.crt` and `<dir>/ca.key`, creating both on first use.
    pub fn load_or_create(dir: &Path) -> Result<ClusterCa, PkiError> {
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        if cert_path.exists() && key_path.exists() {
            let cert_pem = files::read(&cert_path)?;
            let key_pem = files::read(&key_path)?;
            let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadPem {
                path: key_path.clone(),
                detail: e.to_string(),
            })?;
            return Ok(ClusterCa {
                cert_pem,
                issuer: Issuer::new(ca_params()?, key),
            });
        }
        let key = KeyPair::generate()?;
        let mut params = ca_params()?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key)?;
        files::write(&key_path, &key.serialize_pem(), 0o600)?;
        files::write(&cert_path, &cert.pem(), 0o644)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(ca_params()?, key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A serving certificate for the given DNS names and IP addresses.
    pub fn issue_server(
        &self,
        dns: &[String],
        ips: &[IpAddr],
        lifetime: Lifetime,
    ) -> Result<CertifiedKey, PkiError> {
        let mut params = CertificateParams::new(dns.to_vec())?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params
            .distinguished_name
            .push(DnType::CommonName, "tutti-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, lifetime)
    }

    /// A client certificate: `common_name` is the user name, `groups` become Organization
    /// entries (as Kubernetes reads them).
    pub fn issue_client(
        &self,
        common_name: &str,
        groups: &[&str],
        lifetime: Lifetime,
    ) -> Result<CertifiedKey, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, lifetime)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        lifetime: Lifetime,
    ) -> Result<CertifiedKey, PkiError> {
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + lifetime.0;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl CertifiedKey {
    /// Load `<stem>.crt` / `<stem>.key` from `dir` if both exist.
    pub fn load(dir: &Path, stem: &str) -> Result<Option<CertifiedKey>, PkiError> {
        let (c, k) = paths(dir, stem);
        if !(c.exists() && k.exists()) {
            return Ok(None);
        }
        Ok(Some(CertifiedKey {
            cert_pem: files::read(&c)?,
            key_pem: files::read(&k)?,
        }))
    }

    /// Save as `<stem>.crt` / `<stem>.key` (key mode 0600).
    pub fn save(&self, dir: &Path, stem: &str) -> Result<(), PkiError> {
        let (c, k) = paths(dir, stem);
        files::write(&k, &self.key_pem, 0o600)?;
        files::write(&c, &self.cert_pem, 0o644)
    }
}

fn paths(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        let again = ClusterCa::load_or_create(dir.path()).unwrap();
        assert_eq!(ca.cert_pem(), again.cert_pem());
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    #[test]
    fn issued_certificates_chain_to_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        let server = ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                Lifetime::default(),
            )
            .unwrap();
        // A reloaded CA must sign certificates that verify against the original CA cert.
        let reloaded = ClusterCa::load_or_create(dir.path()).unwrap();
        let client = reloaded
            .issue_client("admin", &["system:masters"], Lifetime::default())
            .unwrap();
        assert!(
            verify_server(ca.cert_pem(), &server.cert_pem),
            "serving certificate does not chain to the CA"
        );
        assert!(
            verify_client(ca.cert_pem(), &client.cert_pem),
            "client certificate does not chain to the CA"
        );
        // A certificate from another CA is refused.
        let other = tempfile::tempdir().unwrap();
        let stranger = ClusterCa::load_or_create(other.path())
            .unwrap()
            .issue_client("eve", &[], Lifetime::default())
            .unwrap();
        assert!(!verify_client(ca.cert_pem(), &stranger.cert_pem));
    }

    fn parts(
        ca_pem: &str,
        leaf_pem: &str,
    ) -> (
        rustls::RootCertStore,
        rustls::pki_types::CertificateDer<'static>,
    ) {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        (
            roots,
            CertificateDer::from_pem_slice(leaf_pem.as_bytes()).unwrap(),
        )
    }

    fn verify_client(ca_pem: &str, leaf_pem: &str) -> bool {
        let (roots, leaf) = parts(ca_pem, leaf_pem);
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        verifier
            .verify_client_cert(&leaf, &[], rustls::pki_types::UnixTime::now())
            .is_ok()
    }

    fn verify_server(ca_pem: &str, leaf_pem: &str) -> bool {
        let (roots, leaf) = parts(ca_pem, leaf_pem);
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], rustls::pki_types::UnixTime::now())
            .is_ok()
    }
}
