//! ConfigMap and Secret validation: key syntax, the 1 MiB size limit, and the keys each
//! well-known Secret type requires.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::meta::{NameRule, Scope, validate_object_meta};
use super::path::{Path, q};
use crate::error::FieldError;
use crate::names;

/// The largest ConfigMap or Secret payload Kubernetes accepts.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn key_errors(key: &str, path: &Path) -> Vec<FieldError> {
    names::is_config_map_key(key)
        .into_iter()
        .map(|m| FieldError::invalid(path.key(key), q(key), m))
        .collect()
}

pub(super) fn validate_config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cm.metadata, Scope::Namespaced, NameRule::Subdomain);
    let data_path = Path::new("data");
    let binary_path = Path::new("binaryData");
    let mut total = 0;
    for (key, value) in cm.data.iter().flatten() {
        errs.extend(key_errors(key, &data_path));
        if cm.binary_data.as_ref().is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(
                data_path.key(key),
                q(key),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.len();
    }
    for (key, value) in cm.binary_data.iter().flatten() {
        errs.extend(key_errors(key, &binary_path));
        total += value.0.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    errs
}

pub(super) fn validate_secret(secret: &Secret) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&secret.metadata, Scope::Namespaced, NameRule::Subdomain);
    let data_path = Path::new("data");
    let mut total = 0;
    for (key, value) in secret.data.iter().flatten() {
        errs.extend(key_errors(key, &data_path));
        total += value.0.len();
    }
    // stringData is folded into data by defaulting; validate it too in case it was not.
    for (key, value) in secret.string_data.iter().flatten() {
        errs.extend(key_errors(key, &Path::new("stringData")));
        total += value.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_SECRET_SIZE));
    }
    let has = |key: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(key))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(key))
    };
    let non_empty = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .is_some_and(|v| !v.0.is_empty())
            || secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .is_some_and(|v| !v.is_empty())
    };
    match secret.type_.as_deref().unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let annotation = "kubernetes.io/service-account.name";
            let named = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(annotation))
                .is_some_and(|v| !v.is_empty());
            if !named {
                errs.push(FieldError::required(
                    Path::new("metadata.annotations").key(annotation),
                ));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            errs.push(FieldError::required(data_path.key(".dockercfg")))
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(FieldError::required(data_path.key(".dockerconfigjson")));
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required(data_path.key("username")));
            errs.push(FieldError::required(data_path.key("password")));
        }
        "kubernetes.io/ssh-auth" if !non_empty("ssh-privatekey") => {
            errs.push(FieldError::required(data_path.key("ssh-privatekey")));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(data_path.key(key)));
                }
            }
        }
        _ => {}
    }
    errs
}
