//! The cluster's two join secrets (worker, manager), kept in `<pki>/tokens.json` (mode 0600).
//!
//! The file is the source of truth: the manager reads it on every join attempt, so
//! `tutti token rotate` (which rewrites it atomically) takes effect at once, without a
//! restart, and the old token stops working.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TokenRejection;
use crate::identity::Role;
use crate::token::{JoinToken, constant_time_eq, random_token};
use crate::{PkiError, files};

const FILE: &str = "tokens.json";

#[derive(Clone, Serialize, Deserialize)]
struct Secrets {
    worker: String,
    manager: String,
}

/// The current join secrets of a cluster.
#[derive(Clone)]
pub struct JoinTokens {
    path: PathBuf,
    secrets: Secrets,
}

impl std::fmt::Debug for JoinTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinTokens")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl JoinTokens {
    /// Load `<pki_dir>/tokens.json`, creating it (two fresh secrets) on first use. The bool
    /// says whether it was created now.
    pub fn load_or_create(pki_dir: &Path) -> Result<(JoinTokens, bool), PkiError> {
        let path = pki_dir.join(FILE);
        if path.exists() {
            return Ok((JoinTokens::load(pki_dir)?, false));
        }
        let tokens = JoinTokens {
            path,
            secrets: Secrets {
                worker: random_token(),
                manager: random_token(),
            },
        };
        tokens.save()?;
        Ok((tokens, true))
    }

    /// Load `<pki_dir>/tokens.json`; an error if the cluster was never initialised there.
    pub fn load(pki_dir: &Path) -> Result<JoinTokens, PkiError> {
        let path = pki_dir.join(FILE);
        if !path.exists() {
            return Err(PkiError::BadFile {
                path,
                detail: "no join tokens here: is this a manager's data directory? \
                         (`tutti server --data-dir <dir>` creates them on first start)"
                    .into(),
            });
        }
        let text = files::read(&path)?;
        let secrets: Secrets = serde_json::from_str(&text).map_err(|e| PkiError::BadFile {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        Ok(JoinTokens { path, secrets })
    }

    fn save(&self) -> Result<(), PkiError> {
        let text = serde_json::to_string_pretty(&self.secrets).map_err(|e| PkiError::BadFile {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        files::write(&self.path, &format!("{text}\n"), 0o600)
    }

    /// Replace the secret of `role` and save: the old token stops working.
    pub fn rotate(&mut self, role: Role) -> Result<(), PkiError> {
        let fresh = random_token();
        match role {
            Role::Worker => self.secrets.worker = fresh,
            Role::Manager => self.secrets.manager = fresh,
        }
        self.save()
    }

    /// Keep the secrets received from another manager of the cluster in
    /// `<pki_dir>/tokens.json`, replacing what is there.
    pub fn install(pki_dir: &Path, worker: &str, manager: &str) -> Result<JoinTokens, PkiError> {
        let tokens = JoinTokens {
            path: pki_dir.join(FILE),
            secrets: Secrets {
                worker: worker.to_string(),
                manager: manager.to_string(),
            },
        };
        tokens.save()?;
        Ok(tokens)
    }

    /// The current secret of `role` (what a token carries after the CA digest).
    pub fn secret(&self, role: Role) -> &str {
        match role {
            Role::Worker => &self.secrets.worker,
            Role::Manager => &self.secrets.manager,
        }
    }

    /// The full token of `role` for the cluster whose CA has `ca_digest`.
    pub fn token(&self, role: Role, ca_digest: &str) -> JoinToken {
        JoinToken {
            ca_digest: ca_digest.to_string(),
            secret: self.secret(role).to_string(),
        }
    }

    /// Check a presented token: it must name this cluster's CA and carry the current secret
    /// of the role asked for. Both secrets are always compared (constant time each).
    pub fn check(
        &self,
        presented: &JoinToken,
        ca_digest: &str,
        asked: Role,
    ) -> Result<(), TokenRejection> {
        let cluster_ok = constant_time_eq(presented.ca_digest.as_bytes(), ca_digest.as_bytes());
        let matched: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| presented.secret_is(self.secret(*r)))
            .collect();
        if !cluster_ok {
            return Err(TokenRejection::OtherCluster);
        }
        match matched.first() {
            None => Err(TokenRejection::UnknownSecret),
            Some(r) if *r == asked => Ok(()),
            Some(r) => Err(TokenRejection::WrongRole { token: *r, asked }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_are_created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = JoinTokens::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (again, created) = JoinTokens::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(
            first.token(Role::Worker, DIGEST),
            again.token(Role::Worker, DIGEST)
        );
        assert_ne!(
            first.token(Role::Worker, DIGEST),
            first.token(Role::Manager, DIGEST)
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tokens.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn checks_cluster_secret_and_role() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, _) = JoinTokens::load_or_create(dir.path()).unwrap();
        let worker = tokens.token(Role::Worker, DIGEST);
        let manager = tokens.token(Role::Manager, DIGEST);
        assert_eq!(tokens.check(&worker, DIGEST, Role::Worker), Ok(()));
        assert_eq!(tokens.check(&manager, DIGEST, Role::Manager), Ok(()));
        assert_eq!(
            tokens.check(&worker, DIGEST, Role::Manager),
            Err(TokenRejection::WrongRole {
                token: Role::Worker,
                asked: Role::Manager
            })
        );
        let other_cluster = JoinToken {
            ca_digest: "f".repeat(64),
            ..worker.clone()
        };
        assert_eq!(
            tokens.check(&other_cluster, DIGEST, Role::Worker),
            Err(TokenRejection::OtherCluster)
        );
        let wrong = JoinToken {
            secret: random_token(),
            ..worker
        };
        assert_eq!(
            tokens.check(&wrong, DIGEST, Role::Worker),
            Err(TokenRejection::UnknownSecret)
        );
    }

    #[test]
    fn rotation_retires_the_old_token_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (mut tokens, _) = JoinTokens::load_or_create(dir.path()).unwrap();
        let old = tokens.token(Role::Worker, DIGEST);
        let manager = tokens.token(Role::Manager, DIGEST);
        tokens.rotate(Role::Worker).unwrap();
        let reloaded = JoinTokens::load(dir.path()).unwrap();
        let new = reloaded.token(Role::Worker, DIGEST);
        assert_ne!(old, new);
        assert_eq!(
            reloaded.check(&old, DIGEST, Role::Worker),
            Err(TokenRejection::UnknownSecret)
        );
        assert_eq!(reloaded.check(&new, DIGEST, Role::Worker), Ok(()));
        assert_eq!(
            reloaded.check(&manager, DIGEST, Role::Manager),
            Ok(()),
            "rotating the worker token leaves the manager token alone"
        );
    }

    #[test]
    fn loading_where_no_cluster_was_created_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = JoinTokens::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no join tokens here"), "{err}");
    }
}
