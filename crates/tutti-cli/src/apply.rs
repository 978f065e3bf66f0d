//! `tutti apply -f`: server-side apply of every object in the given manifests, in order, with
//! the seed defaults filled in. Each object prints `deployment.apps/nginx created|configured|
//! unchanged`; a failing object prints where it is and why, and the rest are still applied.

use std::path::PathBuf;

use anyhow::{Result, bail};
use kube::api::{GetParams, Patch, PatchParams};
use serde_json::Value;
use tutti_core::defaults::default_seed_deployment;

use crate::config::Context;
use crate::manifest::{self, Document};
use crate::resource::{collection_path, for_object, kind_group};
use crate::{NamespaceArg, Reported, api, output};

/// The field manager tutti's applies are recorded under.
pub const FIELD_MANAGER: &str = "tutti";

/// Create or update objects from manifests (server-side apply).
#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// A manifest file, a directory of .yaml/.yml/.json files, or `-` for stdin (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub filenames: Vec<PathBuf>,
    /// Also read the subdirectories of directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub namespace: NamespaceArg,
}

/// What applying did to an object, as kubectl words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    /// What the apply of `body` did, from the object before (None: it did not exist) and the
    /// object the server returned. Another writer (a controller recording status or a revision
    /// annotation) may have written between our GET and the apply, so a changed
    /// resourceVersion alone does not mean the apply changed anything: it did only if a field
    /// of the manifest differs between before and after, or the set of fields this manager
    /// owns changed (a field dropped from the manifest is removed).
    pub fn of(before: Option<&Value>, after: &Value, body: &Value) -> Self {
        let Some(before) = before else {
            return Outcome::Created;
        };
        if resource_version(before) == resource_version(after) {
            return Outcome::Unchanged;
        }
        if same_where_set(body, Some(before), Some(after))
            && owned_fields(before) == owned_fields(after)
        {
            Outcome::Unchanged
        } else {
            Outcome::Configured
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

pub async fn run(ctx: &Context, args: ApplyArgs) -> Result<()> {
    let mut total = 0;
    let mut failed = 0;
    for entry in manifest::read_all(&args.filenames, args.recursive) {
        total += 1;
        let mut doc = match entry {
            Ok(doc) => doc,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        // Pre-apps/v1 manifests (the seed demo) get the obvious apiVersion and selector.
        for warning in default_seed_deployment(&mut doc.value) {
            eprintln!("Warning: {}: {warning}", doc.location());
        }
        match apply_one(ctx, &doc, args.namespace.namespace.as_deref()).await {
            Ok(line) => output::line(&line)?,
            Err(e) => {
                failed += 1;
                eprintln!("error: {}, {}: {e:#}", doc.location(), doc.title());
            }
        }
    }
    if failed > 0 {
        return Err(Reported {
            failed,
            total,
            verb: "applied",
        }
        .into());
    }
    Ok(())
}

async fn apply_one(ctx: &Context, doc: &Document, flag_namespace: Option<&str>) -> Result<String> {
    let info = for_object(&doc.value)?;
    let name = doc.name();
    if name.is_empty() {
        bail!("metadata.name: Required value: apply needs a name (generateName cannot be applied)");
    }
    let namespace = if info.namespaced {
        Some(object_namespace(
            doc.namespace(),
            flag_namespace,
            &ctx.namespace,
        )?)
    } else {
        None
    };
    let request = kube::core::Request::new(collection_path(info, namespace.as_deref()));
    let before = match api::send(ctx, request.get(name, &GetParams::default())?).await {
        Ok(obj) => Some(obj),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let mut body = doc.value.clone();
    if let (Some(ns), Some(meta)) = (
        &namespace,
        body.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let after = api::send(ctx, request.patch(name, &params, &Patch::Apply(&body))?).await?;
    let outcome = Outcome::of(before.as_ref(), &after, &body);
    Ok(format!("{}/{name} {}", kind_group(info), outcome.word()))
}

/// Whether `before` and `after` agree on every field the manifest sets (lists compared whole).
fn same_where_set(body: &Value, before: Option<&Value>, after: Option<&Value>) -> bool {
    match body {
        Value::Object(fields) => fields.iter().all(|(key, value)| {
            same_where_set(
                value,
                before.and_then(|b| b.get(key)),
                after.and_then(|a| a.get(key)),
            )
        }),
        _ => before == after,
    }
}

/// The fields our field manager owns through apply (its managedFields entry's fieldsV1).
fn owned_fields(obj: &Value) -> Option<&Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|entry| {
            entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && entry.get("operation").and_then(Value::as_str) == Some("Apply")
        })?
        .get("fieldsV1")
}

fn resource_version(obj: &Value) -> String {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The object's own namespace, else `-n`, else the context's; a conflict between the object
/// and `-n` is an error, as in kubectl.
pub fn object_namespace(object: Option<&str>, flag: Option<&str>, context: &str) -> Result<String> {
    match (object, flag) {
        (Some(o), Some(f)) if o != f => bail!(
            "the namespace from the provided object \"{o}\" does not match the namespace \"{f}\". You must pass '--namespace={o}' to perform this operation."
        ),
        (Some(o), _) => Ok(o.to_string()),
        (None, Some(f)) => Ok(f.to_string()),
        (None, None) => Ok(context.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(rv: &str, replicas: i64, owned: Value, revision: Option<&str>) -> Value {
        let mut obj = json!({
            "metadata": {
                "name": "nginx",
                "resourceVersion": rv,
                "managedFields": [
                    {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": owned},
                    {"manager": "deployment-controller", "operation": "Update",
                     "fieldsV1": {"f:status": {}}},
                ],
            },
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx", "imagePullPolicy": "Always"}
            ]}}},
        });
        if let Some(revision) = revision {
            obj["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": revision});
            obj["status"] = json!({"replicas": replicas});
        }
        obj
    }

    #[test]
    fn outcomes_follow_what_the_apply_changed() {
        let body = json!({
            "metadata": {"name": "nginx"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx"}
            ]}}},
        });
        let owned = json!({"f:spec": {"f:replicas": {}}});
        let before = object("5", 3, owned.clone(), None);
        assert_eq!(Outcome::of(None, &before, &body), Outcome::Created);
        assert_eq!(
            Outcome::of(Some(&before), &before, &body),
            Outcome::Unchanged
        );
        // A controller wrote status and an annotation between our GET and the apply.
        let raced = object("7", 3, owned.clone(), Some("1"));
        assert_eq!(
            Outcome::of(Some(&before), &raced, &body),
            Outcome::Unchanged
        );
        // The apply changed a field of the manifest.
        let scaled = object("7", 2, owned.clone(), None);
        assert_eq!(
            Outcome::of(Some(&before), &scaled, &body),
            Outcome::Configured
        );
        // The apply dropped a field it used to own.
        let dropped = object("7", 3, json!({"f:spec": {}}), None);
        assert_eq!(
            Outcome::of(Some(&before), &dropped, &body),
            Outcome::Configured
        );
    }

    #[test]
    fn namespaces_come_from_object_flag_then_context() {
        assert_eq!(
            object_namespace(Some("a"), None, "default").ok().as_deref(),
            Some("a")
        );
        assert_eq!(
            object_namespace(Some("a"), Some("a"), "default")
                .ok()
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            object_namespace(None, Some("b"), "default").ok().as_deref(),
            Some("b")
        );
        assert_eq!(
            object_namespace(None, None, "ctx").ok().as_deref(),
            Some("ctx")
        );
        let err = object_namespace(Some("a"), Some("b"), "default")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--namespace=a"), "{err}");
    }
}
