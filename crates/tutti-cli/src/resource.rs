//! From what the user typed to REST collections: `deploy,svc`, `pods.`, `deploy/nginx`, `all`,
//! resolved through the registry in `tutti_core`; URL paths; and the `deployment.apps` names
//! kubectl prints.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use tutti_core::registry::{self, RESOURCES, ResourceInfo};

/// One resource type and the names asked for (empty: all of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub info: &'static ResourceInfo,
    pub names: Vec<String>,
}

/// Resolves one type name: plural, singular, short name, kind, `plural.group`, any case.
pub fn resolve(name: &str) -> Result<&'static ResourceInfo> {
    registry::find_by_name(name)
        .ok_or_else(|| anyhow!("the server doesn't have a resource type \"{name}\""))
}

/// Resolves a comma-separated list of types; `all` stands for the `all` category.
pub fn resolve_list(types: &str) -> Result<Vec<&'static ResourceInfo>> {
    let mut out: Vec<&'static ResourceInfo> = Vec::new();
    for t in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let infos: Vec<&'static ResourceInfo> = if t == "all" {
            RESOURCES
                .iter()
                .filter(|r| r.categories.contains(&"all"))
                .collect()
        } else {
            vec![resolve(t)?]
        };
        for info in infos {
            if !out.iter().any(|o| std::ptr::eq(*o, info)) {
                out.push(info);
            }
        }
    }
    if out.is_empty() {
        bail!("you must specify the type of resource, e.g. `pods` or `deploy,svc`");
    }
    Ok(out)
}

/// kubectl's argument forms: `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME [TYPE/NAME...]`.
pub fn parse_args(args: &[String]) -> Result<Vec<Selection>> {
    let Some(first) = args.first() else {
        bail!("you must specify the type of resource to get, e.g. `tutti get pods`");
    };
    if first.contains('/') {
        let mut out: Vec<Selection> = Vec::new();
        for arg in args {
            let Some((t, name)) = arg.split_once('/') else {
                bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. `tutti get deploy/nginx`): \"{arg}\""
                );
            };
            if name.is_empty() {
                bail!("\"{arg}\" names no object: use TYPE/NAME");
            }
            let info = resolve(t)?;
            match out.iter_mut().find(|s| std::ptr::eq(s.info, info)) {
                Some(s) => s.names.push(name.to_string()),
                None => out.push(Selection {
                    info,
                    names: vec![name.to_string()],
                }),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    if let Some(bad) = names.iter().find(|n| n.contains('/')) {
        bail!("arguments in resource/name form must have a single resource and name: \"{bad}\"");
    }
    Ok(resolve_list(first)?
        .into_iter()
        .map(|info| Selection {
            info,
            names: names.clone(),
        })
        .collect())
}

/// The collection URL: `/api/v1/namespaces/default/pods`, `/apis/apps/v1/deployments` (all
/// namespaces when `namespace` is `None`), `/api/v1/nodes` for cluster-scoped kinds.
pub fn collection_path(info: &ResourceInfo, namespace: Option<&str>) -> String {
    let base = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    match namespace.filter(|_| info.namespaced) {
        Some(ns) => format!("{base}/namespaces/{ns}/{}", info.plural),
        None => format!("{base}/{}", info.plural),
    }
}

/// `deployment.apps`, `service`: how kubectl names a kind in `created` / `deleted` lines.
pub fn kind_group(info: &ResourceInfo) -> String {
    let kind = info.kind.to_ascii_lowercase();
    if info.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", info.group)
    }
}

/// The resource type of a manifest object, from its `apiVersion` and `kind`; a missing
/// apiVersion is resolved by kind alone (the seed defaults warn about it).
pub fn for_object(obj: &Value) -> Result<&'static ResourceInfo> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        bail!("Object 'Kind' is missing");
    }
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    registry::find_by_kind(api_version, kind).ok_or_else(|| match api_version {
        Some(v) => anyhow!("no matches for kind \"{kind}\" in version \"{v}\""),
        None => anyhow!("no matches for kind \"{kind}\""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn kinds(sel: &[Selection]) -> Vec<&str> {
        sel.iter().map(|s| s.info.kind).collect()
    }

    #[test]
    fn short_names_plurals_and_kinds_resolve() {
        for (typed, kind) in [
            ("deploy", "Deployment"),
            ("svc", "Service"),
            ("pods", "Pod"),
            ("Pod", "Pod"),
            ("deployments.apps", "Deployment"),
            ("NS", "Namespace"),
            ("replicaset", "ReplicaSet"),
        ] {
            assert_eq!(resolve(typed).map(|r| r.kind).ok(), Some(kind), "{typed}");
        }
        let err = resolve("frobs").map(|r| r.kind).unwrap_err().to_string();
        assert_eq!(err, "the server doesn't have a resource type \"frobs\"");
    }

    #[test]
    fn comma_lists_keep_order_and_drop_duplicates() {
        let sel = parse_args(&args(&["deploy,svc,deployments", "nginx"])).unwrap();
        assert_eq!(kinds(&sel), vec!["Deployment", "Service"]);
        assert!(sel.iter().all(|s| s.names == vec!["nginx".to_string()]));
        let all = resolve_list("all").unwrap();
        assert!(all.iter().any(|r| r.kind == "Pod") && !all.iter().any(|r| r.kind == "Secret"));
    }

    #[test]
    fn type_slash_name_arguments_group_by_type() {
        let sel = parse_args(&args(&["deploy/a", "svc/b", "deployment/c"])).unwrap();
        assert_eq!(kinds(&sel), vec!["Deployment", "Service"]);
        assert_eq!(sel[0].names, args(&["a", "c"]));
        assert!(parse_args(&args(&["deploy/a", "b"])).is_err());
        assert!(parse_args(&args(&["deploy", "svc/b"])).is_err());
        assert!(parse_args(&[]).is_err());
    }

    #[test]
    fn paths_follow_the_kubernetes_layout() {
        let deploy = resolve("deploy").unwrap();
        assert_eq!(
            collection_path(deploy, Some("web")),
            "/apis/apps/v1/namespaces/web/deployments"
        );
        assert_eq!(collection_path(deploy, None), "/apis/apps/v1/deployments");
        assert_eq!(
            collection_path(resolve("po").unwrap(), Some("default")),
            "/api/v1/namespaces/default/pods"
        );
        assert_eq!(
            collection_path(resolve("nodes").unwrap(), Some("default")),
            "/api/v1/nodes"
        );
        assert_eq!(kind_group(deploy), "deployment.apps");
        assert_eq!(kind_group(resolve("svc").unwrap()), "service");
    }

    #[test]
    fn manifest_objects_resolve_by_api_version_and_kind() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(for_object(&d).map(|r| r.plural).ok(), Some("deployments"));
        assert_eq!(
            for_object(&json!({"kind": "Service"}))
                .map(|r| r.plural)
                .ok(),
            Some("services")
        );
        let err = for_object(&json!({"apiVersion": "v1", "kind": "Deployment"}))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "no matches for kind \"Deployment\" in version \"v1\"");
        assert!(for_object(&json!({"metadata": {}})).is_err());
    }
}
