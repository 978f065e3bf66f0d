//! Strategic merge patch, following `k8s.io/apimachinery/pkg/util/strategicpatch` as the API
//! server applies it (`MergeParallelList` and `IgnoreUnmatchedNulls` on):
//!
//! - maps merge key by key, `null` deletes, other values replace;
//! - lists with a merge key merge item by item; lists of primitives with a merge strategy
//!   union; other lists are replaced;
//! - `$patch: replace|delete|merge` on a map or list item, `$retainKeys`,
//!   `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are applied;
//! - items only in the patch come before items only in the original unless
//!   `$setElementOrder` says otherwise; items in both keep the original's relative order.
//!
//! Unlike Kubernetes, directive keys inside newly added values are processed too, so they
//! never leak into the stored object, and `$patch: delete` on a map field removes the field.

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::{Field, ListStrategy, Ty};

#[cfg(test)]
mod tests;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

type Object = Map<String, Value>;

/// Applies `patch` to `original` (both objects) for a root type.
pub(super) fn apply(ty: Ty, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject(type_name(patch).to_string()));
    };
    let original = original.as_object().cloned().unwrap_or_default();
    Ok(Value::Object(
        merge_map(original, patch.clone(), ty, "")?.unwrap_or_default(),
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Merges a patch map into an original map. `None` means the map was deleted (`$patch: delete`).
fn merge_map(
    mut original: Object,
    mut patch: Object,
    ty: Ty,
    at: &str,
) -> Result<Option<Object>, PatchError> {
    if let Some(directive) = patch.shift_remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return merge_map(Object::new(), patch, ty, at),
            Some("delete") => return Ok(None),
            Some("merge") => {}
            _ => {
                return Err(PatchError::UnknownDirective {
                    directive: DIRECTIVE.into(),
                    value: directive.to_string(),
                });
            }
        }
    }
    if let Some(keys) = patch.shift_remove(RETAIN_KEYS) {
        apply_retain_keys(&mut original, &patch, &keys, at)?;
    }
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ORDER))
        .cloned()
        .collect();
    for key in order_keys {
        if let Some(order) = patch.shift_remove(&key) {
            let field_name = &key[SET_ORDER.len()..];
            apply_element_order(
                &mut original,
                &mut patch,
                field_name,
                order,
                ty,
                &join(at, field_name),
            )?;
        }
    }
    for (key, value) in patch {
        if let Some(field_name) = key.strip_prefix(DELETE_PRIMITIVE) {
            let Value::Array(remove) = value else {
                return Err(PatchError::DeleteFromPrimitiveList {
                    field: join(at, field_name),
                });
            };
            if let Some(Value::Array(list)) = original.get_mut(field_name) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::UnknownDirective {
                directive: key,
                value: value.to_string(),
            });
        }
        if value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let field = ty.field(&key);
        let child_at = join(at, &key);
        let current = original.get_mut(&key).map(std::mem::take);
        let merged = match (current, value) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                merge_map(o, p, field.ty, &child_at)?.map(Value::Object)
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                Some(Value::Array(merge_list(o, p, field, &child_at)?))
            }
            (_, value) => fresh(value, field, &child_at)?,
        };
        match merged {
            Some(v) => {
                original.insert(key, v);
            }
            None => {
                original.shift_remove(&key);
            }
        }
    }
    Ok(Some(original))
}

/// A value with no counterpart in the original: directives are applied against nothing, so
/// they do not leak, and nulls are dropped.
fn fresh(value: Value, field: Field, at: &str) -> Result<Option<Value>, PatchError> {
    Ok(match value {
        Value::Object(p) => merge_map(Object::new(), p, field.ty, at)?.map(Value::Object),
        Value::Array(p) => Some(Value::Array(merge_list(Vec::new(), p, field, at)?)),
        Value::Null => None,
        other => Some(other),
    })
}

