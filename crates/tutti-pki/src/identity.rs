//! Who a node certificate names: the node's name and its role, carried in the subject the
//! way Kubernetes reads it (CN = user name, O = groups).
//!
//! - worker:  CN `system:node:<name>`,    O `system:nodes`
//! - manager: CN `system:manager:<name>`, O `system:managers`

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PkiError;

pub const NODE_PREFIX: &str = "system:node:";
pub const NODES_GROUP: &str = "system:nodes";
pub const MANAGER_PREFIX: &str = "system:manager:";
pub const MANAGERS_GROUP: &str = "system:managers";

/// What a joining node becomes; each role has its own join token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Worker,
    Manager,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Worker, Role::Manager];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Manager => "manager",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "worker" => Ok(Role::Worker),
            "manager" => Ok(Role::Manager),
            other => Err(format!("unknown role {other:?}: use worker or manager")),
        }
    }
}

/// A node as its certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    pub name: String,
    pub role: Role,
}

impl NodeIdentity {
    /// A checked identity: the name must be a DNS subdomain (it becomes a Node name).
    pub fn new(name: &str, role: Role) -> Result<NodeIdentity, PkiError> {
        check_node_name(name)?;
        Ok(NodeIdentity {
            name: name.to_string(),
            role,
        })
    }

    /// The certificate subject: (common name, organization).
    pub fn subject(&self) -> (String, &'static str) {
        match self.role {
            Role::Worker => (format!("{NODE_PREFIX}{}", self.name), NODES_GROUP),
            Role::Manager => (format!("{MANAGER_PREFIX}{}", self.name), MANAGERS_GROUP),
        }
    }

    /// Read an identity back from an authenticated user (CN and O entries); None for users
    /// that are not nodes or managers.
    pub fn from_user(name: &str, groups: &[String]) -> Option<NodeIdentity> {
        let has = |g: &str| groups.iter().any(|x| x == g);
        let (role, node) = if let Some(n) = name.strip_prefix(NODE_PREFIX) {
            (Role::Worker, n)
        } else if let Some(n) = name.strip_prefix(MANAGER_PREFIX) {
            (Role::Manager, n)
        } else {
            return None;
        };
        let group = match role {
            Role::Worker => NODES_GROUP,
            Role::Manager => MANAGERS_GROUP,
        };
        (has(group) && check_node_name(node).is_ok()).then(|| NodeIdentity {
            name: node.to_string(),
            role,
        })
    }
}

/// Kubernetes' DNS-1123 subdomain rule: at most 253 characters, lower-case alphanumerics,
/// `-` and `.`, starting and ending with an alphanumeric.
pub fn check_node_name(name: &str) -> Result<(), PkiError> {
    let bad = |detail: &str| PkiError::BadNodeName {
        name: name.to_string(),
        detail: detail.to_string(),
    };
    if name.is_empty() || name.len() > 253 {
        return Err(bad("must be 1 to 253 characters"));
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.chars().all(|c| alnum(c) || c == '-' || c == '.') {
        return Err(bad(
            "must consist of lower case alphanumeric characters, '-' or '.'",
        ));
    }
    let ends_ok = name.starts_with(alnum) && name.ends_with(alnum);
    if !ends_ok || name.split('.').any(|label| label.is_empty()) {
        return Err(bad("must start and end with an alphanumeric character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        for role in Role::ALL {
            let id = NodeIdentity::new("w1.example", role).unwrap();
            let (cn, o) = id.subject();
            assert_eq!(NodeIdentity::from_user(&cn, &[o.to_string()]), Some(id));
        }
        let (cn, _) = NodeIdentity::new("w1", Role::Worker).unwrap().subject();
        assert_eq!(cn, "system:node:w1");
    }

    #[test]
    fn a_name_without_its_group_is_not_a_node() {
        assert_eq!(NodeIdentity::from_user("system:node:w1", &[]), None);
        assert_eq!(
            NodeIdentity::from_user("system:node:w1", &["system:managers".into()]),
            None
        );
        assert_eq!(
            NodeIdentity::from_user("admin", &["system:nodes".into()]),
            None
        );
    }

    #[test]
    fn node_names_are_dns_subdomains() {
        for ok in ["w1", "node-1.zone.example", "a"] {
            assert!(check_node_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "W1", "-w", "w-", "a..b", "w_1", "w 1", &"a".repeat(254)] {
            assert!(check_node_name(bad).is_err(), "{bad}");
        }
    }
}
