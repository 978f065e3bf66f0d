//! Turning the server's `meta.k8s.io/v1 Table` into printed rows, as kubectl does: priority-0
//! columns (and priority-1 with `-o wide`), uppercase headers, a NAMESPACE column first with
//! `-A`, and `kind.group/name` names when several types are printed.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::output::age::age_since;
use crate::output::table::Table;

/// How to print a server Table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Include priority-1 columns (`-o wide`).
    pub wide: bool,
    /// Prepend a NAMESPACE column (`-A`).
    pub with_namespace: bool,
    /// Prefix names with `deployment.apps/` (several types asked for).
    pub kind_prefix: Option<String>,
}

/// The columns picked from a Table's `columnDefinitions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Indices into each row's cells.
    indices: Vec<usize>,
    headers: Vec<String>,
    /// Index (into `indices`) of the name column.
    name: Option<usize>,
}

impl Columns {
    pub fn from_table(table: &Value, opts: &Options) -> Self {
        let defs = table
            .get("columnDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut cols = Columns::default();
        for (i, def) in defs.iter().enumerate() {
            let priority = def.get("priority").and_then(Value::as_i64).unwrap_or(0);
            if priority != 0 && !opts.wide {
                continue;
            }
            let name = def.get("name").and_then(Value::as_str).unwrap_or("");
            if cols.name.is_none()
                && (def.get("format").and_then(Value::as_str) == Some("name") || name == "Name")
            {
                cols.name = Some(cols.indices.len());
            }
            cols.indices.push(i);
            cols.headers.push(name.to_ascii_uppercase());
        }
        cols
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Header cells, NAMESPACE first when asked.
    pub fn headers(&self, opts: &Options) -> Vec<String> {
        let mut h = Vec::with_capacity(self.headers.len() + 1);
        if opts.with_namespace {
            h.push("NAMESPACE".to_string());
        }
        h.extend(self.headers.iter().cloned());
        h
    }

    /// The printed cells of every row of `table`.
    pub fn rows(&self, table: &Value, opts: &Options) -> Vec<Vec<String>> {
        let rows = table
            .get("rows")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        rows.iter().map(|row| self.row(row, opts)).collect()
    }

    fn row(&self, row: &Value, opts: &Options) -> Vec<String> {
        let cells = row
            .get("cells")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(self.indices.len() + 1);
        if opts.with_namespace {
            let ns = row
                .pointer("/object/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push(ns.to_string());
        }
        for (j, &i) in self.indices.iter().enumerate() {
            let mut cell = cells.get(i).map(cell_text).unwrap_or_default();
            if self.name == Some(j)
                && let Some(prefix) = &opts.kind_prefix
            {
                cell = format!("{prefix}/{cell}");
            }
            out.push(cell);
        }
        out
    }
}

/// A cell as kubectl prints it: strings as they are, numbers and booleans in plain form, a
/// missing value as `<none>`.
pub fn cell_text(cell: &Value) -> String {
    match cell {
        Value::Null => "<none>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The printable table of one server Table.
pub fn to_table(table: &Value, opts: &Options) -> Table {
    let cols = Columns::from_table(table, opts);
    Table {
        headers: cols.headers(opts),
        rows: cols.rows(table, opts),
    }
}

/// A NAME/AGE Table built from a plain object or list, for a server that answers without one.
pub fn fallback_table(answer: &Value, now: Timestamp) -> Value {
    if answer.get("kind").and_then(Value::as_str) == Some("Table") {
        return answer.clone();
    }
    let objects: Vec<&Value> = match answer.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![answer],
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            let created = o.pointer("/metadata/creationTimestamp").and_then(Value::as_str);
            json!({"cells": [name, age_since(created, now)], "object": {"metadata": o.get("metadata")}})
        })
        .collect();
    json!({
        "kind": "Table",
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "priority": 0},
        ],
        "rows": rows,
    })
}

/// The `resourceVersion` of a row's object (watch events carry one per row).
pub fn row_resource_version(table: &Value) -> Option<String> {
    let rows = table.get("rows")?.as_array()?;
    rows.iter().rev().find_map(|r| {
        r.pointer("/object/metadata/resourceVersion")?
            .as_str()
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployments() -> Value {
        json!({
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "12"},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Ready", "type": "string", "format": "", "priority": 0},
                {"name": "Up-to-date", "type": "integer", "format": "", "priority": 0},
                {"name": "Available", "type": "integer", "format": "", "priority": 0},
                {"name": "Age", "type": "string", "format": "", "priority": 0},
                {"name": "Containers", "type": "string", "format": "", "priority": 1},
            ],
            "rows": [
                {"cells": ["nginx", "3/3", 3, 3, "10s", "nginx"],
                 "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "nginx", "namespace": "default", "resourceVersion": "11"}}},
                {"cells": ["web", "0/1", 0, 0, "5m", null],
                 "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "9"}}},
            ],
        })
    }

    #[test]
    fn default_output_hides_wide_columns() {
        let t = to_table(&deployments(), &Options::default());
        let expected = "\
NAME    READY   UP-TO-DATE   AVAILABLE   AGE
nginx   3/3     3            3           10s
web     0/1     0            0           5m
";
        assert_eq!(t.render(), expected);
    }

    #[test]
    fn wide_all_namespaces_and_kind_prefix() {
        let opts = Options {
            wide: true,
            with_namespace: true,
            kind_prefix: Some("deployment.apps".into()),
        };
        let t = to_table(&deployments(), &opts);
        assert_eq!(t.headers[0], "NAMESPACE");
        assert_eq!(t.headers.last().map(String::as_str), Some("CONTAINERS"));
        assert_eq!(
            t.rows[0][..2],
            ["default".to_string(), "deployment.apps/nginx".to_string()]
        );
        assert_eq!(t.rows[1][0], "prod");
        assert_eq!(t.rows[1].last().map(String::as_str), Some("<none>"));
    }

    #[test]
    fn plain_lists_get_a_name_and_age_table() {
        let now: Timestamp = "2024-03-05T10:00:30Z".parse().unwrap();
        let list = json!({"kind": "FrobList", "items": [{"metadata": {"name": "a", "creationTimestamp": "2024-03-05T10:00:00Z"}}]});
        let t = to_table(&fallback_table(&list, now), &Options::default());
        assert_eq!(t.render(), "NAME   AGE\na      30s\n");
        assert_eq!(fallback_table(&deployments(), now), deployments());
    }

    #[test]
    fn watch_rows_carry_their_resource_version() {
        assert_eq!(row_resource_version(&deployments()).as_deref(), Some("9"));
    }
}