fn apply_retain_keys(
    original: &mut Object,
    patch: &Object,
    keys: &Value,
    at: &str,
) -> Result<(), PatchError> {
    let bad = |reason: String| PatchError::RetainKeys {
        field: if at.is_empty() {
            "<root>".into()
        } else {
            at.into()
        },
        reason,
    };
    let keys: Vec<&str> = keys
        .as_array()
        .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad("the value must be a list of field names".into()))?;
    for (key, value) in patch {
        if value.is_null() || key.starts_with(SET_ORDER) || key.starts_with(DELETE_PRIMITIVE) {
            continue;
        }
        if !keys.contains(&key.as_str()) {
            return Err(bad(format!(
                "{key:?} is set in the patch but missing from $retainKeys"
            )));
        }
    }
    original.retain(|key, _| keys.contains(&key.as_str()));
    Ok(())
}

/// Merges two lists according to the field's strategy.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Field,
    at: &str,
) -> Result<Vec<Value>, PatchError> {
    if field.list == ListStrategy::Replace {
        return replace_list(patch, field.ty, at);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if original.iter().chain(&patch).any(Value::is_array) {
        return Err(PatchError::ListOfLists {
            field: at.to_string(),
        });
    }
    let maps = original.iter().chain(&patch).any(Value::is_object);
    match (field.list, maps) {
        (_, false) => Ok(merge_primitives(original, &patch)),
        (ListStrategy::MergeByKey(key), true) => merge_keyed(original, patch, key, field.ty, at),
        // A merge list without a key cannot merge maps: replace, as a list without strategy.
        _ => replace_list(patch, field.ty, at),
    }
}

/// The patch's list, with directives applied to its items and list markers dropped.
fn replace_list(patch: Vec<Value>, ty: Ty, at: &str) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for item in patch {
        match item {
            Value::Object(m) if m.len() == 1 && m.contains_key(DIRECTIVE) => {}
            Value::Object(m) => out.extend(merge_map(Object::new(), m, ty, at)?.map(Value::Object)),
            other => out.push(other),
        }
    }
    Ok(out)
}

fn merge_primitives(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let mut all = Vec::with_capacity(original.len() + patch.len());
    for item in original.iter().chain(patch) {
        if !all.contains(item) {
            all.push(item.clone());
        }
    }
    let (in_patch, server_only): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|v| patch.contains(v));
    let in_patch = sort_by_order(in_patch, patch, |v| v.clone());
    merge_sorted(server_only, in_patch, &original, |v| v.clone())
}

fn missing_key(key: &str, item: &Object, at: &str) -> PatchError {
    PatchError::MissingMergeKey {
        field: at.to_string(),
        key: key.to_string(),
        item: Value::Object(item.clone()).to_string(),
    }
}

fn merge_keyed(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    ty: Ty,
    at: &str,
) -> Result<Vec<Value>, PatchError> {
    let key_of = |v: &Value| v.get(key).cloned().unwrap_or(Value::Null);
    let patch_order: Vec<Value> = patch.iter().map(key_of).collect();
    let mut items = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(mut m) = item else {
            return Err(PatchError::MissingMergeKey {
                field: at.to_string(),
                key: key.to_string(),
                item: item.to_string(),
            });
        };
        match m.get(DIRECTIVE).map(|d| d.as_str().map(str::to_string)) {
            None => items.push(m),
            Some(Some(d)) if d == "delete" => {
                let value = m.get(key).ok_or_else(|| missing_key(key, &m, at))?;
                original.retain(|o| o.get(key) != Some(value));
            }
            Some(Some(d)) if d == "replace" => replace = true,
            Some(Some(d)) if d == "merge" => {
                m.shift_remove(DIRECTIVE);
                if !m.is_empty() {
                    items.push(m);
                }
            }
            Some(_) => {
                let value = m.get(DIRECTIVE).map(Value::to_string).unwrap_or_default();
                return Err(PatchError::UnknownDirective {
                    directive: DIRECTIVE.into(),
                    value,
                });
            }
        }
    }
    if replace {
        original.clear();
    }
    let server_order: Vec<Value> = original.iter().map(key_of).collect();
    let mut in_patch = Vec::new();
    for item in items {
        let value = item
            .get(key)
            .cloned()
            .ok_or_else(|| missing_key(key, &item, at))?;
        in_patch.push(value.clone());
        match original.iter().position(|o| o.get(key) == Some(&value)) {
            Some(i) => {
                let merged = match std::mem::take(&mut original[i]) {
                    Value::Object(o) => merge_map(o, item, ty, at)?,
                    _ => merge_map(Object::new(), item, ty, at)?,
                };
                original[i] = merged.map(Value::Object).unwrap_or(Value::Null);
            }
            None => original.extend(merge_map(Object::new(), item, ty, at)?.map(Value::Object)),
        }
    }
    original.retain(|v| !v.is_null());
    let (patched, server_only): (Vec<Value>, Vec<Value>) = original
        .into_iter()
        .partition(|v| in_patch.contains(&key_of(v)));
    let patched = sort_by_order(patched, &patch_order, key_of);
    Ok(merge_sorted(server_only, patched, &server_order, key_of))
}

