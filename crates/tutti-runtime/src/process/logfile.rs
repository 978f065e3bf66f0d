//! The process driver's log files, in the CRI format kubelet uses:
//! `<RFC 3339 time> <stdout|stderr> <F|P> <text>` per line (`P`: a partial line, continued
//! by the next entry). Reading strips the prefix back off, honouring tail, since,
//! timestamps and follow.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncReadExt;

use crate::{LogOptions, LogStream, RuntimeError, timestamp};

/// How often a follower looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// One log line as stored.
pub(crate) fn format_entry(at: SystemTime, stream: &str, partial: bool, text: &[u8]) -> Vec<u8> {
    let mut line = format!(
        "{} {stream} {} ",
        timestamp::format(at),
        if partial { 'P' } else { 'F' }
    )
    .into_bytes();
    line.extend_from_slice(text);
    line.push(b'\n');
    line
}

/// A stored line, parsed (without its newline).
#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    time: &'a [u8],
    at: Option<SystemTime>,
    partial: bool,
    text: &'a [u8],
}

fn parse(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or_default();
    Some(Entry {
        time,
        at: std::str::from_utf8(time).ok().and_then(timestamp::parse),
        partial: tag == b"P",
        text,
    })
}

/// What the reader shows for one entry.
fn render(entry: &Entry<'_>, timestamps: bool, out: &mut Vec<u8>) {
    if timestamps {
        out.extend_from_slice(entry.time);
        out.push(b' ');
    }
    out.extend_from_slice(entry.text);
    if !entry.partial {
        out.push(b'\n');
    }
}

/// Render the complete lines of `chunk` that pass `since`, keeping only the last `tail`.
fn select(chunk: &[u8], opts: &LogOptions, tail: Option<u64>) -> Vec<u8> {
    let entries: Vec<Entry<'_>> = chunk
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse)
        .filter(|e| match (opts.since, e.at) {
            (Some(since), Some(at)) => at >= since,
            _ => true,
        })
        .collect();
    let skip = tail.map_or(0, |n| tail_start(&entries, n));
    let mut out = Vec::new();
    for entry in &entries[skip..] {
        render(entry, opts.timestamps, &mut out);
    }
    out
}

/// Where the last `n` lines start; partial entries belong to the line their next full
/// entry ends.
fn tail_start(entries: &[Entry<'_>], n: u64) -> usize {
    let mut lines = 0u64;
    let mut start = entries.len();
    for (i, entry) in entries.iter().enumerate().rev() {
        let ends_line = !entry.partial || i + 1 == entries.len();
        if ends_line {
            if lines == n {
                break;
            }
            lines += 1;
        }
        start = i;
    }
    start
}

/// Stream the log at `path`. With `follow`, keep reading new lines until `exited()` says
/// the container is done and nothing more arrives.
pub(crate) async fn stream<F>(
    path: PathBuf,
    opts: &LogOptions,
    exited: F,
) -> Result<LogStream, RuntimeError>
where
    F: Fn() -> bool + Send + Sync + 'static,
{
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => Some(file),
        // Nothing written yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(RuntimeError::Other(format!("{}: {e}", path.display()))),
    };
    let mut buffered = Vec::new();
    if let Some(f) = file.as_mut() {
        f.read_to_end(&mut buffered)
            .await
            .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))?;
    }
    let complete = buffered
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let first = select(&buffered[..complete], opts, opts.tail);
    let rest = buffered.split_off(complete);
    let head = futures::stream::iter((!first.is_empty()).then(|| Ok(Bytes::from(first))));
    if !opts.follow {
        return Ok(head.boxed());
    }
    let follow = Follower {
        path,
        file,
        pending: rest,
        opts: LogOptions {
            tail: None,
            ..opts.clone()
        },
        exited: Box::new(exited),
        done: false,
    };
    let tail = futures::stream::unfold(follow, |mut f| async move {
        let chunk = f.next_chunk().await?;
        Some((chunk, f))
    });
    Ok(head.chain(tail).boxed())
}

struct Follower {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    pending: Vec<u8>,
    opts: LogOptions,
    exited: Box<dyn Fn() -> bool + Send + Sync>,
    done: bool,
}

impl Follower {
    /// The next batch of new lines; `None` once the container exited and all is read.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, RuntimeError>> {
        loop {
            if self.done {
                return None;
            }
            // Checked before reading: whatever the process wrote before exiting is read
            // below, then the stream ends.
            let finished = (self.exited)();
            if let Err(e) = self.read_more().await {
                self.done = true;
                return Some(Err(e));
            }
            let complete = self
                .pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let rest = self.pending.split_off(complete);
            let lines = std::mem::replace(&mut self.pending, rest);
            let out = select(&lines, &self.opts, None);
            if finished {
                self.done = true;
            }
            if !out.is_empty() {
                return Some(Ok(Bytes::from(out)));
            }
            if self.done {
                return None;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    async fn read_more(&mut self) -> Result<(), RuntimeError> {
        let err = |e: std::io::Error| RuntimeError::Other(format!("log file: {e}"));
        if self.file.is_none() {
            match tokio::fs::File::open(&self.path).await {
                Ok(file) => self.file = Some(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(err(e)),
            }
        }
        if let Some(file) = self.file.as_mut() {
            // Reading on from the current position picks up whatever was appended since.
            file.read_to_end(&mut self.pending).await.map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn log() -> Vec<u8> {
        let mut log = Vec::new();
        log.extend(format_entry(at(1), "stdout", false, b"one"));
        log.extend(format_entry(at(2), "stderr", false, b"two words"));
        log.extend(format_entry(at(3), "stdout", true, b"part"));
        log.extend(format_entry(at(3), "stdout", false, b"ial"));
        log
    }

    #[test]
    fn lines_come_back_without_their_prefix() {
        let out = select(&log(), &LogOptions::default(), None);
        assert_eq!(out, b"one\ntwo words\npartial\n".to_vec());
    }

    #[test]
    fn tail_since_and_timestamps() {
        let opts = LogOptions {
            since: Some(at(2)),
            ..Default::default()
        };
        assert_eq!(
            select(&log(), &opts, None),
            b"two words\npartial\n".to_vec()
        );
        assert_eq!(
            select(&log(), &LogOptions::default(), Some(1)),
            b"partial\n".to_vec()
        );
        assert_eq!(
            select(&log(), &LogOptions::default(), Some(0)),
            Vec::<u8>::new()
        );
        assert_eq!(
            select(&log(), &LogOptions::default(), Some(9)),
            b"one\ntwo words\npartial\n".to_vec()
        );
        let stamped = LogOptions {
            timestamps: true,
            ..Default::default()
        };
        let out = String::from_utf8(select(&log(), &stamped, Some(2))).unwrap_or_default();
        assert!(out.starts_with("2023-11-14T22:13:22Z two words\n"), "{out}");
    }
}
