//! Server-side apply's field ownership: which fields an apply configuration sets, in the
//! `FieldsV1` form Kubernetes keeps in `metadata.managedFields`, and what re-applying a
//! configuration means for the fields the previous one set.
//!
//! A configuration's field set holds one path per value it sets: `f:<name>` steps through
//! maps, `k:{"<mergeKey>":<value>}` through lists merged by key (containers by name, ports
//! by containerPort, ...), `v:<value>` names an item of a set of primitives (finalizers), and
//! any other list is owned whole. A keyed item is itself a path (`.` in `FieldsV1`), so
//! dropping a container from the configuration removes the container.
//!
//! What is tracked is the appliers' sets only; writes with other verbs do not take fields
//! over (Kubernetes moves ownership to them), so a field an applier set and someone else
//! later changed is still the applier's to remove.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::schema::{ListStrategy, Ty};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A map key.
    Field(String),
    /// A list item matched by its merge key: (key, value as JSON).
    Key(String, String),
    /// An item of a set of primitives, as JSON.
    Value(String),
}

/// A path from the object's root.
pub type Path = Vec<Step>;

/// The fields one manager owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    pub paths: BTreeSet<Path>,
}

/// Fields of the object's identity, never owned: they name the object rather than set it.
fn is_identity(path: &[Step]) -> bool {
    matches!(path, [Step::Field(f)] if f == "apiVersion" || f == "kind")
        || matches!(path, [Step::Field(m), Step::Field(f)]
            if m == "metadata" && matches!(f.as_str(), "name" | "namespace" | "uid" | "resourceVersion" | "managedFields" | "creationTimestamp" | "generation"))
}

impl FieldSet {
    /// The fields an apply configuration for an object of `kind` sets.
    pub fn of_config(kind: &str, config: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        walk(Ty::root(kind), config, &mut Vec::new(), &mut set.paths);
        set.paths.retain(|p| !is_identity(p));
        set
    }

    /// Parse `managedFields[].fieldsV1`; what it cannot read is left out.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        read_v1(v, &mut Vec::new(), &mut set.paths);
        set
    }

    /// The `FieldsV1` form of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.paths {
            let mut node = &mut root;
            for step in path {
                let entry = node
                    .entry(encode(step))
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                let Value::Object(next) = entry else {
                    break;
                };
                node = next;
            }
        }
        // An owned path that also has owned children says so with ".".
        mark_owned_parents(&mut root, &self.paths, &mut Vec::new());
        Value::Object(root)
    }

    pub fn contains(&self, path: &[Step]) -> bool {
        self.paths.contains(path)
    }
}

fn mark_owned_parents(node: &mut Map<String, Value>, paths: &BTreeSet<Path>, at: &mut Path) {
    for (k, v) in node.iter_mut() {
        let Some(step) = decode(k) else { continue };
        at.push(step);
        if let Value::Object(child) = v {
            if !child.is_empty() && paths.contains(at.as_slice()) && !child.contains_key(".") {
                child.insert(".".into(), Value::Object(Map::new()));
            }
            mark_owned_parents(child, paths, at);
        }
        at.pop();
    }
}

fn walk(ty: Ty, value: &Value, at: &mut Path, out: &mut BTreeSet<Path>) {
    let Value::Object(map) = value else {
        out.insert(at.clone());
        return;
    };
    if map.is_empty() && !at.is_empty() {
        out.insert(at.clone());
        return;
    }
    for (name, child) in map {
        let field = ty.field(name);
        at.push(Step::Field(name.clone()));
        match (child, field.list) {
            (Value::Array(items), ListStrategy::MergeByKey(key)) => {
                for item in items {
                    match item.get(key) {
                        Some(k) => {
                            at.push(Step::Key(key.to_string(), k.to_string()));
                            out.insert(at.clone());
                            walk(field.ty, item, at, out);
                            at.pop();
                        }
                        // An item without its key cannot be told apart: own the list.
                        None => {
                            out.insert(at.clone());
                        }
                    }
                }
                if items.is_empty() {
                    out.insert(at.clone());
                }
            }
            (Value::Array(items), ListStrategy::MergePrimitive) => {
                for item in items {
                    at.push(Step::Value(item.to_string()));
                    out.insert(at.clone());
                    at.pop();
                }
                if items.is_empty() {
                    out.insert(at.clone());
                }
            }
            (Value::Object(_), _) => walk(field.ty, child, at, out),
            _ => {
                out.insert(at.clone());
            }
        }
        at.pop();
    }
}

fn encode(step: &Step) -> String {
    match step {
        Step::Field(f) => format!("f:{f}"),
        Step::Key(k, v) => {
            let mut m = Map::new();
            m.insert(
                k.clone(),
                serde_json::from_str(v).unwrap_or(Value::String(v.clone())),
            );
            format!("k:{}", Value::Object(m))
        }
        Step::Value(v) => format!("v:{v}"),
    }
}

