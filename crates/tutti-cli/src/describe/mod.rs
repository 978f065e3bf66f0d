//! `tutti describe`: a readable, kubectl-like description of objects — metadata, a section per
//! kind (deployment, pod, service; YAML of the remaining fields for the others) and the
//! object's recent events.

mod containers;
mod deployment;
mod events;
mod generic;
mod pod;
mod service;
mod writer;

use anyhow::Result;
use k8s_openapi::jiff::Timestamp;
use kube::api::GetParams;
use serde_json::Value;
use tutti_core::registry::ResourceInfo;

use crate::config::Context;
use crate::get::{Query, fetch_objects};
use crate::output::age::rfc1123;
use crate::resource::{self, collection_path};
use crate::{NamespaceArg, Reported, api, output};
use writer::{Writer, array, text};

/// Show details of objects and their events.
#[derive(Debug, Clone, clap::Args)]
pub struct DescribeArgs {
    /// `TYPE [NAME...]` or `TYPE/NAME...`; without a name, every object of the type (or those
    /// matching -l).
    #[arg(required = true, value_name = "TYPE [NAME]")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub namespace: NamespaceArg,
    /// Describe objects in all namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// Label selector, e.g. `app=nginx`.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
}

pub async fn run(ctx: &Context, args: DescribeArgs) -> Result<()> {
    let selections = resource::parse_args(&args.args)?;
    let query = Query {
        ctx,
        namespace: if args.all_namespaces {
            None
        } else {
            Some(args.namespace.or_context(ctx))
        },
        selector: args.selector.clone(),
        field_selector: None,
    };
    let mut errors = 0;
    let mut printed = 0;
    for sel in &selections {
        for obj in fetch_objects(&query, sel, &mut errors).await? {
            let text = describe(ctx, sel.info, &obj).await?;
            output::emit(&if printed > 0 {
                format!("\n\n{text}")
            } else {
                text
            })?;
            printed += 1;
        }
    }
    if errors > 0 {
        let total = selections.iter().map(|s| s.names.len()).sum();
        return Err(Reported {
            failed: errors,
            total,
            verb: "found",
        }
        .into());
    }
    if printed == 0 {
        eprintln!(
            "No resources found in {} namespace.",
            query.namespace.as_deref().unwrap_or("any")
        );
    }
    Ok(())
}

/// The full description of one object, events included.
async fn describe(ctx: &Context, info: &ResourceInfo, obj: &Value) -> Result<String> {
    let mut w = Writer::default();
    match info.kind {
        "Deployment" => {
            let rs = deployment::replica_sets(ctx, obj).await.unwrap_or_default();
            deployment::write(&mut w, obj, &rs);
        }
        "Pod" => pod::write(&mut w, obj),
        "Service" => {
            let endpoints = endpoints(ctx, obj).await?;
            service::write(&mut w, obj, endpoints.as_ref());
        }
        _ => generic::write(&mut w, obj),
    }
    match events::for_object(ctx, obj).await {
        Ok(list) => events::write(&mut w, &list, Timestamp::now()),
        Err(e) => w.field(0, "Events", format!("<cannot list events: {e}>")),
    }
    Ok(w.finish())
}

/// The service's Endpoints object (same name), if it exists.
async fn endpoints(ctx: &Context, svc: &Value) -> Result<Option<Value>> {
    let Some(info) = tutti_core::registry::find_by_kind(Some("v1"), "Endpoints") else {
        return Ok(None);
    };
    let ns = text(svc, "/metadata/namespace");
    let req = kube::core::Request::new(collection_path(info, Some(ns)))
        .get(text(svc, "/metadata/name"), &GetParams::default())?;
    match api::send(ctx, req).await {
        Ok(ep) => Ok(Some(ep)),
        Err(e) if e.code().is_some() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Name, Namespace, CreationTimestamp (when asked), Labels, Annotations.
fn metadata(w: &mut Writer, obj: &Value, creation: bool) {
    w.field(0, "Name", text(obj, "/metadata/name"));
    let ns = text(obj, "/metadata/namespace");
    if !ns.is_empty() {
        w.field(0, "Namespace", ns);
    }
    if creation {
        w.field(
            0,
            "CreationTimestamp",
            rfc1123(text(obj, "/metadata/creationTimestamp")),
        );
    }
    w.labels(0, "Labels", obj.pointer("/metadata/labels"));
    w.annotations(0, "Annotations", obj.pointer("/metadata/annotations"));
}

/// `Conditions:` as a small table of the given status fields (`Type`, `Status`, `Reason`).
fn conditions(w: &mut Writer, obj: &Value, columns: &[&str]) {
    let conditions = array(obj, "/status/conditions");
    if conditions.is_empty() {
        return;
    }
    w.heading(0, "Conditions");
    w.line(1, columns.join("\t"));
    if columns.len() > 2 {
        let dashes: Vec<String> = columns.iter().map(|c| "-".repeat(c.len())).collect();
        w.line(1, dashes.join("\t"));
    }
    for c in conditions {
        let cells: Vec<&str> = columns
            .iter()
            .map(|col| text(c, &format!("/{}", col.to_ascii_lowercase())))
            .collect();
        w.line(1, cells.join("\t"));
    }
}

/// `ReplicaSet/web-abc` for the controlling owner reference.
fn controlled_by(obj: &Value) -> Option<String> {
    array(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| format!("{}/{}", text(o, "/kind"), text(o, "/name")))
}

#[cfg(test)]
mod tests;
