//! tutti-pki: the cluster's certificate authority, the certificates it issues, the join
//! tokens that admit nodes, and the secrets (bearer tokens) handed to clients.
//!
//! On first start a manager creates a CA (ECDSA P-256) under `<data-dir>/pki/`, its key
//! sealed at rest under a key-encryption key (`sealed`). The CA signs the API server's
//! serving certificate, client certificates (the admin's) and node certificates (`node_cert`)
//! for nodes that present a current join token (`join_tokens`, `enroll`). Private keys are
//! written with mode 0600. This crate owns the seam "who signs what, for whom"; it does no
//! networking.

mod ca;
mod enroll;
mod error;
mod files;
pub mod identity;
mod join_tokens;
mod kubeconfig;
mod node_cert;
pub mod sealed;
mod token;

pub use ca::{CertifiedKey, ClusterCa, Lifetime};
pub use enroll::{Enrollment, Issued, JoinRequest, RenewRequest};
pub use error::{PkiError, TokenRejection};
pub use identity::{NodeIdentity, Role};
pub use join_tokens::JoinTokens;
pub use kubeconfig::kubeconfig_yaml;
pub use node_cert::{CertInfo, NodeCsr};
pub use token::{JoinToken, ca_digest, constant_time_eq, random_token};
