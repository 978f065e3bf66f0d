//! `tutti delete`: deletes objects named on the command line (`TYPE NAME...`, `TYPE/NAME`,
//! `--all`, `-l`) or listed in manifests (`-f`), printing `deployment.apps "nginx" deleted`.
//! Dependents go with them in the background (kubectl's default cascade).

use std::path::PathBuf;

use anyhow::{Result, bail};
use kube::api::{DeleteParams, PropagationPolicy};
use serde_json::Value;
use tutti_core::registry::ResourceInfo;

use crate::apply::object_namespace;
use crate::config::Context;
use crate::get::{Query, fetch_objects};
use crate::resource::{self, Selection, collection_path, for_object, kind_group};
use crate::{NamespaceArg, Reported, api, manifest, output};

/// Delete objects by name, by label, or as listed in manifests.
#[derive(Debug, Clone, clap::Args)]
pub struct DeleteArgs {
    /// `TYPE NAME...`, `TYPE/NAME...`, or `TYPE` with --all or -l.
    #[arg(value_name = "TYPE [NAME]")]
    pub args: Vec<String>,
    /// Delete the objects in a manifest file, a directory's manifests, or `-` for stdin.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        conflicts_with = "args"
    )]
    pub filenames: Vec<PathBuf>,
    /// Also read the subdirectories of directories given with -f.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub namespace: NamespaceArg,
    /// Delete every object of the given types in the namespace.
    #[arg(long)]
    pub all: bool,
    /// Delete the objects matching this label selector.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Treat objects that do not exist as deleted.
    #[arg(long)]
    pub ignore_not_found: bool,
}

pub async fn run(ctx: &Context, args: DeleteArgs) -> Result<()> {
    let (failed, total) = if args.filenames.is_empty() {
        by_name(ctx, &args).await?
    } else {
        from_files(ctx, &args).await?
    };
    if failed > 0 {
        return Err(Reported {
            failed,
            total,
            verb: "deleted",
        }
        .into());
    }
    Ok(())
}

/// What deleting one object came to.
enum Deleted {
    Done,
    Missing(api::ApiError),
}

async fn delete_one(
    ctx: &Context,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<Deleted> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    let req = kube::core::Request::new(collection_path(info, namespace)).delete(name, &params)?;
    match api::send(ctx, req).await {
        Ok(_) => {
            output::line(&format!("{} \"{name}\" deleted", kind_group(info)))?;
            Ok(Deleted::Done)
        }
        Err(e) if e.is_not_found() => Ok(Deleted::Missing(e)),
        Err(e) => Err(e.into()),
    }
}

async fn by_name(ctx: &Context, args: &DeleteArgs) -> Result<(usize, usize)> {
    if args.args.is_empty() {
        bail!(
            "you must specify the type of resource to delete, e.g. `tutti delete deploy nginx`, or -f FILE"
        );
    }
    let selections = resource::parse_args(&args.args)?;
    let everything = args.all || args.selector.is_some();
    if selections.iter().any(|s| s.names.is_empty()) && !everything {
        bail!(
            "resource(s) were provided, but no name was specified; name the objects, or use --all or -l"
        );
    }
    if everything && selections.iter().any(|s| !s.names.is_empty()) {
        bail!("names cannot be given together with --all or -l");
    }
    let namespace = args.namespace.or_context(ctx);
    let mut targets: Vec<(Selection, String)> = Vec::new();
    if everything {
        let query = Query {
            ctx,
            namespace: Some(namespace.clone()),
            selector: args.selector.clone(),
            field_selector: None,
        };
        let mut errors = 0;
        for sel in &selections {
            for obj in fetch_objects(&query, sel, &mut errors).await? {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                targets.push((sel.clone(), name));
            }
        }
        if targets.is_empty() {
            eprintln!("No resources found");
        }
    } else {
        for sel in &selections {
            targets.extend(sel.names.iter().map(|n| (sel.clone(), n.clone())));
        }
    }
    let mut failed = 0;
    for (sel, name) in &targets {
        if let Deleted::Missing(e) = delete_one(ctx, sel.info, Some(&namespace), name).await?
            && !args.ignore_not_found
        {
            failed += 1;
            eprintln!("{}", e.from_server());
        }
    }
    Ok((failed, targets.len()))
}

async fn from_files(ctx: &Context, args: &DeleteArgs) -> Result<(usize, usize)> {
    let mut failed = 0;
    let mut total = 0;
    for entry in manifest::read_all(&args.filenames, args.recursive) {
        total += 1;
        let doc = match entry {
            Ok(doc) => doc,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
                continue;
            }
        };
        let target = for_object(&doc.value).and_then(|info| {
            let ns = if info.namespaced {
                Some(object_namespace(
                    doc.namespace(),
                    args.namespace.namespace.as_deref(),
                    &ctx.namespace,
                )?)
            } else {
                None
            };
            Ok((info, ns))
        });
        let (info, namespace) = match target {
            Ok(t) if !doc.name().is_empty() => t,
            Ok(_) => {
                failed += 1;
                eprintln!(
                    "error: {}, {}: metadata.name: Required value",
                    doc.location(),
                    doc.title()
                );
                continue;
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}, {}: {e:#}", doc.location(), doc.title());
                continue;
            }
        };
        match delete_one(ctx, info, namespace.as_deref(), doc.name()).await {
            Ok(Deleted::Done) => {}
            Ok(Deleted::Missing(_)) if args.ignore_not_found => {}
            Ok(Deleted::Missing(e)) => {
                failed += 1;
                eprintln!(
                    "Error from server (NotFound): error when deleting \"{}\": {e}",
                    doc.source
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}, {}: {e:#}", doc.location(), doc.title());
            }
        }
    }
    Ok((failed, total))
}
