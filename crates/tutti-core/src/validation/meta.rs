//! Object metadata (name, namespace, labels, annotations, finalizers, owner references) and
//! label selector validation, shared by every kind.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::path::{Path, go_selector, q};
use crate::error::FieldError;
use crate::names;

/// Total size of all annotation keys and values.
pub(crate) const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which syntax a kind's names must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (Namespace).
    Label,
    /// RFC 1035 label (Service).
    Rfc1035,
}

impl NameRule {
    fn check(self, name: &str, prefix: bool) -> Vec<String> {
        match self {
            NameRule::Subdomain => names::name_is_dns_subdomain(name, prefix),
            NameRule::Label => names::name_is_dns_label(name, prefix),
            NameRule::Rfc1035 => names::name_is_dns1035_label(name, prefix),
        }
    }
}

/// Scope of a kind, for the `metadata.namespace` rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Namespaced,
    Cluster,
}

/// `ValidateObjectMeta`. A namespaced object's namespace is not required here: the API
/// server fills it from the request path before storing.
pub(crate) fn validate_object_meta(
    meta: &ObjectMeta,
    scope: Scope,
    rule: NameRule,
) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let mut errs = Vec::new();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                q(generate_name),
                msg,
            ));
        }
    }
    match meta.name.as_deref().unwrap_or("") {
        "" if generate_name.is_empty() => {
            errs.push(
                FieldError::required(path.child("name"))
                    .with_message("name or generateName is required"),
            );
        }
        "" => {}
        name => {
            for msg in rule.check(name, false) {
                errs.push(FieldError::invalid(path.child("name"), q(name), msg));
            }
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    match scope {
        Scope::Namespaced if !namespace.is_empty() => {
            for msg in names::name_is_dns_label(namespace, false) {
                errs.push(FieldError::invalid(
                    path.child("namespace"),
                    q(namespace),
                    msg,
                ));
            }
        }
        Scope::Cluster if !namespace.is_empty() => {
            errs.push(FieldError::forbidden(
                path.child("namespace"),
                "not allowed on this type",
            ));
        }
        _ => {}
    }
    if let Some(generation) = meta.generation {
        errs.extend(nonnegative(generation, &path.child("generation")));
    }
    errs.extend(validate_labels(meta.labels.as_ref(), &path.child("labels")));
    errs.extend(validate_annotations(
        meta.annotations.as_ref(),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        meta,
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        meta.finalizers.as_deref().unwrap_or_default(),
        &path.child("finalizers"),
    ));
    errs
}

/// `must be greater than or equal to 0`
pub(crate) fn nonnegative(value: i64, path: &Path) -> Option<FieldError> {
    (value < 0).then(|| FieldError::invalid(path, value, "must be greater than or equal to 0"))
}

/// Label keys must be qualified names and values valid label values.
pub(crate) fn validate_labels(
    labels: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        for msg in names::is_qualified_name(key) {
            errs.push(FieldError::invalid(path, q(key), msg));
        }
        for msg in names::is_valid_label_value(value) {
            errs.push(FieldError::invalid(path, q(value), msg));
        }
    }
    errs
}

