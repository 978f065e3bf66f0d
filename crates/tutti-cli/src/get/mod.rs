//! `tutti get`: lists or fetches objects of one or more types and prints the server-side
//! Table (kubectl's columns), or the objects as YAML/JSON, or their names; `-w` keeps printing
//! rows as the objects change.

mod table;
mod watch;

use anyhow::{Result, bail};
use k8s_openapi::jiff::Timestamp;
use kube::api::{GetParams, ListParams};
use serde_json::Value;
use tutti_core::registry::ResourceInfo;

use crate::config::Context;
use crate::output::object::{self, Format};
use crate::resource::{self, Selection, collection_path, kind_group};
use crate::{NamespaceArg, Reported, api, output};

pub use table::{Columns, Options, cell_text, fallback_table, to_table};

/// Display one or many objects.
#[derive(Debug, Clone, clap::Args)]
pub struct GetArgs {
    /// `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME...`; types by plural, singular, short name or kind.
    #[arg(required = true, value_name = "TYPE[,TYPE] [NAME]")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub namespace: NamespaceArg,
    /// List objects in all namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// Label selector, e.g. `app=nginx,tier!=db`.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// Field selector, e.g. `status.phase=Running`.
    #[arg(long = "field-selector")]
    pub field_selector: Option<String>,
    /// Output format (default: a table).
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<Format>,
    /// After printing, keep watching for changes and print them as rows.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// Where and how to query.
pub(crate) struct Query<'a> {
    pub ctx: &'a Context,
    /// None: all namespaces.
    pub namespace: Option<String>,
    pub selector: Option<String>,
    pub field_selector: Option<String>,
}

impl Query<'_> {
    pub fn request(&self, info: &ResourceInfo) -> kube::core::Request {
        kube::core::Request::new(collection_path(info, self.namespace.as_deref()))
    }

    pub fn list_params(&self) -> ListParams {
        ListParams {
            label_selector: self.selector.clone(),
            field_selector: self.field_selector.clone(),
            ..ListParams::default()
        }
    }
}

pub async fn run(ctx: &Context, args: GetArgs) -> Result<()> {
    let selections = resource::parse_args(&args.args)?;
    let query = Query {
        ctx,
        namespace: if args.all_namespaces {
            None
        } else {
            Some(args.namespace.or_context(ctx))
        },
        selector: args.selector.clone(),
        field_selector: args.field_selector.clone(),
    };
    if args.watch {
        let [selection] = selections.as_slice() else {
            bail!(
                "watch is only supported on a single resource type, not {}",
                args.args.join(" ")
            );
        };
        if args.output.is_some_and(|o| o != Format::Wide) {
            bail!("-w prints table rows; it cannot be combined with -o yaml, json or name");
        }
        return watch::run(&query, selection, args.output == Some(Format::Wide)).await;
    }
    let mut errors = 0;
    let requested: usize = selections.iter().map(|s| s.names.len().max(1)).sum();
    let found = match args.output {
        None | Some(Format::Wide) => {
            print_tables(&query, &selections, args.output.is_some(), &mut errors).await?
        }
        Some(format) => print_objects(&query, &selections, format, &mut errors).await?,
    };
    if errors > 0 {
        return Err(Reported {
            failed: errors,
            total: requested,
            verb: "found",
        }
        .into());
    }
    if !found && selections.iter().all(|s| s.names.is_empty()) {
        eprintln!("{}", no_resources(query.namespace.as_deref(), &selections));
    }
    Ok(())
}

/// `No resources found in default namespace.` (or `No resources found` across namespaces).
fn no_resources(namespace: Option<&str>, selections: &[Selection]) -> String {
    match namespace {
        Some(ns) if selections.iter().any(|s| s.info.namespaced) => {
            format!("No resources found in {ns} namespace.")
        }
        _ => "No resources found".to_string(),
    }
}

