//! tutti-pki: the cluster's certificate authority, the certificates it issues and the secrets
//! (bearer tokens) handed to clients.
//!
//! On first start a manager creates a CA (ECDSA P-256) under `<data-dir>/pki/`; the CA signs
//! the API server's serving certificate and client certificates (the admin's, later the nodes').
//! Private keys are written with mode 0600. This crate owns the seam "who signs what"; it
//! does no networking.

mod ca;
mod error;
mod files;
mod kubeconfig;
mod token;

pub use ca::{CertifiedKey, ClusterCa, Lifetime};
pub use error::PkiError;
pub use kubeconfig::kubeconfig_yaml;
pub use token::random_token;
