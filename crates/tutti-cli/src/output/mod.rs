//! What the commands print: aligned tables, ages and timestamps, whole objects as YAML/JSON,
//! and the one place that writes to stdout.

pub mod age;
pub mod object;
pub mod table;

use std::io::Write;

use anyhow::{Context, Result};

/// Writes `text` to stdout and flushes it (a closed pipe is an error, not a panic).
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// Writes one line to stdout.
pub fn line(text: &str) -> Result<()> {
    emit(&format!("{text}\n"))
}
