//! `-o yaml` / `-o json` printing of whole objects, and the `List` kubectl wraps several in.

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// How `get` prints objects when `-o` is given (without it: the server's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The table with priority-1 columns too.
    Wide,
    Yaml,
    Json,
    /// `kind.group/name` lines.
    Name,
}

/// An object as `kubectl get -o yaml|json` shows it: `metadata.managedFields` hidden, and keys
/// sorted at every level (kubectl prints through unstructured maps).
pub fn for_display(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    sorted(obj)
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The object serialised as YAML (two-space indents, as kubectl prints).
pub fn to_yaml(value: &Value) -> Result<String> {
    serde_saphyr::to_string(value).context("cannot print the object as YAML")
}

/// The object as indented JSON with a trailing newline.
pub fn to_json(value: &Value) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).context("cannot print the object as JSON")?;
    s.push('\n');
    Ok(s)
}

/// `items` wrapped in a `v1 List`, the shape `kubectl get -o yaml` prints for several objects.
pub fn list(items: Vec<Value>) -> Value {
    // Keys in kubectl's (sorted) order.
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// Serialises in the requested format (`Yaml` or `Json`).
pub fn render(value: &Value, yaml: bool) -> Result<String> {
    if yaml { to_yaml(value) } else { to_json(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_output_round_trips() {
        let obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}});
        let text = to_yaml(&obj).unwrap();
        assert!(
            text.starts_with("apiVersion: v1\nkind: Service\n"),
            "{text}"
        );
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, obj);
    }

    #[test]
    fn display_sorts_keys_and_hides_managed_fields() {
        let obj = json!({"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "tutti"}], "labels": {"b": "1", "a": "2"}},
            "apiVersion": "v1"});
        let shown = for_display(obj);
        assert_eq!(
            shown
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default(),
            ["apiVersion", "kind", "metadata"]
        );
        assert_eq!(
            shown["metadata"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default(),
            ["labels", "name"]
        );
        let text = to_json(&shown).unwrap();
        assert!(text.find("\"a\"") < text.find("\"b\""), "{text}");
    }

    #[test]
    fn several_objects_print_as_a_list() {
        let l = list(vec![json!({"kind": "Pod"})]);
        assert_eq!(l["kind"], "List");
        assert_eq!(l["items"][0]["kind"], "Pod");
    }
}
