//! Node certificates: the joining node makes a key and a certificate signing request (CSR);
//! the manager signs the CSR's public key into a certificate whose subject it decides itself
//! (the CSR's own subject and extensions are ignored), usable both to serve (the agent's
//! endpoint) and as a client (to the API server). Also: when a holder should renew.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, KeyPair,
    SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ca::set_validity;
use crate::identity::NodeIdentity;
use crate::{ClusterCa, Lifetime, PkiError};

/// A fresh private key and a CSR for it, both PEM. The key never leaves the node.
pub struct NodeCsr {
    pub key_pem: String,
    pub csr_pem: String,
}

impl NodeCsr {
    /// A new ECDSA P-256 key and a CSR naming `node_name` (informative only: the manager
    /// sets the subject from the join request and its token's role).
    pub fn generate(node_name: &str) -> Result<NodeCsr, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, node_name);
        let csr = params.serialize_request(&key)?;
        Ok(NodeCsr {
            key_pem: key.serialize_pem(),
            csr_pem: csr.pem()?,
        })
    }
}

impl ClusterCa {
    /// Sign the public key of `csr_pem` (whose self-signature is checked: the requester holds
    /// the key) for `node`: subject from the identity, SANs the node name (when it is a DNS
    /// name) and `ips`, usable for serverAuth and clientAuth.
    pub fn issue_node(
        &self,
        node: &NodeIdentity,
        csr_pem: &str,
        ips: &[IpAddr],
        lifetime: Lifetime,
    ) -> Result<String, PkiError> {
        let csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::BadCsr {
                detail: e.to_string(),
            })?;
        let mut params = CertificateParams::new(vec![node.name.clone()])?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let (cn, group) = node.subject();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, group);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params, lifetime);
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(cert.pem())
    }
}

/// What a holder needs to know about its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl CertInfo {
    /// Read the first certificate of `cert_pem`.
    pub fn parse(cert_pem: &str) -> Result<CertInfo, PkiError> {
        let bad = |detail: String| PkiError::BadCertificate {
            path: "<certificate>".into(),
            detail,
        };
        let der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| bad(e.to_string()))?;
        let subject = cert.subject();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or("")
            .to_string();
        let organizations = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        Ok(CertInfo {
            common_name,
            organizations,
            not_before: at(cert.validity().not_before.timestamp()),
            not_after: at(cert.validity().not_after.timestamp()),
        })
    }

    /// When to renew: a point in the last third of the validity period, at
    /// `2/3 + jitter * (0.9 - 2/3)` of it, so renewal happens well before expiry and a fleet
    /// of nodes issued together does not renew together. `jitter` is in `[0, 1]`.
    pub fn renew_at(&self, jitter: f64) -> SystemTime {
        let total = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        let fraction = 2.0 / 3.0 + jitter.clamp(0.0, 1.0) * (0.9 - 2.0 / 3.0);
        self.not_before + total.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    fn ca() -> (tempfile::TempDir, ClusterCa) {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        (dir, ca)
    }

    #[test]
    fn a_node_certificate_names_the_node_and_its_role_whatever_the_csr_says() {
        let (_dir, ca) = ca();
        let csr = NodeCsr::generate("system:masters-wannabe").unwrap();
        for (role, cn, o) in [
            (Role::Worker, "system:node:w1", "system:nodes"),
            (Role::Manager, "system:manager:w1", "system:managers"),
        ] {
            let id = NodeIdentity::new("w1", role).unwrap();
            let pem = ca
                .issue_node(
                    &id,
                    &csr.csr_pem,
                    &["10.0.0.5".parse().unwrap()],
                    Lifetime::default(),
                )
                .unwrap();
            let info = CertInfo::parse(&pem).unwrap();
            assert_eq!(info.common_name, cn);
            assert_eq!(info.organizations, [o]);
        }
    }

    #[test]
    fn the_certificate_serves_and_authenticates_with_the_node_key() {
        use rustls::client::danger::ServerCertVerifier;
        use std::sync::Arc;
        let (_dir, ca) = ca();
        let csr = NodeCsr::generate("w1").unwrap();
        let id = NodeIdentity::new("w1", Role::Worker).unwrap();
        let pem = ca
            .issue_node(
                &id,
                &csr.csr_pem,
                &["10.0.0.5".parse().unwrap()],
                Lifetime::default(),
            )
            .unwrap();
        let leaf = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let now = rustls::pki_types::UnixTime::now();
        let server = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .unwrap();
        for name in ["10.0.0.5", "w1"] {
            let name = rustls::pki_types::ServerName::try_from(name).unwrap();
            assert!(
                server
                    .verify_server_cert(&leaf, &[], &name, &[], now)
                    .is_ok()
            );
        }
        let client = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .unwrap();
        assert!(client.verify_client_cert(&leaf, &[], now).is_ok());
        // The certificate carries the node's own key: rustls accepts the pair.
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(csr.key_pem.as_bytes()).unwrap();
        let signing = rustls::crypto::aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(key)
            .unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![leaf], signing);
        assert!(certified.keys_match().is_ok());
    }

    #[test]
    fn a_forged_or_garbled_csr_is_refused() {
        let (_dir, ca) = ca();
        let id = NodeIdentity::new("w1", Role::Worker).unwrap();
        let csr = NodeCsr::generate("w1").unwrap();
        let mut der =
            rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(csr.csr_pem.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01; // break the signature
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let forged = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n"
        );
        for bad in [forged.as_str(), "not a csr"] {
            let err = ca.issue_node(&id, bad, &[], Lifetime::default());
            assert!(matches!(err, Err(PkiError::BadCsr { .. })), "{bad}");
        }
    }

    #[test]
    fn renewal_falls_in_the_last_third_before_expiry() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let info = CertInfo {
            common_name: String::new(),
            organizations: vec![],
            not_before: start,
            not_after: start + Duration::from_secs(900),
        };
        assert_eq!(info.renew_at(0.0), start + Duration::from_secs(600));
        assert_eq!(info.renew_at(1.0), start + Duration::from_secs(810));
        for j in [0.0, 0.25, 0.5, 0.99, 1.0, 7.0, -3.0] {
            let at = info.renew_at(j);
            assert!(
                at >= start + Duration::from_secs(600) && at < info.not_after,
                "{j}"
            );
        }
    }

    #[test]
    fn short_lifetimes_keep_their_shape() {
        let (_dir, ca) = ca();
        let csr = NodeCsr::generate("w1").unwrap();
        let id = NodeIdentity::new("w1", Role::Worker).unwrap();
        let pem = ca
            .issue_node(&id, &csr.csr_pem, &[], Lifetime(Duration::from_secs(60)))
            .unwrap();
        let info = CertInfo::parse(&pem).unwrap();
        let total = info.not_after.duration_since(info.not_before).unwrap();
        // 60s plus at most a tenth of it backdated for clock skew (not five minutes).
        assert!(total <= Duration::from_secs(67), "{total:?}");
        assert!(info.renew_at(0.0) > SystemTime::now());
    }
}
