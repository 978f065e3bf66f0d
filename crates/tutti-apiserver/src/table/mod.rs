//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns and cell formats
//! of kube-apiserver 1.33's printers so tutti's `kubectl get` output looks like Kubernetes'.
//!
//! Like kube-apiserver, every row carries all cells, wide (priority 1) ones included; kubectl
//! hides the wide columns unless asked for `-o wide`. Printing is pure: objects and the server's
//! clock in, JSON out.

mod age;
mod batch;
mod cluster;
mod column;
mod config;
mod events;
mod fields;
#[cfg(test)]
mod fixtures;
mod labels;
mod pods;
mod policy;
mod services;
mod template;
mod workloads;

use std::str::FromStr;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

pub use age::human_duration;
use column::{AGE, Column, NAME};

/// How much of each object a `Table` row embeds (the `includeObject` table option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No `object` in the rows.
    None,
    /// A `PartialObjectMetadata` with the object's metadata; kube's default.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// The `includeObject` query parameter as given (`None` when absent). Absent, empty and
    /// unrecognised values all mean the default, `Metadata`; kube-apiserver answers 400 to
    /// unrecognised ones, which callers get with `value.parse::<IncludeObject>()`.
    pub fn parse(value: Option<&str>) -> Self {
        value.and_then(|v| v.parse().ok()).unwrap_or_default()
    }
}

/// An `includeObject` query value kube-apiserver would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("includeObject: Invalid value: {0:?}: must be 'Metadata', 'Object', 'None', or empty")]
pub struct InvalidIncludeObject(pub String);

impl FromStr for IncludeObject {
    type Err = InvalidIncludeObject;

    /// Parses the `includeObject` query parameter; an empty value means the default, `Metadata`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(InvalidIncludeObject(other.to_string())),
        }
    }
}

/// Fills the cells of one row from an object and the server's clock.
type CellsFn = fn(&Value, Timestamp) -> Vec<Value>;

/// The printer of one kind: its columns, how to fill a row, and the row's conditions.
struct Printer {
    columns: &'static [Column],
    cells: CellsFn,
    conditions: fn(&Value) -> Option<Value>,
}

impl Printer {
    const fn new(columns: &'static [Column], cells: CellsFn) -> Self {
        Printer {
            columns,
            cells,
            conditions: |_| None,
        }
    }
}

/// The printer for `kind` (e.g. `Pod`, `Deployment`); kinds without one get NAME and AGE.
fn printer(kind: &str) -> Printer {
    match kind {
        "Pod" => Printer {
            conditions: pods::row_conditions,
            ..Printer::new(pods::COLUMNS, pods::cells)
        },
        "Deployment" => Printer::new(workloads::DEPLOYMENT_COLUMNS, workloads::deployment_cells),
        "ReplicaSet" => Printer::new(workloads::REPLICA_SET_COLUMNS, workloads::replica_set_cells),
        "DaemonSet" => Printer::new(workloads::DAEMON_SET_COLUMNS, workloads::daemon_set_cells),
        "StatefulSet" => Printer::new(
            workloads::STATEFUL_SET_COLUMNS,
            workloads::stateful_set_cells,
        ),
        "Job" => Printer::new(batch::JOB_COLUMNS, batch::job_cells),
        "CronJob" => Printer::new(batch::CRON_JOB_COLUMNS, batch::cron_job_cells),
        "Service" => Printer::new(services::SERVICE_COLUMNS, services::service_cells),
        "Endpoints" => Printer::new(services::ENDPOINTS_COLUMNS, services::endpoints_cells),
        "EndpointSlice" => Printer::new(
            services::ENDPOINT_SLICE_COLUMNS,
            services::endpoint_slice_cells,
        ),
        "ConfigMap" => Printer::new(config::CONFIG_MAP_COLUMNS, config::config_map_cells),
        "Secret" => Printer::new(config::SECRET_COLUMNS, config::secret_cells),
        "ServiceAccount" => Printer::new(
            config::SERVICE_ACCOUNT_COLUMNS,
            config::service_account_cells,
        ),
        "Namespace" => Printer::new(cluster::NAMESPACE_COLUMNS, cluster::namespace_cells),
        "Node" => Printer::new(cluster::NODE_COLUMNS, cluster::node_cells),
        "Lease" => Printer::new(cluster::LEASE_COLUMNS, cluster::lease_cells),
        "Event" => Printer::new(events::COLUMNS, events::cells),
        "PodDisruptionBudget" => Printer::new(policy::PDB_COLUMNS, policy::pdb_cells),
        _ => Printer::new(DEFAULT_COLUMNS, default_cells),
    }
}

const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

fn default_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![fields::name(obj), age::age(obj, now)]
}

/// Column definitions (name, type, format, description, priority) for a kind, in kube-apiserver's order.
pub fn columns(kind: &str) -> Vec<Value> {
    printer(kind).columns.iter().map(|c| c.to_json()).collect()
}

/// The cells of one row for an object of that kind (JSON values: strings, integers), same order
/// as [`columns`]. `now` is the server's current time, used for AGE / LAST SEEN / DURATION cells.
pub fn cells(kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    (printer(kind).cells)(obj, now)
}

/// Builds the complete `Table`: `list_meta` (`resourceVersion`, `continue`,
/// `remainingItemCount`) becomes its metadata, each object a row with its cells, kube's row
/// conditions (finished pods are `Completed`), and the object as `include_object` asks.
pub fn table(
    kind: &str,
    objs: &[Value],
    list_meta: Value,
    include_object: IncludeObject,
    now: Timestamp,
) -> Value {
    let printer = printer(kind);
    let rows: Vec<Value> = objs
        .iter()
        .map(|obj| {
            let mut row = Map::new();
            row.insert("cells".to_string(), Value::Array((printer.cells)(obj, now)));
            if let Some(conditions) = (printer.conditions)(obj) {
                row.insert("conditions".to_string(), conditions);
            }
            if let Some(object) = row_object(obj, include_object) {
                row.insert("object".to_string(), object);
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata(list_meta),
        "columnDefinitions": printer.columns.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "rows": rows,
    })
}

/// The `object` of a row, per `includeObject`.
fn row_object(obj: &Value, include_object: IncludeObject) -> Option<Value> {
    match include_object {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
        IncludeObject::Object => Some(obj.clone()),
    }
}

/// The table's `ListMeta`, dropping what Go would omit: nulls, an empty `continue` or
/// `resourceVersion`, anything that is not a map.
fn list_metadata(list_meta: Value) -> Value {
    let Value::Object(meta) = list_meta else {
        return json!({});
    };
    let kept: Map<String, Value> = meta
        .into_iter()
        .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests;
