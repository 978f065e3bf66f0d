//! Reading fields of a stored object by JSON pointer, with Go's zero values for absent or
//! mistyped fields — the printers in kube read typed structs where a missing field is `""`, `0`,
//! `false` or an empty list, and a row must come out whole even for a sparse object.

use serde_json::Value;

/// The string at `pointer`, or `""`.
pub(super) fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `pointer`, if there is one.
pub(super) fn int_opt(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// The integer at `pointer`, or `0`.
pub(super) fn int(obj: &Value, pointer: &str) -> i64 {
    int_opt(obj, pointer).unwrap_or(0)
}

/// The boolean at `pointer`, if there is one.
pub(super) fn flag_opt(obj: &Value, pointer: &str) -> Option<bool> {
    obj.pointer(pointer).and_then(Value::as_bool)
}

/// The array at `pointer`, or an empty slice.
pub(super) fn items<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// How many entries the map or list at `pointer` has (`len()` in Go), as a JSON integer cell.
pub(super) fn count(obj: &Value, pointer: &str) -> i64 {
    match obj.pointer(pointer) {
        Some(Value::Object(map)) => len_i64(map.len()),
        Some(Value::Array(list)) => len_i64(list.len()),
        _ => 0,
    }
}

/// A collection length as the `int64` kube puts in cells.
fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Whether the field at `pointer` is set to an object (a Go pointer-to-struct that is non-nil).
pub(super) fn has_object(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).is_some_and(Value::is_object)
}

/// The object's name, the first cell of nearly every row.
pub(super) fn name(obj: &Value) -> Value {
    Value::String(text(obj, "/metadata/name").to_string())
}

/// `s`, or `<none>` when it is empty — kube's placeholder for unset optional cells.
pub(super) fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}
