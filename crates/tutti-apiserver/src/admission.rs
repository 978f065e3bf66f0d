//! Admission: everything between a decoded body and a store write. Checks apiVersion/kind
//! and namespace against the URL, reports unknown fields (rejected under
//! `fieldValidation=Strict`, warned otherwise), decodes into the typed schema, sets system
//! metadata, applies defaults and validates. Pure: no store access.

use rand::Rng;
use serde_json::{Value, json};
use tutti_core::registry::ResourceInfo;
use tutti_core::{FieldError, decode, defaults, validation};

use crate::error::{ApiError, ApiResult};
use crate::objects::{self, metadata_mut};

/// Which part of an object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    Binding,
}

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> ApiResult<Self> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation must be one of Ignore, Warn or Strict, not {other:?}"
            ))),
        }
    }
}

/// Everything a write needs to know besides the object.
pub struct Admission<'a> {
    pub info: &'static ResourceInfo,
    pub namespace: Option<&'a str>,
    pub field_validation: FieldValidation,
    pub warnings: Vec<String>,
}

fn invalid(info: &ResourceInfo, name: &str, causes: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        group_kind: info.group_kind(),
        kind: info.kind.to_string(),
        name: name.to_string(),
        causes,
    }
}

impl Admission<'_> {
    /// apiVersion/kind, namespace, unknown fields and types. Fills a missing apiVersion/kind.
    /// Without `typed` the object is not decoded: for objects the server built from a stored
    /// one (a binding), whose shape it knows.
    fn check_shape(&mut self, obj: &mut Value, typed: bool) -> ApiResult<()> {
        let info = self.info;
        let want = info.api_version();
        match obj.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => obj["apiVersion"] = json!(want),
            Some(av) if av != want => {
                return Err(ApiError::BadRequest(format!(
                    "the API version in the data ({av}) does not match the expected API version ({want})"
                )));
            }
            _ => {}
        }
        match obj.get("kind").and_then(Value::as_str) {
            None | Some("") => obj["kind"] = json!(info.kind),
            Some(k) if k != info.kind => {
                return Err(ApiError::BadRequest(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    info.kind
                )));
            }
            _ => {}
        }
        if info.namespaced {
            let ns = self.namespace.unwrap_or("default");
            match objects::meta_str(obj, "namespace") {
                None | Some("") => {
                    metadata_mut(obj).insert("namespace".into(), json!(ns));
                }
                Some(n) if n != ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                _ => {}
            }
        } else {
            metadata_mut(obj).remove("namespace");
        }
        if !typed {
            return Ok(());
        }
        let find_unknown = self.field_validation != FieldValidation::Ignore;
        let unknown = decode::decode_checked(info.kind, obj, find_unknown)
            .map_err(|causes| invalid(info, objects::name(obj), causes))?;
        if !unknown.is_empty() {
            if self.field_validation == FieldValidation::Strict {
                let causes = unknown.iter().map(FieldError::unknown).collect();
                return Err(invalid(info, objects::name(obj), causes));
            }
            self.warnings
                .extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")));
        }
        Ok(())
    }

    /// Prepare a new object for creation: shape checks, system metadata, defaults, validation.
    pub fn create(&mut self, mut obj: Value) -> ApiResult<Value> {
        self.check_shape(&mut obj, true)?;
        let info = self.info;
        let meta = metadata_mut(&mut obj);
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "generation",
        ] {
            meta.remove(f);
        }
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name
            && let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
        {
            let name = format!("{prefix}{}", random_suffix());
            meta.insert("name".into(), json!(name));
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
        if obj.get("spec").is_some() || info.kind == "Pod" {
            metadata_mut(&mut obj).insert("generation".into(), json!(1));
        }
        if info.kind == "Job" {
            job_selector(&mut obj);
        }
        defaults::apply_defaults(info.kind, &mut obj);
        initial_status(info, &mut obj);
        let errors = validation::validate(info.kind, &obj);
        if !errors.is_empty() {
            return Err(invalid(info, objects::name(&obj), errors));
        }
        Ok(obj)
    }

    /// Prepare an update of `old` to `new`. With [`Part::Status`] only the status is taken from
    /// `new`; otherwise the status is kept from `old` for kinds that have a status subresource.
    /// [`Part::Binding`] is the scheduler's write of `spec.nodeName` (with the PodScheduled
    /// condition in the status), which ordinary pod updates may not change.
    pub fn update(&mut self, old: &Value, mut new: Value, part: Part) -> ApiResult<Value> {
        let status_only = part == Part::Status;
        self.check_shape(&mut new, part != Part::Binding)?;
        let info = self.info;
        if objects::name(&new) != objects::name(old) {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({})",
                objects::name(&new),
                objects::name(old)
            )));
        }
        let mut obj = if status_only {
            let mut o = old.clone();
            o["status"] = new.get("status").cloned().unwrap_or(json!({}));
            o
        } else {
            // A binding sets the PodScheduled condition with the node name: its status stays.
            if info.has_status() && info.kind != "Namespace" && part != Part::Binding {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            new
        };
        // System metadata is the server's, whatever the client sent.
        let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
        let meta = metadata_mut(&mut obj);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(f) {
                Some(v) => meta.insert(f.to_string(), v.clone()),
                None => meta.remove(f),
            };
        }
        if objects::is_terminating(old) {
            let old_f = objects::finalizers(old);
            let new_f = objects::finalizers(&obj);
            if new_f.iter().any(|f| !old_f.contains(f)) {
                return Err(invalid(
                    info,
                    objects::name(&obj),
                    vec![FieldError::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        defaults::apply_defaults(info.kind, &mut obj);
        let mut errors = validation::validate(info.kind, &obj);
        if part != Part::Binding {
            errors.extend(validation::validate_update(info.kind, old, &obj));
        }
        if !errors.is_empty() {
            return Err(invalid(info, objects::name(&obj), errors));
        }
        if spec_of(old) != spec_of(&obj) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut obj).insert("generation".into(), json!(generation + 1));
        }
        Ok(obj)
    }
}

/// What counts as "spec" for generation bumps: the `spec` field, or for kinds without one
/// (ConfigMap, Secret...) nothing (their generation is not tracked).
fn spec_of(obj: &Value) -> Option<&Value> {
    obj.get("spec")
}

/// A Job selects its pods by its own uid unless the user chose `manualSelector`.
fn job_selector(job: &mut Value) {
    if job.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = objects::uid(job).to_string();
    let name = objects::name(job).to_string();
    job["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let template_meta = &mut job["spec"]["template"]["metadata"];
    if !template_meta.is_object() {
        *template_meta = json!({});
    }
    let labels = &mut template_meta["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels[k] = json!(v);
    }
}

/// Status a freshly created object starts with.
fn initial_status(info: &ResourceInfo, obj: &mut Value) {
    match info.kind {
        "Pod" => {
            let qos = qos_class(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "Namespace" => obj["status"] = json!({"phase": "Active"}),
        "Service" => obj["status"] = json!({"loadBalancer": {}}),
        "Node" | "Event" => {}
        _ if info.has_status() => obj["status"] = json!({}),
        _ => {}
    }
}

/// Kubernetes' QoS class from the containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed && !containers.is_empty() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Five characters from Kubernetes' generateName alphabet (no vowels, no look-alikes).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
