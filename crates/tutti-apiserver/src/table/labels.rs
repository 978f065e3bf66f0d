//! Label maps and label selectors as kube prints them: `labels.FormatLabels` for plain maps
//! (SELECTOR of a service, NODE SELECTOR of a daemonset) and `metav1.FormatLabelSelector` for
//! `LabelSelector`s (SELECTOR of workloads).

use serde_json::Value;

/// `labels.FormatLabels`: `app=web,tier=front` sorted by key, or `<none>` for an empty map.
pub(super) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<(&str, &str)> = match map {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
            .collect(),
        _ => Vec::new(),
    };
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort_unstable();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when it selects everything or
/// nothing, `<error>` when it cannot be a selector.
pub(super) fn format_label_selector(selector: Option<&Value>) -> String {
    match selector_string(selector) {
        None => "<error>".to_string(),
        Some(s) if s.is_empty() => "<none>".to_string(),
        Some(s) => s,
    }
}

/// `LabelSelectorAsSelector(..).String()`: requirements sorted by key, e.g.
/// `app=web,env in (prod,staging),!legacy`. A missing or empty selector prints as `""`;
/// `None` means the selector is invalid (unknown operator, wrong number of values).
pub(super) fn selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return Some(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in match_labels {
            requirements.push((key.clone(), format!("{key}={}", value.as_str()?)));
        }
    }
    if let Some(expressions) = selector.get("matchExpressions").and_then(Value::as_array) {
        for expression in expressions {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
            requirements.push((key.to_string(), expression_string(key, expression)?));
        }
    }
    // `internalSelector.Add` sorts requirements by key only.
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let rendered: Vec<String> = requirements.into_iter().map(|(_, r)| r).collect();
    Some(rendered.join(","))
}

/// One `matchExpressions` entry as a `labels.Requirement` string; values print sorted.
fn expression_string(key: &str, expression: &Value) -> Option<String> {
    let mut values = Vec::new();
    for value in expression
        .get("values")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        values.push(value.as_str()?);
    }
    values.sort_unstable();
    let operator = expression
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("");
    match operator {
        "In" | "NotIn" if !values.is_empty() => {
            let word = if operator == "In" { "in" } else { "notin" };
            Some(format!("{key} {word} ({})", values.join(",")))
        }
        "Exists" if values.is_empty() => Some(key.to_string()),
        "DoesNotExist" if values.is_empty() => Some(format!("!{key}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_maps_print_sorted_or_none() {
        let map = json!({"tier": "front", "app": "web"});
        assert_eq!(format_labels(Some(&map)), "app=web,tier=front");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors_mix_labels_and_expressions_sorted_by_key() {
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "env", "operator": "In", "values": ["staging", "prod"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"}
            ]
        });
        assert_eq!(
            format_label_selector(Some(&selector)),
            "app=web,env in (prod,staging),gpu,!legacy,zone notin (b)"
        );
    }

    #[test]
    fn empty_nil_and_invalid_selectors() {
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(selector_string(None).as_deref(), Some(""));
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]});
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
        let no_values = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(selector_string(Some(&no_values)), None);
    }
}
