//! The CONTAINERS and IMAGES cells of kinds that carry a pod template (kube's
//! `layoutContainerCells`): names and images of the template's containers, comma-joined.

use serde_json::Value;

use super::fields::{items, text};

/// `[names, images]` of the container list at `pointer` (e.g. `/spec/template/spec/containers`),
/// such as `["web,sidecar", "nginx:1.27,envoy:v1"]`; empty strings when there are none.
pub(super) fn container_cells(obj: &Value, pointer: &str) -> [Value; 2] {
    let containers = items(obj, pointer);
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    [
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    ]
}
