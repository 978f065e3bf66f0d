//! Authorization: what an authenticated caller may do. A middleware on the resource routes
//! (`/api/v1/...`, `/apis/<g>/<v>/...`), after authentication; discovery, health and the
//! join endpoints are not resource requests and are not checked here.
//!
//! - `Internal` (in-process components), group `system:masters` (admin) and, for now, group
//!   `system:managers`: everything.
//! - Group `system:nodes` with user `system:node:<name>`: the node rules in [`node`], like
//!   Kubernetes' Node authorizer — its own Node and Lease, its pods, the Secrets and
//!   ConfigMaps its pods reference, events, services.
//! - Anyone else (a valid certificate with another name): nothing.
//!
//! Refusals are 403 `Status`es worded as Kubernetes words them.

pub mod node;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tutti_core::registry;
use tutti_pki::NodeIdentity;
use tutti_pki::identity::MANAGERS_GROUP;
use tutti_store::RangeRequest;

use crate::ApiServer;
use crate::auth::Identity;
use crate::body::MAX_BODY;
use crate::error::ApiError;
use crate::handlers::Params;
use crate::objects::from_kv;
use crate::paths::{self, Target};
use node::{Decision, Verb};

pub const MASTERS_GROUP: &str = "system:masters";

/// Who is asking, as far as authorization cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// May do anything.
    Admin,
    /// A worker node, by name.
    Node(String),
    /// Authenticated but granted nothing.
    Other(String),
}

impl Subject {
    pub fn of(identity: &Identity) -> Subject {
        match identity {
            Identity::Internal => Subject::Admin,
            Identity::User { name, groups } => {
                let member = |g: &str| groups.iter().any(|x| x == g);
                if member(MASTERS_GROUP) || member(MANAGERS_GROUP) {
                    Subject::Admin
                } else if let Some(n) = NodeIdentity::from_user(name, groups)
                    .filter(|n| n.role == tutti_pki::Role::Worker)
                {
                    Subject::Node(n.name)
                } else {
                    Subject::Other(name.clone())
                }
            }
        }
    }
}

/// Middleware: let a resource request through only if its caller may make it.
pub async fn authorize(
    State(api): State<Arc<ApiServer>>,
    Path(route): Path<HashMap<String, String>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(identity) = req.extensions().get::<Identity>().cloned() else {
        return ApiError::Unauthorized.into_response();
    };
    let subject = Subject::of(&identity);
    if subject == Subject::Admin {
        return next.run(req).await;
    }
    let group = route.get("group").map(String::as_str).unwrap_or("");
    let version = route.get("version").map(String::as_str).unwrap_or("v1");
    let rest = route.get("rest").map(String::as_str).unwrap_or("");
    // An unknown resource is a 404 for everyone: let the handler say so.
    let Ok(target) = paths::parse(group, version, rest) else {
        return next.run(req).await;
    };
    let params = Params::parse(req.uri().query());
    let verb = Verb::of(req.method(), &target, &params);
    let user = match &identity {
        Identity::User { name, .. } => name.clone(),
        Identity::Internal => String::new(),
    };
    let node = match subject {
        Subject::Node(n) => n,
        _ => return forbidden(&user, verb, &target, None),
    };
    let decision = node::decide(&node, verb, &target, &params);
    let (decision, req) = match decision {
        Decision::IfBodyNamedAfterNode => match body_name(req).await {
            Ok((name, req)) if name.as_deref() == Some(node.as_str()) => (Decision::Allow, req),
            Ok((_, _)) | Err(_) => {
                let why = format!("a node may only create objects named after itself ({node})");
                return forbidden(&user, verb, &target, Some(&why));
            }
        },
        Decision::IfPodOnNode => (pod_on_node(&api, &target, &node).await, req),
        Decision::IfReferencedByPodOnNode => (referenced(&api, &target, &node).await, req),
        d => (d, req),
    };
    match decision {
        Decision::Allow => next.run(req).await,
        Decision::Deny(reason) => forbidden(&user, verb, &target, reason.as_deref()),
        _ => forbidden(&user, verb, &target, None),
    }
}

/// `metadata.name` of the JSON body, and the request rebuilt with the same body.
async fn body_name(req: Request) -> Result<(Option<String>, Request), ()> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| ())?;
    let name = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.pointer("/metadata/name")?.as_str().map(str::to_string));
    Ok((name, Request::from_parts(parts, Body::from(bytes))))
}

fn no_relationship(node: &str) -> Decision {
    Decision::Deny(Some(format!(
        "no relationship found between node '{node}' and this object"
    )))
}

