//! The CA: creation, sealing of its key, reloading, and what it signs.

use super::*;

#[test]
fn lifetimes_parse_from_flags() {
    let secs = |s: &str| s.parse::<Lifetime>().map(|l| l.0.as_secs());
    assert_eq!(secs("90d"), Ok(90 * 86400));
    assert_eq!(secs("2m"), Ok(120));
    assert_eq!(secs("30s"), Ok(30));
    assert_eq!(secs("12h"), Ok(12 * 3600));
    for bad in ["", "2", "m", "2w", "-1m", "0s", "1.5h"] {
        assert!(bad.parse::<Lifetime>().is_err(), "{bad}");
    }
}

#[test]
fn ca_is_created_once_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::load_or_create(dir.path()).unwrap();
    let again = ClusterCa::load_or_create(dir.path()).unwrap();
    assert_eq!(ca.cert_pem(), again.cert_pem());
    use std::os::unix::fs::PermissionsExt;
    for file in ["ca.key.enc", "kek"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions();
        assert_eq!(mode.mode() & 0o777, 0o600, "{file}");
    }
    assert!(!dir.path().join("ca.key").exists(), "no plaintext CA key");
    let sealed = std::fs::read_to_string(dir.path().join("ca.key.enc")).unwrap();
    assert!(!sealed.contains("PRIVATE KEY"));
}

#[test]
fn the_ca_key_does_not_open_without_its_kek() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::load_or_create(dir.path()).unwrap();
    // A copy of the data directory without the KEK (a backup) does not yield the key.
    let copy = tempfile::tempdir().unwrap();
    for file in ["ca.crt", "ca.key.enc"] {
        std::fs::copy(dir.path().join(file), copy.path().join(file)).unwrap();
    }
    let err = ClusterCa::load_or_create(copy.path()).err().unwrap();
    assert!(matches!(err, PkiError::MissingKek { .. }), "{err}");
    // Another KEK does not open it either.
    let other = tempfile::tempdir().unwrap();
    let foreign = other.path().join("kek");
    Kek::load_or_create(&foreign).unwrap();
    let err = ClusterCa::load_or_create_with_kek(copy.path(), &foreign)
        .err()
        .unwrap();
    assert!(matches!(err, PkiError::Unseal { .. }), "{err}");
    // With the KEK kept elsewhere, the CA loads.
    let kept = other.path().join("kept-kek");
    std::fs::copy(dir.path().join("kek"), &kept).unwrap();
    let loaded = ClusterCa::load_or_create_with_kek(copy.path(), &kept).unwrap();
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
}

#[test]
fn a_plaintext_ca_key_from_an_older_version_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = ca_params().unwrap().self_signed(&key).unwrap();
    std::fs::write(dir.path().join("ca.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("ca.key"), key.serialize_pem()).unwrap();
    let ca = ClusterCa::load_or_create(dir.path()).unwrap();
    assert_eq!(ca.cert_pem(), cert.pem());
    assert!(!dir.path().join("ca.key").exists());
    assert!(dir.path().join("ca.key.enc").exists());
    let again = ClusterCa::load_or_create(dir.path()).unwrap();
    let leaf = again
        .issue_client("admin", &["system:masters"], Lifetime::default())
        .unwrap();
    assert!(verify_client(ca.cert_pem(), &leaf.cert_pem));
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

#[test]
fn an_installed_ca_signs_like_the_original_and_is_never_replaced() {
    let first = tempfile::tempdir().unwrap();
    let ca = ClusterCa::load_or_create(first.path()).unwrap();
    let second = tempfile::tempdir().unwrap();
    let kek = second.path().join("own-kek");
    let copy = ClusterCa::install(second.path(), &kek, ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(copy.cert_pem(), ca.cert_pem());
    assert!(!second.path().join("ca.key").exists(), "the key is sealed");
    let reloaded = ClusterCa::load_or_create_with_kek(second.path(), &kek).unwrap();
    assert_eq!(reloaded.key_pem(), ca.key_pem());
    // What the copy issues chains to the original CA.
    let issued = copy
        .issue_client("admin", &["system:masters"], Lifetime::default())
        .unwrap();
    assert!(verify_client(ca.cert_pem(), &issued.cert_pem));
    let err = ClusterCa::install(second.path(), &kek, ca.cert_pem(), &ca.key_pem())
        .err()
        .unwrap();
    assert!(err.to_string().contains("already installed"), "{err}");
}
