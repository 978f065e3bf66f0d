//! The cluster CA: created once, loaded on every start, signs serving and client certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::sealed::Kek;
use crate::{PkiError, files};

const CA_COMMON_NAME: &str = "tutti-ca";
/// Binds the sealed CA key to its role (the AEAD's associated data).
const KEY_LABEL: &str = "tutti ca.key";

fn seal_key(key_pem: &str, kek: &Path, sealed_path: &Path) -> Result<(), PkiError> {
    let sealed = Kek::load_or_create(kek)?.seal(key_pem.as_bytes(), KEY_LABEL)?;
    files::write(sealed_path, &sealed, 0o600)
}

/// How long an issued certificate is valid.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime(pub Duration);

impl Default for Lifetime {
    /// 90 days, renewed by its holder in the last third.
    fn default() -> Self {
        Lifetime(Duration::from_secs(90 * 24 * 3600))
    }
}

impl std::str::FromStr for Lifetime {
    type Err = String;
    /// `<n>s`, `<n>m`, `<n>h` or `<n>d`: `90d`, `2m`.
    fn from_str(s: &str) -> Result<Lifetime, String> {
        let bad = || format!("{s:?} is not a lifetime: use a number and s, m, h or d (90d, 2m)");
        let unit = s.chars().last().ok_or_else(bad)?;
        let n: u64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        if n == 0 {
            return Err(format!("{s:?}: a certificate lifetime must be positive"));
        }
        Ok(Lifetime(Duration::from_secs(n.saturating_mul(secs))))
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
    pub(crate) issuer: Issuer<'static, KeyPair>,
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
    /// Load the CA from `<dir>/ca.crt` and `<dir>/ca.key.enc` (sealed under the KEK at
    /// `<dir>/kek`), creating all three on first use. See [`ClusterCa::load_or_create_with_kek`].
    pub fn load_or_create(dir: &Path) -> Result<ClusterCa, PkiError> {
        ClusterCa::load_or_create_with_kek(dir, &dir.join("kek"))
    }

    /// Load the CA from `<dir>/ca.crt` and `<dir>/ca.key.enc`, opening the key with the KEK at
    /// `kek`; create them (and the KEK if absent) on first use. A plaintext `<dir>/ca.key` left
    /// by an older version is sealed and removed. The threat model is in [`crate::sealed`].
    pub fn load_or_create_with_kek(dir: &Path, kek: &Path) -> Result<ClusterCa, PkiError> {
        let cert_path = dir.join("ca.crt");
        let sealed_path = dir.join("ca.key.enc");
        let plain_path = dir.join("ca.key");
        if cert_path.exists() {
            let cert_pem = files::read(&cert_path)?;
            let key_pem = if sealed_path.exists() {
                if !kek.exists() {
                    return Err(PkiError::MissingKek {
                        sealed: sealed_path,
                        kek: kek.to_owned(),
                    });
                }
                let sealed = files::read(&sealed_path)?;
                let plain = Kek::load(kek)?.open(&sealed, KEY_LABEL, &sealed_path)?;
                String::from_utf8(plain).map_err(|_| PkiError::Unseal {
                    path: sealed_path.clone(),
                })?
            } else if plain_path.exists() {
                let key_pem = files::read(&plain_path)?;
                seal_key(&key_pem, kek, &sealed_path)?;
                std::fs::remove_file(&plain_path).map_err(|source| PkiError::Io {
                    path: plain_path.clone(),
                    source,
                })?;
                key_pem
            } else {
                return Err(PkiError::BadFile {
                    path: cert_path,
                    detail: format!(
                        "the CA certificate is here but its key ({}) is not",
                        sealed_path.display()
                    ),
                });
            };
            let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadPem {
                path: sealed_path.clone(),
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
        seal_key(&key.serialize_pem(), kek, &sealed_path)?;
        files::write(&cert_path, &cert.pem(), 0o644)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(ca_params()?, key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PEM). Only for handing the CA to a manager joining the cluster,
    /// over mutual TLS with that manager's certificate: every manager can issue certificates.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Keep a CA received from another manager in `dir`: `ca.crt`, and the key sealed under
    /// the KEK at `kek` (created if absent). Refuses when `dir` already holds a CA, so a
    /// manager never swaps the cluster it trusts.
    pub fn install(
        dir: &Path,
        kek: &Path,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<ClusterCa, PkiError> {
        let cert_path = dir.join("ca.crt");
        let sealed_path = dir.join("ca.key.enc");
        // The CA certificate alone may be here already (a node keeps it); the same one is
        // fine, another one or an installed key is not.
        let same_cert = cert_path.exists() && files::read(&cert_path)?.trim() == cert_pem.trim();
        if sealed_path.exists() || (cert_path.exists() && !same_cert) {
            return Err(PkiError::BadFile {
                path: cert_path,
                detail: "a CA is already installed here".into(),
            });
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadPem {
            path: dir.join("ca.key.enc"),
            detail: e.to_string(),
        })?;
        seal_key(key_pem, kek, &sealed_path)?;
        files::write(&cert_path, cert_pem, 0o644)?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_string(),
            issuer: Issuer::new(ca_params()?, key),
        })
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
        set_validity(&mut params, lifetime);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Valid from a little before now (clock skew: a tenth of the lifetime, at most five
/// minutes, so short test lifetimes keep their shape) until `lifetime` from now.
pub(crate) fn set_validity(params: &mut CertificateParams, lifetime: Lifetime) {
    let now = OffsetDateTime::now_utc();
    let skew = (lifetime.0 / 10).min(Duration::from_secs(300));
    params.not_before = now - skew;
    params.not_after = now + lifetime.0;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
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
mod tests;