/// Annotation keys are qualified names (case-insensitive); all annotations together may
/// not exceed 256 KiB.
pub(crate) fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in annotations.into_iter().flatten() {
        for msg in names::is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, q(key), msg));
        }
        total += key.len() + value.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(meta: &ObjectMeta, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut controllers = Vec::new();
    for (i, owner) in meta.owner_references.iter().flatten().enumerate() {
        let p = path.index(i);
        if owner.api_version.is_empty() {
            errs.push(FieldError::invalid(
                p.child("apiVersion"),
                q(""),
                "version must not be empty",
            ));
        }
        if owner.kind.is_empty() {
            errs.push(FieldError::invalid(
                p.child("kind"),
                q(""),
                "kind must not be empty",
            ));
        }
        if owner.name.is_empty() {
            errs.push(FieldError::invalid(
                p.child("name"),
                q(""),
                "name must not be empty",
            ));
        }
        if owner.uid.is_empty() {
            errs.push(FieldError::invalid(
                p.child("uid"),
                q(""),
                "uid must not be empty",
            ));
        }
        if owner.controller == Some(true) {
            controllers.push(format!("{}/{}", owner.kind, owner.name));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            path,
            "[]v1.OwnerReference",
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        ));
    }
    errs
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// Finalizers are qualified names; unprefixed ones must be standard; no duplicates.
pub(crate) fn validate_finalizers(finalizers: &[String], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for finalizer in finalizers {
        let msgs = names::is_qualified_name(finalizer);
        if !msgs.is_empty() {
            errs.extend(
                msgs.into_iter()
                    .map(|m| FieldError::invalid(path, q(finalizer), m)),
            );
        } else if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer.as_str()) {
            errs.push(FieldError::invalid(
                path,
                q(finalizer),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
        if !seen.insert(finalizer.as_str()) {
            errs.push(FieldError::duplicate(path, q(finalizer)));
        }
    }
    errs
}

/// `ValidateLabelSelector`: label syntax in matchLabels, operators and values in
/// matchExpressions.
pub(crate) fn validate_label_selector(selector: &LabelSelector, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_labels(selector.match_labels.as_ref(), &path.child("matchLabels"));
    for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(
                FieldError::required(p.child("values"))
                    .with_message("must be specified when `operator` is 'In' or 'NotIn'"),
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                p.child("operator"),
                q(other),
                "not a valid selector operator",
            )),
        }
        for msg in names::is_qualified_name(&expr.key) {
            errs.push(FieldError::invalid(p.child("key"), q(&expr.key), msg));
        }
        for (j, value) in values.iter().enumerate() {
            for msg in names::is_valid_label_value(value) {
                errs.push(FieldError::invalid(
                    p.child("values").index(j),
                    q(value),
                    msg,
                ));
            }
        }
    }
    errs
}

/// Whether a selector has neither matchLabels nor matchExpressions.
pub(crate) fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// `spec.selector: Invalid value: ...: empty selector is invalid for <what>`
pub(crate) fn empty_selector_error(
    selector: &LabelSelector,
    path: &Path,
    what: &str,
) -> FieldError {
    FieldError::invalid(
        path,
        go_selector(selector),
        format!("empty selector is invalid for {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_kind_rule() {
        let errs = validate_object_meta(&meta("Foo_Bar"), Scope::Namespaced, NameRule::Subdomain);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with(
            "metadata.name: Invalid value: \"Foo_Bar\": a lowercase RFC 1123 subdomain"
        ));
        assert!(
            validate_object_meta(&meta("a.b"), Scope::Namespaced, NameRule::Subdomain).is_empty()
        );
        assert!(!validate_object_meta(&meta("a.b"), Scope::Namespaced, NameRule::Label).is_empty());
        assert!(
            !validate_object_meta(&meta("1abc"), Scope::Namespaced, NameRule::Rfc1035).is_empty()
        );
    }

    #[test]
    fn name_or_generate_name_is_required() {
        let errs = validate_object_meta(
            &ObjectMeta::default(),
            Scope::Namespaced,
            NameRule::Subdomain,
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let generated = ObjectMeta {
            generate_name: Some("web-".into()),
            ..Default::default()
        };
        assert!(
            validate_object_meta(&generated, Scope::Namespaced, NameRule::Subdomain).is_empty()
        );
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let m = ObjectMeta {
            namespace: Some("default".into()),
            ..meta("n1")
        };
        let errs = validate_object_meta(&m, Scope::Cluster, NameRule::Subdomain);
        assert_eq!(
            errs[0].to_string(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
    }

    #[test]
    fn labels_and_annotations() {
        let labels: BTreeMap<String, String> =
            [("app".into(), "-bad".into()), ("a/b/c".into(), "x".into())].into();
        let errs = validate_labels(Some(&labels), &Path::new("metadata.labels"));
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.field == "metadata.labels"));
        let big: BTreeMap<String, String> =
            [("k".into(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT))].into();
        let errs = validate_annotations(Some(&big), &Path::new("metadata.annotations"));
        assert_eq!(
            errs[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn finalizers() {
        let errs = validate_finalizers(
            &["kubernetes".into(), "custom".into(), "kubernetes".into()],
            &Path::new("metadata.finalizers"),
        );
        assert_eq!(errs.len(), 2);
        assert!(
            errs[0]
                .message
                .contains("neither a standard finalizer name")
        );
        assert_eq!(errs[1].message, "Duplicate value: \"kubernetes\"");
        assert!(validate_finalizers(&["example.com/cleanup".into()], &Path::new("f")).is_empty());
    }
}