/// Stable sort of `items` by the position of their key in `order` (unknown keys last).
fn sort_by_order(
    mut items: Vec<Value>,
    order: &[Value],
    key_of: impl Fn(&Value) -> Value,
) -> Vec<Value> {
    items.sort_by_key(|v| {
        let k = key_of(v);
        order.iter().position(|o| *o == k).unwrap_or(usize::MAX)
    });
    items
}

/// Kubernetes' `mergeSortedSlice`: interleaves server-only items (`left`) into patch items
/// (`right`), taking a server item first only when both are known to the server order and the
/// server item comes earlier.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    key_of: impl Fn(&Value) -> Value,
) -> Vec<Value> {
    let index = |v: &Value| {
        let k = key_of(v);
        server_order.iter().position(|o| *o == k)
    };
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((index(l), index(r)), (Some(li), Some(ri)) if li < ri),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// `$setElementOrder/<field>`: merge the field's list (if patched), then order the items the
/// directive names as it says, keeping the others where the original had them.
fn apply_element_order(
    original: &mut Object,
    patch: &mut Object,
    field_name: &str,
    order: Value,
    ty: Ty,
    at: &str,
) -> Result<(), PatchError> {
    let Value::Array(order) = order else {
        return Err(PatchError::SetElementOrder {
            field: at.to_string(),
            reason: "the value must be a list".into(),
        });
    };
    let field = ty.field(field_name);
    let key = match field.list {
        ListStrategy::MergeByKey(k) => Some(k),
        _ => None,
    };
    let key_of = |v: &Value| match key {
        Some(k) if v.is_object() => v.get(k).cloned().unwrap_or(Value::Null),
        _ => v.clone(),
    };
    let original_list = match original.get(field_name) {
        Some(Value::Array(list)) => Some(list.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Ok(()),
    };
    let patch_list = match patch.get(field_name) {
        Some(Value::Array(list)) => Some(list.clone()),
        None => None,
        Some(_) => return Ok(()),
    };
    if let Some(list) = &patch_list {
        check_order(list, &order, &key_of, at)?;
    }
    let merged = match (original_list.clone(), patch_list) {
        (Some(o), None) => o,
        (None, Some(p)) => merge_list(Vec::new(), p, field, at)?,
        (Some(o), Some(p)) => merge_list(o, p, field, at)?,
        (None, None) => return Ok(()),
    };
    let order_keys: Vec<Value> = order.iter().map(&key_of).collect();
    let (ordered, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| order_keys.contains(&key_of(v)));
    let ordered = sort_by_order(ordered, &order_keys, key_of);
    let server_order: Vec<Value> = original_list
        .unwrap_or_default()
        .iter()
        .map(&key_of)
        .collect();
    let server_only = sort_by_order(server_only, &server_order, key_of);
    let result = merge_sorted(server_only, ordered, &server_order, key_of);
    patch.shift_remove(field_name);
    match original.get_mut(field_name) {
        Some(slot) => *slot = Value::Array(result),
        None => {
            original.insert(field_name.to_string(), Value::Array(result));
        }
    }
    Ok(())
}

/// The patch list's items (deletions aside) must appear in the order list, in its order.
fn check_order(
    patch_list: &[Value],
    order: &[Value],
    key_of: &impl Fn(&Value) -> Value,
    at: &str,
) -> Result<(), PatchError> {
    let mut order_keys = order.iter().map(key_of);
    for item in patch_list {
        if item.get(DIRECTIVE).is_some() {
            continue;
        }
        let wanted = key_of(item);
        if !order_keys.any(|k| k == wanted) {
            return Err(PatchError::SetElementOrder {
                field: at.to_string(),
                reason: format!(
                    "the patch list item {item} is missing from the order, or out of order"
                ),
            });
        }
    }
    Ok(())
}
