//! Splitting a manifest's text into documents: YAML separated by `---` lines (each parsed on its
//! own so one bad document does not hide the others), or a stream of JSON objects. Line numbers
//! are those of the whole file.

use anyhow::anyhow;
use serde_json::Value;

use super::{Document, Entry};

/// Parses `text` read from `source` into documents; empty documents are skipped and `List`s
/// expanded into their items.
pub fn parse(source: &str, text: &str) -> Vec<Entry> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with(['{', '[']) {
        parse_json(source, text)
    } else {
        parse_yaml(source, text)
    }
}

/// A YAML document's text with the 1-based line its chunk starts on.
struct Chunk {
    first_line: usize,
    text: String,
}

/// `---` (optionally followed by content or a comment) and `...` end a document.
fn is_separator(line: &str) -> bool {
    (line.starts_with("---") || line.starts_with("..."))
        && line[3..].chars().next().is_none_or(char::is_whitespace)
}

fn split_yaml(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = Chunk {
        first_line: 1,
        text: String::new(),
    };
    for (i, line) in text.lines().enumerate() {
        if is_separator(line) {
            chunks.push(std::mem::replace(
                &mut current,
                Chunk {
                    first_line: i + 1,
                    text: String::new(),
                },
            ));
            // Content on the separator line (`--- {a: 1}`) belongs to the new document; keep
            // its columns by blanking the marker.
            current.text.push_str("   ");
            current
                .text
                .push_str(line.strip_prefix("---").unwrap_or(""));
        } else {
            current.text.push_str(line);
        }
        current.text.push('\n');
    }
    chunks.push(current);
    chunks
}

/// The first line holding something other than blanks and comments, if any.
fn content_line(chunk: &Chunk) -> Option<usize> {
    chunk.text.lines().position(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    })
}

fn parse_yaml(source: &str, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut index = 0;
    for chunk in split_yaml(text) {
        let Some(offset) = content_line(&chunk) else {
            continue;
        };
        index += 1;
        let line = chunk.first_line + offset;
        // Padding with the lines before the chunk makes the parser's positions file positions.
        let padded = format!("{}{}", "\n".repeat(chunk.first_line - 1), chunk.text);
        match serde_saphyr::from_str::<Value>(&padded) {
            Ok(Value::Null) => {}
            Ok(value) => out.extend(documents(source, index, line, value)),
            Err(e) => {
                let at = e
                    .location()
                    .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                    .unwrap_or_default();
                let msg = first_line(&e.without_snippet().to_string());
                out.push(Err(anyhow!(
                    "{source}: document {index} (line {line}): YAML syntax error{at}: {msg}"
                )));
            }
        }
    }
    out
}

/// The message's first line, without the position the parser appends (reported already).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    line.rfind(" at line ")
        .map_or(line, |i| &line[..i])
        .to_string()
}

fn parse_json(source: &str, text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0;
    loop {
        let start = stream.byte_offset();
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let line = text[..start + skipped].matches('\n').count() + 1;
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                index += 1;
                out.extend(documents(source, index, line, value));
            }
            Some(Err(e)) => {
                index += 1;
                out.push(Err(anyhow!(
                    "{source}: document {index} (line {line}): JSON syntax error at line {}, column {}: {}",
                    e.line(),
                    e.column(),
                    strip_position(&e.to_string())
                )));
                break;
            }
        }
    }
    out
}

/// serde_json appends " at line L column C"; the position is already reported.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

/// One parsed document: an object, or a `List` whose items each become a document.
fn documents(source: &str, index: usize, line: usize, value: Value) -> Vec<Entry> {
    let doc = |item, value| Document {
        source: source.to_string(),
        index,
        line,
        item,
        value,
    };
    match value {
        Value::Object(ref map) if is_list(map) => match map.get("items") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(_) => Ok(doc(Some(i + 1), v.clone())),
                    _ => Err(anyhow!(
                        "{source}: document {index} (line {line}) item {}: not an object",
                        i + 1
                    )),
                })
                .collect(),
            _ => Vec::new(),
        },
        Value::Object(_) => vec![Ok(doc(None, value))],
        other => vec![Err(anyhow!(
            "{source}: document {index} (line {line}): expected an object with apiVersion, kind and metadata, found {}",
            json_type(&other)
        ))],
    }
}

fn is_list(map: &serde_json::Map<String, Value>) -> bool {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    kind == "List" || (kind.ends_with("List") && map.get("items").is_some_and(Value::is_array))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
