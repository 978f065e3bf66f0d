//! The CA private key at rest: sealed with AES-256-GCM under a key-encryption key (KEK).
//!
//! Layout: `<pki>/ca.key.enc` holds the sealed key; the KEK (32 random bytes, hex) is a
//! separate file, by default `<pki>/kek`, mode 0600, created with the CA.
//!
//! Threat model, honestly: the KEK protects the CA key in copies of the data directory that
//! do not include the KEK file — backups and snapshots taken with `kek` excluded, a store
//! directory shipped for debugging, a disk image of a volume the KEK does not live on (put it
//! elsewhere with `tutti server --kek-file`). It does not protect against anyone who can read
//! the KEK file: root on the manager, or a backup that contains both files. There is no HSM
//! or passphrase; a manager must start unattended.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use rand::RngCore;

use crate::token::hex;
use crate::{PkiError, files};

const HEADER: &str = "tutti-sealed-v1 aes-256-gcm";

/// A key-encryption key.
pub struct Kek([u8; 32]);

impl Kek {
    /// Read the KEK at `path`.
    pub fn load(path: &Path) -> Result<Kek, PkiError> {
        let text = files::read(path)?;
        let bad = || PkiError::BadFile {
            path: path.to_owned(),
            detail: "a key-encryption key is 64 hex digits".into(),
        };
        let text = text.trim();
        if text.len() != 64 {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = text
                .get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(bad)?;
        }
        Ok(Kek(key))
    }

    /// Read the KEK at `path`, creating a random one (mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<Kek, PkiError> {
        if path.exists() {
            return Kek::load(path);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        files::write(path, &format!("{}\n", hex(&key)), 0o600)?;
        Ok(Kek(key))
    }

    fn cipher(&self) -> Result<LessSafeKey, PkiError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|e| PkiError::Seal(e.to_string()))
    }

    /// Encrypt `plaintext`, binding it to `label` (the file's role, e.g. `ca.key`): a sealed
    /// file moved to another role does not open.
    pub fn seal(&self, plaintext: &[u8], label: &str) -> Result<String, PkiError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut data = plaintext.to_vec();
        self.cipher()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut data,
            )
            .map_err(|e| PkiError::Seal(e.to_string()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&data);
        let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
        Ok(format!("{HEADER}\n{b64}\n"))
    }

    /// Decrypt what [`Kek::seal`] produced with the same `label`. `path` is for messages.
    pub fn open(&self, sealed: &str, label: &str, path: &Path) -> Result<Vec<u8>, PkiError> {
        let unseal = || PkiError::Unseal {
            path: path.to_owned(),
        };
        let mut lines = sealed.lines();
        if lines.next() != Some(HEADER) {
            return Err(PkiError::BadFile {
                path: path.to_owned(),
                detail: format!("not a sealed file (expected the header {HEADER:?})"),
            });
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(lines.next().unwrap_or("").trim())
            .map_err(|_| unseal())?;
        if blob.len() < NONCE_LEN {
            return Err(unseal());
        }
        let (nonce, data) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut data = data.to_vec();
        let plain = self
            .cipher()?
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut data)
            .map_err(|_| unseal())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_hides_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::load_or_create(&dir.path().join("kek")).unwrap();
        let sealed = kek.seal(b"-----BEGIN PRIVATE KEY-----", "ca.key").unwrap();
        assert!(!sealed.contains("PRIVATE KEY"));
        let again = Kek::load_or_create(&dir.path().join("kek")).unwrap();
        let p = dir.path().join("ca.key.enc");
        assert_eq!(
            again.open(&sealed, "ca.key", &p).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
    }

    #[test]
    fn another_kek_another_label_or_a_flipped_bit_do_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.key.enc");
        let kek = Kek::load_or_create(&dir.path().join("kek")).unwrap();
        let other = Kek::load_or_create(&dir.path().join("other")).unwrap();
        let sealed = kek.seal(b"secret", "ca.key").unwrap();
        assert!(matches!(
            other.open(&sealed, "ca.key", &p),
            Err(PkiError::Unseal { .. })
        ));
        assert!(matches!(
            kek.open(&sealed, "admin.key", &p),
            Err(PkiError::Unseal { .. })
        ));
        let mut blob = base64::engine::general_purpose::STANDARD
            .decode(sealed.lines().nth(1).unwrap())
            .unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!(
            "{HEADER}\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(blob)
        );
        assert!(matches!(
            kek.open(&tampered, "ca.key", &p),
            Err(PkiError::Unseal { .. })
        ));
    }

    #[test]
    fn the_kek_file_is_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        Kek::load_or_create(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(Kek::load(&path), Err(PkiError::BadFile { .. })));
    }
}
