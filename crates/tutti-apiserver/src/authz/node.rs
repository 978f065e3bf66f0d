//! The node authorizer's rules (Kubernetes' `Node` authorizer and `NodeRestriction`, in
//! small): what a worker's certificate may do, as a pure function of the request. Where the
//! answer depends on stored objects (is this pod bound to the node? does one of its pods
//! reference this secret?) the rule says which question to ask; the shell asks the store.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::handlers::Params;
use crate::paths::Target;

/// The Kubernetes verb of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// A method no verb maps to (the handlers answer 405).
    Other,
}

impl Verb {
    pub fn of(method: &axum::http::Method, target: &Target, params: &Params) -> Verb {
        use axum::http::Method;
        let named = target.name.is_some();
        match *method {
            Method::GET | Method::HEAD if params.flag("watch") => Verb::Watch,
            Method::GET | Method::HEAD if named => Verb::Get,
            Method::GET | Method::HEAD => Verb::List,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE if named => Verb::Delete,
            Method::DELETE => Verb::DeleteCollection,
            _ => Verb::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Other => "unknown",
        }
    }
}

/// The answer for one request by one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; the reason is appended to the Forbidden message when there is one.
    Deny(Option<String>),
    /// Allowed if the addressed pod is bound to the node (or does not exist: the handler's
    /// 404 then tells an agent its pod is gone, as Kubernetes does).
    IfPodOnNode,
    /// Allowed if a pod bound to the node, in the object's namespace, references it.
    IfReferencedByPodOnNode,
    /// Allowed if the object in the request body is named after the node (creating its own
    /// Node or Lease).
    IfBodyNamedAfterNode,
}

pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What node `node` may do with `target`.
pub fn decide(node: &str, verb: Verb, target: &Target, params: &Params) -> Decision {
    let info = target.info;
    let own = target.name.as_deref() == Some(node);
    let sub = target.sub.as_deref();
    match (info.group, info.plural) {
        ("", "nodes") => match (verb, sub) {
            (Verb::List | Verb::Watch, None) if target.name.is_none() => Decision::Allow,
            (Verb::Get | Verb::Watch | Verb::Update | Verb::Patch, None | Some("status"))
                if own =>
            {
                Decision::Allow
            }
            (Verb::Create, None) => Decision::IfBodyNamedAfterNode,
            _ => Decision::Deny(Some(format!(
                "a node may only change its own Node ({node})"
            ))),
        },
        ("coordination.k8s.io", "leases") if target.ns() == Some(LEASE_NAMESPACE) => match verb {
            Verb::Get | Verb::Update | Verb::Patch if own && sub.is_none() => Decision::Allow,
            Verb::Create => Decision::IfBodyNamedAfterNode,
            _ => Decision::Deny(Some(format!("a node may only use its own Lease ({node})"))),
        },
        ("", "pods") => match (verb, sub) {
            (Verb::List | Verb::Watch, None) if target.name.is_none() => {
                if params
                    .get("fieldSelector")
                    .is_some_and(|s| selects_node(s, node))
                {
                    Decision::Allow
                } else {
                    Decision::Deny(Some(format!(
                        "a node may only list pods with fieldSelector spec.nodeName={node}"
                    )))
                }
            }
            (Verb::Get, None | Some("status"))
            | (Verb::Update | Verb::Patch, Some("status"))
            | (Verb::Delete, None) => Decision::IfPodOnNode,
            _ => Decision::Deny(None),
        },
        ("", "configmaps" | "secrets") if verb == Verb::Get && sub.is_none() => {
            Decision::IfReferencedByPodOnNode
        }
        ("" | "events.k8s.io", "events")
            if matches!(verb, Verb::Create | Verb::Update | Verb::Patch) =>
        {
            Decision::Allow
        }
        // Services and their endpoints, read-only: what a node routes to, and the managers'
        // addresses (Endpoints `default/kubernetes`) its agent fails over between.
        ("", "services" | "endpoints") | ("discovery.k8s.io", "endpointslices")
            if matches!(verb, Verb::Get | Verb::List | Verb::Watch) =>
        {
            Decision::Allow
        }
        _ => Decision::Deny(None),
    }
}

/// Whether a field selector restricts to pods on `node`: one of its terms is
/// `spec.nodeName=<node>` (or `==`). Other terms only narrow further.
pub fn selects_node(selector: &str, node: &str) -> bool {
    selector.split(',').any(|term| {
        let term = term.trim();
        if term.contains("!=") {
            return false;
        }
        let (key, value) = match term.split_once("==") {
            Some(kv) => kv,
            None => match term.split_once('=') {
                Some(kv) => kv,
                None => return false,
            },
        };
        key.trim() == "spec.nodeName" && value.trim() == node
    })
}

/// The pod's node (`spec.nodeName`), if bound.
pub fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Names of the ConfigMaps and Secrets a pod references: volumes (also projected), env
/// `valueFrom`, `envFrom` of every container kind, and `imagePullSecrets`.
pub fn references(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    let arr = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for v in arr(pod, "/spec/volumes") {
        cms.extend(s(&v, "/configMap/name"));
        secrets.extend(s(&v, "/secret/secretName"));
        for src in arr(&v, "/projected/sources") {
            cms.extend(s(&src, "/configMap/name"));
            secrets.extend(s(&src, "/secret/name"));
        }
    }
    for r in arr(pod, "/spec/imagePullSecrets") {
        secrets.extend(s(&r, "/name"));
    }
    for kind in ["containers", "initContainers", "ephemeralContainers"] {
        for c in arr(pod, &format!("/spec/{kind}")) {
            for e in arr(&c, "/env") {
                cms.extend(s(&e, "/valueFrom/configMapKeyRef/name"));
                secrets.extend(s(&e, "/valueFrom/secretKeyRef/name"));
            }
            for e in arr(&c, "/envFrom") {
                cms.extend(s(&e, "/configMapRef/name"));
                secrets.extend(s(&e, "/secretRef/name"));
            }
        }
    }
    (cms, secrets)
}

#[cfg(test)]
mod tests;
