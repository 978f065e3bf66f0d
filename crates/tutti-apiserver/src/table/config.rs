//! Rows of ConfigMap, Secret and ServiceAccount (kube's `printConfigMap`, `printSecret`,
//! `printServiceAccount`): how many keys or secrets each holds.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::age::age;
use super::column::{AGE, Column, NAME};
use super::fields::{count, name, text};

pub(super) const CONFIG_MAP_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Data", "string", "Data contains the configuration data."),
    AGE,
];

pub(super) fn config_map_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let keys = count(obj, "/data") + count(obj, "/binaryData");
    vec![name(obj), json!(keys), age(obj, now)]
}

pub(super) const SECRET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    Column::new("Data", "string", "Data contains the secret data."),
    AGE,
];

pub(super) fn secret_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    // `type` defaults to Opaque in the API.
    let ty = match text(obj, "/type") {
        "" => "Opaque",
        ty => ty,
    };
    vec![
        name(obj),
        json!(ty),
        json!(count(obj, "/data")),
        age(obj, now),
    ]
}

pub(super) const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

pub(super) fn service_account_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), json!(count(obj, "/secrets")), age(obj, now)]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::table::fixtures::{ago, row};

    #[test]
    fn config_map_counts_text_and_binary_keys() {
        let cm = json!({"metadata": {"name": "nginx-conf", "creationTimestamp": ago(3600)},
            "data": {"nginx.conf": "events {}", "mime.types": "..."}, "binaryData": {"favicon.ico": "AAAB"}});
        assert_eq!(row("ConfigMap", &cm), ["nginx-conf", "#3", "60m"]);
        let empty = json!({"metadata": {"name": "kube-root-ca.crt"}});
        assert_eq!(
            row("ConfigMap", &empty),
            ["kube-root-ca.crt", "#0", "<unknown>"]
        );
    }

    #[test]
    fn secret_type_and_key_count() {
        let tls = json!({"metadata": {"name": "web-tls", "creationTimestamp": ago(40 * 86400)},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "LS0t", "tls.key": "LS0t"}});
        assert_eq!(
            row("Secret", &tls),
            ["web-tls", "kubernetes.io/tls", "#2", "40d"]
        );
        let opaque =
            json!({"metadata": {"name": "db-password"}, "data": {"password": "aHVudGVyMg=="}});
        assert_eq!(row("Secret", &opaque)[..3], ["db-password", "Opaque", "#1"]);
    }

    #[test]
    fn service_account_secret_count() {
        let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(2 * 365 * 86400 + 86400)}});
        assert_eq!(row("ServiceAccount", &sa), ["default", "#0", "2y1d"]);
        let with = json!({"metadata": {"name": "ci"}, "secrets": [{"name": "ci-token"}]});
        assert_eq!(row("ServiceAccount", &with)[1], "#1");
    }
}
