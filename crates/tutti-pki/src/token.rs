//! Random secrets (bearer tokens) and join tokens.
//!
//! A join token is `TUTTI-1-<digest>-<secret>`: `digest` is the SHA-256 of the cluster CA
//! certificate (DER, lower-case hex), so a joining node can check the manager it reached
//! before it trusts it or sends anything secret; `secret` proves to the manager that the node
//! was invited. The secret is URL-safe base64 and may itself contain `-`.

use std::fmt;

use base64::Engine;
use rand::RngCore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::PkiError;

const PREFIX: &str = "TUTTI-1-";
const DIGEST_LEN: usize = 64;
/// Shortest secret accepted: 16 base64 characters are 96 bits.
const MIN_SECRET_LEN: usize = 16;

/// 32 random bytes, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of the (first) certificate in `ca_pem`, DER-encoded, as lower-case hex.
pub fn ca_digest(ca_pem: &str) -> Result<String, PkiError> {
    let der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| PkiError::BadPem {
        path: "<CA certificate>".into(),
        detail: e.to_string(),
    })?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    Ok(hex(digest.as_ref()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the cluster CA certificate (DER), lower-case hex.
    pub ca_digest: String,
    pub secret: String,
}

impl JoinToken {
    pub fn parse(text: &str) -> Result<JoinToken, PkiError> {
        let bad = |detail: &str| PkiError::BadToken {
            detail: detail.to_string(),
        };
        let rest = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with TUTTI-1-"))?;
        let (digest, secret) = rest
            .split_once('-')
            .ok_or_else(|| bad("the secret is missing"))?;
        if digest.len() != DIGEST_LEN || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the CA digest is not 64 hex digits"));
        }
        let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if secret.len() < MIN_SECRET_LEN || !secret.chars().all(url_safe) {
            return Err(bad(
                "the secret is too short or has characters other than A-Z a-z 0-9 - _",
            ));
        }
        Ok(JoinToken {
            ca_digest: digest.to_ascii_lowercase(),
            secret: secret.to_string(),
        })
    }

    /// Whether this token's secret is `secret` (constant time).
    pub fn secret_is(&self, secret: &str) -> bool {
        constant_time_eq(self.secret.as_bytes(), secret.as_bytes())
    }

    /// Whether `ca_pem` is the CA this token names.
    pub fn pins(&self, ca_pem: &str) -> Result<bool, PkiError> {
        Ok(constant_time_eq(
            ca_digest(ca_pem)?.as_bytes(),
            self.ca_digest.as_bytes(),
        ))
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}-{}", self.ca_digest, self.secret)
    }
}

/// Never prints the secret.
impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_digest", &self.ca_digest)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> JoinToken {
        JoinToken {
            ca_digest: "ab".repeat(32),
            secret: random_token(),
        }
    }

    #[test]
    fn tokens_round_trip_even_with_dashes_in_the_secret() {
        let mut t = token();
        t.secret = "abc-def_ghi-jklmnop".into();
        let text = t.to_string();
        assert!(text.starts_with("TUTTI-1-abab"));
        assert_eq!(JoinToken::parse(&text).unwrap(), t);
        assert_eq!(JoinToken::parse(&format!("  {text}\n")).unwrap(), t);
        let upper = format!("TUTTI-1-{}-{}", "AB".repeat(32), t.secret);
        assert_eq!(JoinToken::parse(&upper).unwrap().ca_digest, "ab".repeat(32));
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        let secret = random_token();
        for (text, says) in [
            (format!("TUTTI-2-{}-{secret}", "ab".repeat(32)), "TUTTI-1-"),
            (format!("TUTTI-1-{}", "ab".repeat(32)), "secret is missing"),
            (format!("TUTTI-1-{}-{secret}", "ab".repeat(31)), "64 hex"),
            (format!("TUTTI-1-{}-{secret}", "zz".repeat(32)), "64 hex"),
            (format!("TUTTI-1-{}-short", "ab".repeat(32)), "too short"),
            (
                format!("TUTTI-1-{}-{secret}!", "ab".repeat(32)),
                "characters",
            ),
        ] {
            let err = JoinToken::parse(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let t = token();
        assert!(!format!("{t:?}").contains(&t.secret));
    }

    #[test]
    fn secrets_compare_exactly() {
        let t = token();
        assert!(t.secret_is(&t.secret.clone()));
        assert!(!t.secret_is(&random_token()));
        assert!(!t.secret_is(&t.secret[..20]));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"ab"));
    }
}
