//! The manager's side of joining and renewal: check the join token, then sign the node's
//! CSR with the identity the token's role allows. The wire shapes (`JoinRequest`,
//! `RenewRequest`, `Issued`) are shared with the joining node.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::identity::{NodeIdentity, Role};
use crate::join_tokens::JoinTokens;
use crate::token::{JoinToken, ca_digest};
use crate::{ClusterCa, Lifetime, PkiError};

/// `POST /join/v1/node`: a node asks to join with a token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub token: String,
    pub node_name: String,
    pub role: Role,
    /// PEM `CERTIFICATE REQUEST` for the node's key.
    pub csr: String,
    /// Addresses the node serves on (subject alternative names).
    #[serde(default)]
    pub ips: Vec<IpAddr>,
}

/// `POST /join/v1/renew`: a node (authenticated by its current certificate) asks for a new
/// one; name and role come from the current certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewRequest {
    pub csr: String,
    #[serde(default)]
    pub ips: Vec<IpAddr>,
}

/// The answer to a join or renewal: the signed certificate and the cluster CA, PEM.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    pub certificate: String,
    pub ca: String,
}

/// Issues node certificates for a manager: the CA, where the join tokens live, and how long
/// certificates last.
pub struct Enrollment {
    ca: Arc<ClusterCa>,
    ca_digest: String,
    pki_dir: PathBuf,
    lifetime: Lifetime,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("ca_digest", &self.ca_digest)
            .field("pki_dir", &self.pki_dir)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl Enrollment {
    /// `pki_dir` holds `tokens.json`, read again on every join so rotation needs no restart.
    pub fn new(ca: Arc<ClusterCa>, pki_dir: &Path, lifetime: Lifetime) -> Result<Self, PkiError> {
        Ok(Enrollment {
            ca_digest: ca_digest(ca.cert_pem())?,
            ca,
            pki_dir: pki_dir.to_owned(),
            lifetime,
        })
    }

    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// Check the token against the current ones and sign the node's CSR.
    pub fn join(&self, req: &JoinRequest) -> Result<(NodeIdentity, Issued), PkiError> {
        let token = JoinToken::parse(&req.token)?;
        JoinTokens::load(&self.pki_dir)?
            .check(&token, &self.ca_digest, req.role)
            .map_err(PkiError::TokenRejected)?;
        let node = NodeIdentity::new(&req.node_name, req.role)?;
        let issued = self.issue(&node, &req.csr, &req.ips)?;
        Ok((node, issued))
    }

    /// A new certificate for an authenticated node or manager (`user`, `groups` from its
    /// current certificate), same name and role.
    pub fn renew(
        &self,
        user: &str,
        groups: &[String],
        req: &RenewRequest,
    ) -> Result<(NodeIdentity, Issued), PkiError> {
        let node = NodeIdentity::from_user(user, groups).ok_or_else(|| PkiError::NotANode {
            user: user.to_string(),
        })?;
        let issued = self.issue(&node, &req.csr, &req.ips)?;
        Ok((node, issued))
    }

    fn issue(&self, node: &NodeIdentity, csr: &str, ips: &[IpAddr]) -> Result<Issued, PkiError> {
        Ok(Issued {
            certificate: self.ca.issue_node(node, csr, ips, self.lifetime)?,
            ca: self.ca.cert_pem().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeCsr;
    use crate::error::TokenRejection;
    use crate::node_cert::CertInfo;

    struct Fixture {
        _dir: tempfile::TempDir,
        pki: PathBuf,
        enrollment: Enrollment,
        digest: String,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let ca = Arc::new(ClusterCa::load_or_create(&pki).unwrap());
        JoinTokens::load_or_create(&pki).unwrap();
        let enrollment = Enrollment::new(ca.clone(), &pki, Lifetime::default()).unwrap();
        let digest = ca_digest(ca.cert_pem()).unwrap();
        Fixture {
            _dir: dir,
            pki,
            enrollment,
            digest,
        }
    }

    fn request(token: String, role: Role) -> JoinRequest {
        JoinRequest {
            token,
            node_name: "w1".into(),
            role,
            csr: NodeCsr::generate("w1").unwrap().csr_pem,
            ips: vec!["127.0.0.1".parse().unwrap()],
        }
    }

    fn current(f: &Fixture, role: Role) -> String {
        JoinTokens::load(&f.pki)
            .unwrap()
            .token(role, &f.digest)
            .to_string()
    }

    #[test]
    fn a_current_token_gets_a_certificate_for_its_role() {
        let f = fixture();
        for (role, cn) in [
            (Role::Worker, "system:node:w1"),
            (Role::Manager, "system:manager:w1"),
        ] {
            let (node, issued) = f
                .enrollment
                .join(&request(current(&f, role), role))
                .unwrap();
            assert_eq!(node.role, role);
            assert_eq!(
                CertInfo::parse(&issued.certificate).unwrap().common_name,
                cn
            );
            assert_eq!(issued.ca, f.enrollment.ca_pem());
        }
    }

    #[test]
    fn wrong_rotated_foreign_and_malformed_tokens_are_refused() {
        let f = fixture();
        let old = current(&f, Role::Worker);
        let (mut tokens, _) = JoinTokens::load_or_create(&f.pki).unwrap();
        tokens.rotate(Role::Worker).unwrap();
        let rejected = |token: String, role: Role| match f.enrollment.join(&request(token, role)) {
            Err(PkiError::TokenRejected(r)) => Some(r),
            Err(PkiError::BadToken { .. }) => None,
            other => panic!("expected a refusal, got {:?}", other.map(|(n, _)| n)),
        };
        assert_eq!(
            rejected(old, Role::Worker),
            Some(TokenRejection::UnknownSecret),
            "a rotated token stops working"
        );
        let foreign = JoinToken {
            ca_digest: "0".repeat(64),
            secret: JoinToken::parse(&current(&f, Role::Worker)).unwrap().secret,
        };
        assert_eq!(
            rejected(foreign.to_string(), Role::Worker),
            Some(TokenRejection::OtherCluster)
        );
        assert!(matches!(
            rejected(current(&f, Role::Worker), Role::Manager),
            Some(TokenRejection::WrongRole { .. })
        ));
        assert_eq!(rejected("".into(), Role::Worker), None);
    }

    #[test]
    fn a_bad_node_name_is_refused_even_with_a_good_token() {
        let f = fixture();
        let mut req = request(current(&f, Role::Worker), Role::Worker);
        req.node_name = "Not_A_Node".into();
        assert!(matches!(
            f.enrollment.join(&req),
            Err(PkiError::BadNodeName { .. })
        ));
    }

    #[test]
    fn renewal_keeps_name_and_role_and_refuses_other_users() {
        let f = fixture();
        let renew = RenewRequest {
            csr: NodeCsr::generate("w1").unwrap().csr_pem,
            ips: vec![],
        };
        let (node, issued) = f
            .enrollment
            .renew("system:node:w1", &["system:nodes".into()], &renew)
            .unwrap();
        assert_eq!(node, NodeIdentity::new("w1", Role::Worker).unwrap());
        assert_eq!(
            CertInfo::parse(&issued.certificate).unwrap().common_name,
            "system:node:w1"
        );
        for (user, groups) in [
            ("admin", vec!["system:masters".to_string()]),
            ("system:node:w1", vec![]),
            ("eve", vec!["system:nodes".to_string()]),
        ] {
            assert!(matches!(
                f.enrollment.renew(user, &groups, &renew),
                Err(PkiError::NotANode { .. })
            ));
        }
    }
}
