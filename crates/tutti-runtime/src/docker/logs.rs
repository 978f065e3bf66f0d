//! Container logs from the engine (json-file), demultiplexed to plain bytes: follow, tail,
//! since (exact to the nanosecond: the engine's own `since` is whole seconds) and
//! timestamps (`<RFC 3339> ` before each line, as `kubectl logs --timestamps` shows).

use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use bytes::Bytes;
use futures::StreamExt;

use super::engine_error;
use crate::{LogOptions, LogStream, RuntimeError, timestamp};

pub(crate) async fn stream(
    docker: &Docker,
    id: &str,
    opts: &LogOptions,
) -> Result<LogStream, RuntimeError> {
    // Fail now, not on the first item, for a container that does not exist.
    docker
        .inspect_container(id, None)
        .await
        .map_err(|e| engine_error(id, e))?;
    let since = opts.since;
    let options = LogsOptions {
        follow: opts.follow,
        stdout: true,
        stderr: true,
        since: since
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
            .unwrap_or(0),
        until: 0,
        // Always ask for timestamps: they make `since` exact; dropped below if unwanted.
        timestamps: true,
        tail: opts
            .tail
            .map(|n| n.to_string())
            .unwrap_or_else(|| "all".to_string()),
    };
    let keep_timestamps = opts.timestamps;
    let owner = id.to_string();
    let frames = docker.logs(id, Some(options)).filter_map(move |frame| {
        let item = match frame {
            Ok(output) => line(output, since, keep_timestamps).map(Ok),
            Err(e) => Some(Err(engine_error(&owner, e))),
        };
        futures::future::ready(item)
    });
    Ok(frames.boxed())
}

/// One frame (`<timestamp> <text>`), or `None` when it is older than `since`.
fn line(output: LogOutput, since: Option<SystemTime>, keep_timestamp: bool) -> Option<Bytes> {
    let bytes = output.into_bytes();
    let Some(space) = bytes.iter().position(|b| *b == b' ') else {
        return Some(bytes);
    };
    let at = std::str::from_utf8(&bytes[..space])
        .ok()
        .and_then(timestamp::parse);
    if let (Some(since), Some(at)) = (since, at)
        && at < since
    {
        return None;
    }
    if keep_timestamp || at.is_none() {
        Some(bytes)
    } else {
        Some(bytes.slice(space + 1..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(text: &str) -> LogOutput {
        LogOutput::StdOut {
            message: Bytes::from(text.to_string()),
        }
    }

    #[test]
    fn timestamps_are_stripped_or_kept_and_since_is_exact() {
        let frame = "2024-05-01T12:00:00.500000000Z hello\n";
        assert_eq!(line(out(frame), None, false), Some(Bytes::from("hello\n")));
        assert_eq!(line(out(frame), None, true), Some(Bytes::from(frame)));
        let after = timestamp::parse("2024-05-01T12:00:00.6Z");
        assert_eq!(line(out(frame), after, false), None);
        let before = timestamp::parse("2024-05-01T12:00:00.4Z");
        assert_eq!(
            line(out(frame), before, false),
            Some(Bytes::from("hello\n"))
        );
    }
}