async fn pod_on_node(api: &ApiServer, target: &Target, node: &str) -> Decision {
    let Ok(key) = target.key() else {
        return Decision::Deny(None);
    };
    match api.store.get(&key).await {
        // Absent: the handler answers 404, which tells an agent its pod is gone.
        Ok(None) => Decision::Allow,
        Ok(Some(kv)) => match from_kv(&kv) {
            Ok(pod) if node::node_of(&pod) == Some(node) => Decision::Allow,
            _ => no_relationship(node),
        },
        Err(e) => {
            tracing::warn!(error = %e, "authorization could not read the pod");
            Decision::Deny(Some("the store is unavailable".into()))
        }
    }
}

async fn referenced(api: &ApiServer, target: &Target, node: &str) -> Decision {
    let (Some(ns), Some(name)) = (target.ns(), target.name.as_deref()) else {
        return Decision::Deny(None);
    };
    let Some(pods) = registry::find_by_plural("", "pods") else {
        return Decision::Deny(None);
    };
    let range = RangeRequest::prefix(pods.namespace_prefix(Some(ns)));
    let kvs = match api.store.range(range).await {
        Ok(r) => r.kvs,
        Err(e) => {
            tracing::warn!(error = %e, "authorization could not list pods");
            return Decision::Deny(Some("the store is unavailable".into()));
        }
    };
    let secret = target.info.plural == "secrets";
    let found = kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
        .filter(|pod| node::node_of(pod) == Some(node))
        .any(|pod| {
            let (cms, secrets) = node::references(&pod);
            if secret {
                secrets.contains(name)
            } else {
                cms.contains(name)
            }
        });
    if found {
        Decision::Allow
    } else {
        no_relationship(node)
    }
}

/// The message Kubernetes' authorizer gives, e.g. `pods is forbidden: User
/// "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope`.
pub fn forbidden_message(user: &str, verb: Verb, t: &Target, reason: Option<&str>) -> String {
    let info = t.info;
    let qualified = if info.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.group)
    };
    let what = match &t.name {
        Some(n) => format!("{qualified} \"{n}\""),
        None => qualified,
    };
    let resource = match &t.sub {
        Some(s) => format!("{}/{s}", info.plural),
        None => info.plural.to_string(),
    };
    let scope = match t.ns() {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let mut message = format!(
        "{what} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        verb.as_str(),
        info.group
    );
    if let Some(r) = reason {
        message.push_str(": ");
        message.push_str(r);
    }
    message
}

fn forbidden(user: &str, verb: Verb, t: &Target, reason: Option<&str>) -> Response {
    let message = forbidden_message(user, verb, t, reason);
    tracing::debug!(
        user,
        verb = verb.as_str(),
        resource = t.info.plural,
        "forbidden"
    );
    let mut details = json!({"group": t.info.group, "kind": t.info.plural});
    if let Some(n) = &t.name {
        details["name"] = json!(n);
    }
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> Identity {
        Identity::User {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn subjects_follow_the_certificate() {
        assert_eq!(Subject::of(&Identity::Internal), Subject::Admin);
        assert_eq!(
            Subject::of(&user("admin", &["system:masters"])),
            Subject::Admin
        );
        assert_eq!(
            Subject::of(&user("system:manager:m2", &["system:managers"])),
            Subject::Admin
        );
        assert_eq!(
            Subject::of(&user("system:node:w1", &["system:nodes"])),
            Subject::Node("w1".into())
        );
        assert_eq!(
            Subject::of(&user("system:node:w1", &[])),
            Subject::Other("system:node:w1".into())
        );
        assert_eq!(
            Subject::of(&user("eve", &["system:nodes"])),
            Subject::Other("eve".into())
        );
    }

    #[test]
    fn messages_are_worded_like_kubernetes() {
        let t = paths::parse("", "v1", "pods").unwrap();
        assert_eq!(
            forbidden_message("system:node:n1", Verb::List, &t, None),
            r#"pods is forbidden: User "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope"#
        );
        let t = paths::parse("", "v1", "namespaces/default/secrets/s1").unwrap();
        assert_eq!(
            forbidden_message("system:node:n1", Verb::Get, &t, Some("no relationship")),
            r#"secrets "s1" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship"#
        );
        let t = paths::parse("apps", "v1", "namespaces/default/deployments").unwrap();
        assert_eq!(
            forbidden_message("eve", Verb::Create, &t, None),
            r#"deployments.apps is forbidden: User "eve" cannot create resource "deployments" in API group "apps" in the namespace "default""#
        );
        let t = paths::parse("", "v1", "namespaces/default/pods/p/status").unwrap();
        assert!(
            forbidden_message("u", Verb::Patch, &t, None)
                .contains(r#"pods "p" is forbidden: User "u" cannot patch resource "pods/status""#)
        );
    }
}
