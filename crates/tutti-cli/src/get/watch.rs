//! `tutti get -w`: prints the table, then one row per watch event, under the same columns.
//! The watch asks for Table rows too, resumes from the last resourceVersion when the server
//! ends the stream, and starts over with a fresh list when that version is gone (410).

use anyhow::{Result, bail};
use futures::TryStreamExt;
use kube::api::WatchParams;
use kube::core::WatchEvent;
use serde_json::Value;

use super::table::{Columns, Options, row_resource_version};
use super::{Query, no_resources};
use crate::output::table::{Table, render_row};
use crate::resource::Selection;
use crate::{api, output};

/// Printed state: the columns of the first Table and the widths used so far.
struct Printer {
    opts: Options,
    columns: Option<Columns>,
    widths: Vec<usize>,
}

impl Printer {
    /// Prints a Table's rows; the header goes out with the first rows ever printed.
    fn print(&mut self, table: &Value) -> Result<()> {
        let columns = match &self.columns {
            Some(c) if !c.is_empty() => c.clone(),
            _ => {
                let c = Columns::from_table(table, &self.opts);
                self.columns = Some(c.clone());
                c
            }
        };
        let rows = columns.rows(table, &self.opts);
        if rows.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if self.widths.is_empty() {
            let t = Table {
                headers: columns.headers(&self.opts),
                rows,
            };
            self.widths = t.widths();
            text = t.render();
        } else {
            for row in &rows {
                text.push_str(&render_row(row, &mut self.widths));
            }
        }
        output::emit(&text)
    }
}

pub(super) async fn run(query: &Query<'_>, sel: &Selection, wide: bool) -> Result<()> {
    let mut printer = Printer {
        opts: Options {
            wide,
            with_namespace: query.namespace.is_none() && sel.info.namespaced,
            kind_prefix: None,
        },
        columns: None,
        widths: Vec::new(),
    };
    // A watch on names is a watch on `metadata.name=` (one name, as kubectl allows).
    let field_selector = match sel.names.as_slice() {
        [] => query.field_selector.clone(),
        [name] => Some(match &query.field_selector {
            Some(f) => format!("{f},metadata.name={name}"),
            None => format!("metadata.name={name}"),
        }),
        _ => bail!(
            "watch is only supported on individual resources and resource collections, but {} names were given",
            sel.names.len()
        ),
    };
    let query = Query {
        ctx: query.ctx,
        namespace: query.namespace.clone(),
        selector: query.selector.clone(),
        field_selector,
    };
    let mut version = list(&query, sel, &mut printer).await?;
    if printer.widths.is_empty() {
        eprintln!(
            "{}",
            no_resources(query.namespace.as_deref(), std::slice::from_ref(sel))
        );
    }
    loop {
        let params = WatchParams {
            label_selector: query.selector.clone(),
            field_selector: query.field_selector.clone(),
            ..WatchParams::default()
        };
        let req = api::accept(
            query.request(sel.info).watch(&params, &version)?,
            api::TABLE_ACCEPT,
        );
        let stream = query.ctx.client.request_events::<Value>(req).await?;
        futures::pin_mut!(stream);
        while let Some(event) = stream.try_next().await? {
            match event {
                WatchEvent::Added(t) | WatchEvent::Modified(t) | WatchEvent::Deleted(t) => {
                    printer.print(&t)?;
                    if let Some(rv) = row_resource_version(&t) {
                        version = rv;
                    }
                }
                WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                WatchEvent::Error(status) if status.code == 410 => {
                    version = list(&query, sel, &mut printer).await?;
                    break;
                }
                WatchEvent::Error(status) => bail!("watch failed: {}", status.message),
            }
        }
    }
}

/// Lists (as a Table), prints the rows, and returns the list's resourceVersion.
async fn list(query: &Query<'_>, sel: &Selection, printer: &mut Printer) -> Result<String> {
    let req = api::accept(
        query.request(sel.info).list(&query.list_params())?,
        api::TABLE_ACCEPT,
    );
    let table = api::send(query.ctx, req).await?;
    printer.print(&table)?;
    Ok(table
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_string())
}
