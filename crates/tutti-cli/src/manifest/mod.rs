//! Reading manifests for `apply -f` and `delete -f`: files, directories and stdin, each holding
//! multi-document YAML or a stream of JSON objects, with `List`s expanded. Every object keeps
//! where it came from (file, document number, line) so errors can point at it.

mod parse;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

pub use parse::parse;

/// One object read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it was read from, as the user named it (`examples/web.yaml`, `STDIN`).
    pub source: String,
    /// 1-based position among the non-empty documents of the source.
    pub index: usize,
    /// 1-based line in the source where the document's content starts.
    pub line: usize,
    /// 1-based position inside a `kind: List` document, when it came from one.
    pub item: Option<usize>,
    pub value: Value,
}

impl Document {
    /// `web.yaml: document 2 (line 14)`, or `... item 3` for an item of a List.
    pub fn location(&self) -> Location<'_> {
        Location {
            source: &self.source,
            index: self.index,
            line: self.line,
            item: self.item,
        }
    }

    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `Deployment "web"`, or just the kind when the object has no name.
    pub fn title(&self) -> String {
        let kind = if self.kind().is_empty() {
            "object"
        } else {
            self.kind()
        };
        if self.name().is_empty() {
            kind.to_string()
        } else {
            format!("{kind} \"{}\"", self.name())
        }
    }
}

/// Where a document is: file, document number, start line (and List item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    pub source: &'a str,
    pub index: usize,
    pub line: usize,
    pub item: Option<usize>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.source, self.index, self.line
        )?;
        if let Some(item) = self.item {
            write!(f, " item {item}")?;
        }
        Ok(())
    }
}

/// The result of reading one document: the object, or what was wrong and where.
pub type Entry = Result<Document>;

/// Reads every `-f` argument in order. A file or directory that cannot be read, and every
/// document that cannot be parsed, becomes an `Err` entry; the rest are still read.
pub fn read_all(paths: &[PathBuf], recursive: bool) -> Vec<Entry> {
    let mut entries = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => entries.extend(parse("STDIN", &text)),
                Err(e) => entries.push(Err(anyhow!("cannot read STDIN: {e}"))),
            }
            continue;
        }
        match manifest_files(path, recursive) {
            Ok(files) => {
                for file in files {
                    entries.extend(read_file(&file));
                }
            }
            Err(e) => entries.push(Err(e)),
        }
    }
    entries
}

fn read_file(path: &Path) -> Vec<Entry> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&name, &text),
        Err(e) => vec![Err(anyhow!("{name}: cannot read: {e}"))],
    }
}

/// The file itself, or a directory's `.yaml`, `.yml` and `.json` files sorted by name
/// (descending into subdirectories when `recursive`).
pub fn manifest_files(path: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("the path \"{}\" does not exist", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot list directory", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                files.extend(manifest_files(&entry, true)?);
            }
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(entry);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