fn decode(s: &str) -> Option<Step> {
    if let Some(f) = s.strip_prefix("f:") {
        return Some(Step::Field(f.to_string()));
    }
    if let Some(v) = s.strip_prefix("v:") {
        return Some(Step::Value(v.to_string()));
    }
    let k = s.strip_prefix("k:")?;
    let Ok(Value::Object(m)) = serde_json::from_str::<Value>(k) else {
        return None;
    };
    // Keys of more than one field are not produced here; read the first.
    let (key, value) = m.into_iter().next()?;
    Some(Step::Key(key, value.to_string()))
}

fn read_v1(v: &Value, at: &mut Path, out: &mut BTreeSet<Path>) {
    let Value::Object(map) = v else { return };
    if map.is_empty() && !at.is_empty() {
        out.insert(at.clone());
        return;
    }
    for (k, child) in map {
        if k == "." {
            if !at.is_empty() {
                out.insert(at.clone());
            }
            continue;
        }
        let Some(step) = decode(k) else { continue };
        at.push(step);
        read_v1(child, at, out);
        at.pop();
    }
}

/// A step's JSON text back as a value, to compare with items.
fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The value at `path` in `obj`, if there is one.
pub fn value_at<'a>(obj: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path {
        cur = match step {
            Step::Field(f) => cur.get(f)?,
            Step::Key(k, v) => {
                let v = parsed(v);
                cur.as_array()?
                    .iter()
                    .find(|item| item.get(k) == Some(&v))?
            }
            Step::Value(v) => {
                let v = parsed(v);
                cur.as_array()?.iter().find(|x| **x == v)?
            }
        };
    }
    Some(cur)
}

/// Remove the value at `path` from `obj` (a map key, a keyed list item, a set item).
/// Nothing happens when it is not there.
pub fn remove_at(obj: &mut Value, path: &[Step]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parent_path {
        let next = match step {
            Step::Field(f) => cur.get_mut(f),
            Step::Key(k, v) => {
                let v = parsed(v);
                cur.as_array_mut()
                    .and_then(|items| items.iter_mut().find(|item| item.get(k) == Some(&v)))
            }
            Step::Value(_) => None,
        };
        let Some(next) = next else { return };
        cur = next;
    }
    match last {
        Step::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Step::Key(k, v) => {
            if let Some(items) = cur.as_array_mut() {
                let v = parsed(v);
                items.retain(|item| item.get(k) != Some(&v));
            }
        }
        Step::Value(v) => {
            if let Some(items) = cur.as_array_mut() {
                let v = parsed(v);
                items.retain(|x| *x != v);
            }
        }
    }
}

/// A path as Kubernetes prints it in conflicts: `.spec.replicas`,
/// `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k, v) => s.push_str(&format!("[{k}={v}]")),
            Step::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// One field another manager set to a different value than this configuration does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub path: Path,
}

/// What applying `config` as `manager` means, given the object now and the field sets of
/// every applier (`owners`, by manager name, this manager's previous set included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyPlan {
    /// The manager's new field set.
    pub owned: FieldSet,
    /// Fields the previous configuration set, this one does not, and nobody else owns:
    /// to be removed from the object.
    pub removed: Vec<Path>,
    /// Fields other appliers own with a different value.
    pub conflicts: Vec<Conflict>,
}

/// Plan an apply; see [`ApplyPlan`].
pub fn plan_apply(
    kind: &str,
    current: &Value,
    config: &Value,
    manager: &str,
    owners: &BTreeMap<String, FieldSet>,
) -> ApplyPlan {
    let owned = FieldSet::of_config(kind, config);
    let previous = owners.get(manager).cloned().unwrap_or_default();
    let others = || owners.iter().filter(|(m, _)| m.as_str() != manager);
    let mut conflicts = Vec::new();
    for path in &owned.paths {
        let wanted = value_at(config, path);
        // Items and maps are compared through their fields; only leaves conflict.
        if wanted.is_some_and(|w| w.is_object() && w.as_object().is_some_and(|m| !m.is_empty())) {
            continue;
        }
        for (other, set) in others() {
            if set.contains(path) && value_at(current, path) != wanted {
                conflicts.push(Conflict {
                    manager: other.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    let mut removed: Vec<Path> = previous
        .paths
        .iter()
        .filter(|p| !owned.contains(p) && !others().any(|(_, s)| s.contains(p)))
        // Keep a path whose parent is removed anyway, or whose children someone still owns.
        .filter(|p| {
            !others().any(|(_, s)| {
                s.paths
                    .iter()
                    .any(|q| q.len() > p.len() && q.starts_with(p))
            }) && !owned
                .paths
                .iter()
                .any(|q| q.len() > p.len() && q.starts_with(p))
        })
        .cloned()
        .collect();
    // Removing an item or a map removes its fields: keep only the outermost paths (removing
    // an item's key field first would leave the item unfindable).
    let all = removed.clone();
    removed.retain(|p| !all.iter().any(|q| q.len() < p.len() && p.starts_with(q)));
    ApplyPlan {
        owned,
        removed,
        conflicts,
    }
}

#[cfg(test)]
mod tests;
