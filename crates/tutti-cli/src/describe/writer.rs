//! The text a describer writes: indented, tab-separated `Label:\tvalue` lines (kubectl's
//! `PrefixWriter`), aligned at the end with the shared tabwriter rules.

use std::fmt::Display;

use serde_json::{Map, Value};

use crate::output::table::{DESCRIBE_PADDING, align};

/// Describe output under construction.
#[derive(Debug, Default)]
pub struct Writer {
    text: String,
}

/// `<none>` for absent or empty values, as kubectl prints them.
pub const NONE: &str = "<none>";

impl Writer {
    /// A raw line at `level` (two spaces per level); tabs separate aligned cells.
    pub fn line(&mut self, level: usize, text: impl Display) {
        for _ in 0..level {
            self.text.push_str("  ");
        }
        self.text.push_str(&text.to_string());
        self.text.push('\n');
    }

    /// `Label:\tvalue` (a tab inside the value is shown as `\t`, not taken as a column).
    pub fn field(&mut self, level: usize, label: &str, value: impl Display) {
        let value = value.to_string().replace('\t', "\\t");
        self.line(level, format!("{label}:\t{value}"));
    }

    /// A heading line without a value (`Containers:`); ends the current alignment block.
    pub fn heading(&mut self, level: usize, label: &str) {
        self.line(level, format!("{label}:"));
    }

    /// Multi-line values under one label: the first beside it, the others aligned beneath.
    pub fn lines(&mut self, level: usize, label: &str, values: &[String]) {
        match values.split_first() {
            None => self.field(level, label, NONE),
            Some((first, rest)) => {
                self.field(level, label, first);
                for v in rest {
                    self.line(level, format!("\t{}", v.replace('\t', "\\t")));
                }
            }
        }
    }

    /// Labels as `key=value` lines.
    pub fn labels(&mut self, level: usize, label: &str, map: Option<&Value>) {
        self.lines(level, label, &pairs(map, "="));
    }

    /// Annotations as `key: value` lines.
    pub fn annotations(&mut self, level: usize, label: &str, map: Option<&Value>) {
        self.lines(level, label, &pairs(map, ": "));
    }

    /// The aligned text.
    pub fn finish(self) -> String {
        align(&self.text, DESCRIBE_PADDING)
    }
}

/// A string map's entries as `k{sep}v`, sorted by key.
pub fn pairs(map: Option<&Value>, sep: &str) -> Vec<String> {
    let Some(map) = map.and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}{sep}{}", scalar(v)))
        .collect();
    out.sort();
    out
}

/// `app=nginx,tier=web` for a `matchLabels`-style map, `<none>` when empty.
pub fn selector_text(map: Option<&Map<String, Value>>) -> String {
    let parts: Vec<String> = map
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        NONE.to_string()
    } else {
        parts.join(",")
    }
}

/// A JSON scalar as plain text (strings unquoted; null empty).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The string at a JSON pointer, or "".
pub fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, or `default`.
pub fn int(v: &Value, pointer: &str, default: i64) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// The array at a JSON pointer, or empty.
pub fn array<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_continue_under_the_first_value() {
        let mut w = Writer::default();
        w.field(0, "Name", "nginx");
        w.labels(0, "Labels", Some(&json!({"b": "2", "a": "1"})));
        w.annotations(0, "Annotations", None);
        let expected =
            "Name:         nginx\nLabels:       a=1\n              b=2\nAnnotations:  <none>\n";
        assert_eq!(w.finish(), expected);
    }

    #[test]
    fn selectors_join_with_commas() {
        let m = json!({"app": "nginx", "tier": "web"});
        assert_eq!(selector_text(m.as_object()), "app=nginx,tier=web");
        assert_eq!(selector_text(None), "<none>");
    }
}