/// Prints one table per type (blank lines between); returns whether any row was printed.
async fn print_tables(
    query: &Query<'_>,
    selections: &[Selection],
    wide: bool,
    errors: &mut usize,
) -> Result<bool> {
    let several = selections.len() > 1;
    let mut printed = false;
    for sel in selections {
        let opts = Options {
            wide,
            with_namespace: query.namespace.is_none() && sel.info.namespaced,
            kind_prefix: several.then(|| kind_group(sel.info)),
        };
        let mut tables = Vec::new();
        if sel.names.is_empty() {
            let req = api::accept(
                query.request(sel.info).list(&query.list_params())?,
                api::TABLE_ACCEPT,
            );
            tables.push(fallback_table(
                &api::send(query.ctx, req).await?,
                Timestamp::now(),
            ));
        }
        for name in &sel.names {
            let req = api::accept(
                query.request(sel.info).get(name, &GetParams::default())?,
                api::TABLE_ACCEPT,
            );
            match api::send(query.ctx, req).await {
                Ok(t) => tables.push(fallback_table(&t, Timestamp::now())),
                Err(e) if e.code().is_some() => {
                    *errors += 1;
                    eprintln!("{}", e.from_server());
                }
                Err(e) => return Err(e.into()),
            }
        }
        let Some(first) = tables.first() else {
            continue;
        };
        let cols = Columns::from_table(first, &opts);
        let rows: Vec<Vec<String>> = tables.iter().flat_map(|t| cols.rows(t, &opts)).collect();
        if rows.is_empty() {
            continue;
        }
        let text = crate::output::table::Table {
            headers: cols.headers(&opts),
            rows,
        }
        .render();
        output::emit(&if printed { format!("\n{text}") } else { text })?;
        printed = true;
    }
    Ok(printed)
}

/// Prints objects as YAML/JSON (one object, or a List) or as `kind.group/name` lines.
async fn print_objects(
    query: &Query<'_>,
    selections: &[Selection],
    format: Format,
    errors: &mut usize,
) -> Result<bool> {
    let mut items = Vec::new();
    for sel in selections {
        for item in fetch_objects(query, sel, errors).await? {
            items.push((sel.info, item));
        }
    }
    let single = selections.len() == 1 && selections[0].names.len() == 1;
    match format {
        Format::Name => {
            let mut text = String::new();
            for (info, obj) in &items {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                text.push_str(&format!("{}/{name}\n", kind_group(info)));
            }
            output::emit(&text)?;
        }
        Format::Yaml | Format::Json => {
            let yaml = format == Format::Yaml;
            let mut objs: Vec<Value> = items
                .into_iter()
                .map(|(_, o)| object::for_display(o))
                .collect();
            let value = match (single, objs.len()) {
                (true, 1) => objs.pop().unwrap_or_default(),
                (true, _) => return Ok(false),
                _ => object::list(objs),
            };
            output::emit(&object::render(&value, yaml)?)?;
            return Ok(true);
        }
        Format::Wide => {}
    }
    Ok(!items.is_empty())
}

/// The objects of one selection, each with `apiVersion` and `kind` set (list items may lack them).
pub(crate) async fn fetch_objects(
    query: &Query<'_>,
    sel: &Selection,
    errors: &mut usize,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let request = query.request(sel.info);
    if sel.names.is_empty() {
        let list = api::send(query.ctx, request.list(&query.list_params())?).await?;
        if let Some(items) = list.get("items").and_then(Value::as_array) {
            out.extend(items.iter().cloned());
        }
    }
    for name in &sel.names {
        match api::send(query.ctx, request.get(name, &GetParams::default())?).await {
            Ok(obj) => out.push(obj),
            Err(e) if e.code().is_some() => {
                *errors += 1;
                eprintln!("{}", e.from_server());
            }
            Err(e) => return Err(e.into()),
        }
    }
    for obj in &mut out {
        if let Some(map) = obj.as_object_mut() {
            map.entry("apiVersion")
                .or_insert_with(|| Value::String(sel.info.api_version()));
            map.entry("kind")
                .or_insert_with(|| Value::String(sel.info.kind.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_message_names_the_namespace() {
        let pods = resource::parse_args(&["pods".to_string()]).unwrap();
        let nodes = resource::parse_args(&["nodes".to_string()]).unwrap();
        assert_eq!(
            no_resources(Some("default"), &pods),
            "No resources found in default namespace."
        );
        assert_eq!(no_resources(None, &pods), "No resources found");
        assert_eq!(no_resources(Some("default"), &nodes), "No resources found");
    }
}
