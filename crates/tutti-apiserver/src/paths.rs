//! Parsing REST paths (`/apis/apps/v1/namespaces/default/deployments/web/scale`) into the
//! resource, namespace, name and subresource they address.

use tutti_core::registry::{self, ResourceInfo};

use crate::error::{ApiError, ApiResult};

/// What one request addresses.
#[derive(Debug, Clone)]
pub struct Target {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    /// `name` or a 404-free error for collection-level requests that need one.
    pub fn name(&self) -> ApiResult<&str> {
        self.name.as_deref().ok_or(ApiError::MethodNotAllowed)
    }
    pub fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    pub fn key(&self) -> ApiResult<String> {
        Ok(self.info.key(self.ns(), self.name()?))
    }
}

/// Parse the segments after `/api/v1` or `/apis/<group>/<version>`.
pub fn parse(group: &str, version: &str, rest: &str) -> ApiResult<Target> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let lookup = |plural: &str| -> ApiResult<&'static ResourceInfo> {
        registry::find_by_plural(group, plural)
            .filter(|r| r.version == version)
            .ok_or(ApiError::NoSuchResource)
    };
    let t = |info, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Target {
        info,
        namespace: ns.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
    };
    match segs.as_slice() {
        [res] => Ok(t(lookup(res)?, None, None, None)),
        // `namespaces/<ns>/<resource>` when <resource> is a namespaced kind, else a
        // cluster-scoped object's subresource (`namespaces/x/status`, `nodes/n/status`).
        ["namespaces", ns, res] => match lookup(res) {
            Ok(info) if info.namespaced => Ok(t(info, Some(ns), None, None)),
            _ => Ok(t(lookup("namespaces")?, None, Some(ns), Some(res))),
        },
        [res, name] => Ok(t(lookup(res)?, None, Some(name), None)),
        ["namespaces", ns, res, name] => Ok(t(lookup(res)?, Some(ns), Some(name), None)),
        [res, name, sub] => Ok(t(lookup(res)?, None, Some(name), Some(sub))),
        ["namespaces", ns, res, name, sub] => Ok(t(lookup(res)?, Some(ns), Some(name), Some(sub))),
        _ => Err(ApiError::NoSuchResource),
    }
    .and_then(|target| {
        if target.info.namespaced != target.namespace.is_some() && target.name.is_some() {
            return Err(ApiError::NoSuchResource);
        }
        if let Some(sub) = &target.sub
            && target.info.subresource(sub).is_none()
            && !(target.info.plural == "namespaces" && sub == "finalize")
        {
            return Err(ApiError::NoSuchResource);
        }
        Ok(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_kubernetes() {
        let t = parse("apps", "v1", "namespaces/default/deployments/web/scale").unwrap();
        assert_eq!(
            (t.info.kind, t.ns(), t.name.as_deref(), t.sub.as_deref()),
            ("Deployment", Some("default"), Some("web"), Some("scale"))
        );
        let t = parse("", "v1", "namespaces/default/pods").unwrap();
        assert_eq!(
            (t.info.kind, t.ns(), t.name.as_deref()),
            ("Pod", Some("default"), None)
        );
        let t = parse("", "v1", "namespaces/kube-system").unwrap();
        assert_eq!(
            (t.info.kind, t.name.as_deref()),
            ("Namespace", Some("kube-system"))
        );
        let t = parse("", "v1", "namespaces/x/status").unwrap();
        assert_eq!(
            (t.info.kind, t.name.as_deref(), t.sub.as_deref()),
            ("Namespace", Some("x"), Some("status"))
        );
        let t = parse("", "v1", "pods").unwrap();
        assert_eq!((t.info.kind, t.ns()), ("Pod", None));
        assert!(
            parse("", "v1", "pods/web").is_err(),
            "a namespaced object needs its namespace"
        );
        assert!(parse("", "v1", "frobs").is_err());
        assert!(parse("apps", "v1", "namespaces/default/deployments/web/frob").is_err());
    }
}
