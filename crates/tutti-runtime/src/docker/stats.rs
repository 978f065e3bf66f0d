//! Resource usage from the engine's one-shot stats: memory working set (usage without
//! inactive file cache, as kubelet reports it) and cumulative CPU time.

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use futures::StreamExt;

use super::engine_error;
use crate::{ContainerStats, RuntimeError};

pub(crate) async fn read(docker: &Docker, id: &str) -> Result<ContainerStats, RuntimeError> {
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    let mut stream = docker.stats(id, Some(options));
    let Some(sample) = stream.next().await else {
        return Err(RuntimeError::Other(format!(
            "the engine sent no stats for container {id}"
        )));
    };
    let sample = sample.map_err(|e| engine_error(id, e))?;
    let memory = sample.memory_stats.unwrap_or_default();
    let inactive = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Ok(ContainerStats {
        memory_bytes: memory.usage.unwrap_or(0).saturating_sub(inactive),
        cpu_usage_nanos: sample
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)
            .unwrap_or(0),
    })
}
