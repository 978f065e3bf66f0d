//! Errors of the PKI crate.

use std::path::PathBuf;

use crate::identity::Role;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid PEM file: {detail}")]
    BadPem { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    BadFile { path: PathBuf, detail: String },
    #[error(
        "{sealed} is sealed with the key-encryption key {kek}, which is missing: restore it \
         from where you keep it (it is deliberately not part of backups of the data directory)"
    )]
    MissingKek { sealed: PathBuf, kek: PathBuf },
    #[error(
        "{path}: cannot decrypt the CA key: the key-encryption key is not the one it was \
         sealed with, or the file is corrupted"
    )]
    Unseal { path: PathBuf },
    #[error("encryption failed: {0}")]
    Seal(String),
    #[error(
        "not a join token: {detail} (a join token looks like TUTTI-1-<64 hex digits>-<secret>; \
         `tutti token show worker` on a manager prints one)"
    )]
    BadToken { detail: String },
    #[error("join token rejected: {0}")]
    TokenRejected(TokenRejection),
    #[error("invalid certificate signing request: {detail}")]
    BadCsr { detail: String },
    #[error("invalid node name {name:?}: {detail}")]
    BadNodeName { name: String, detail: String },
    #[error("{path}: invalid certificate: {detail}")]
    BadCertificate { path: PathBuf, detail: String },
    #[error("user {user:?} is not a node or manager: only they renew certificates here")]
    NotANode { user: String },
}

/// Why a join token was refused. The messages say what to do; none reveals a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// The token names another cluster's CA.
    OtherCluster,
    /// Neither the worker nor the manager secret (wrong, or rotated away).
    UnknownSecret,
    /// A valid token of one role presented to join as the other.
    WrongRole { token: Role, asked: Role },
}

impl std::fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRejection::OtherCluster => write!(
                f,
                "it was made for another cluster (its CA digest is not this manager's)"
            ),
            TokenRejection::UnknownSecret => write!(
                f,
                "it is not a current token of this cluster (wrong, or rotated); get the current \
                 one with `tutti token show worker` on a manager"
            ),
            TokenRejection::WrongRole { token, asked } => write!(
                f,
                "it is a {token} token and cannot join a {asked}; use the {asked} token"
            ),
        }
    }
}
