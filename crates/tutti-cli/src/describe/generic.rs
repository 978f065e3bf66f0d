//! The description of kinds without a describer of their own: metadata, then every other
//! top-level field as indented YAML. Secret values are never shown, only their sizes.

use serde_json::Value;

use super::metadata;
use super::writer::{Writer, text};
use crate::output::object::to_yaml;

pub fn write(w: &mut Writer, obj: &Value) {
    metadata(w, obj, true);
    let Some(map) = obj.as_object() else { return };
    let secret = text(obj, "/kind") == "Secret";
    for (key, value) in map {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if secret && matches!(key.as_str(), "data" | "stringData") {
            secret_sizes(w, key, value);
            continue;
        }
        section(w, &title(key), value);
    }
}

/// `Spec:` then the value as YAML, two spaces in; scalars on the label's line.
fn section(w: &mut Writer, label: &str, value: &Value) {
    match value {
        Value::Object(m) if m.is_empty() => w.field(0, label, super::writer::NONE),
        Value::Array(a) if a.is_empty() => w.field(0, label, super::writer::NONE),
        Value::Object(_) | Value::Array(_) => {
            w.heading(0, label);
            let yaml = to_yaml(value).unwrap_or_else(|e| format!("{e:#}"));
            for line in yaml.lines() {
                w.line(1, line.replace('\t', "\\t"));
            }
        }
        other => w.field(0, label, super::writer::scalar(other)),
    }
}

/// `Data` with `key:  5 bytes` lines, as kubectl describes a Secret.
fn secret_sizes(w: &mut Writer, key: &str, value: &Value) {
    w.heading(0, &title(key));
    w.line(0, "====");
    let Some(map) = value.as_object() else { return };
    for (k, v) in map {
        let s = v.as_str().unwrap_or("");
        // `data` holds base64: report the decoded size.
        let bytes = if key == "data" {
            s.trim_end_matches('=').len() * 3 / 4
        } else {
            s.len()
        };
        w.field(0, k, format!("{bytes} bytes"));
    }
}

/// `spec` → `Spec`, `stringData` → `StringData`.
fn title(key: &str) -> String {
    let mut chars = key.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_kinds_show_fields_as_yaml_and_hide_secrets() {
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "1"}});
        let mut w = Writer::default();
        write(&mut w, &cm);
        let out = w.finish();
        assert!(
            out.contains("Data:\n  a: \"1\"\n"),
            "the string \"1\" stays a string: {out}"
        );

        let secret = json!({"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"password": "aHVudGVyMg=="}});
        let mut w = Writer::default();
        write(&mut w, &secret);
        let out = w.finish();
        assert!(out.contains("password:  7 bytes"), "{out}");
        assert!(!out.contains("aHVudGVyMg"), "{out}");
        assert!(
            out.contains("\nType:               Opaque\nData:\n====\npassword:  7 bytes\n"),
            "{out}"
        );
    }
}
