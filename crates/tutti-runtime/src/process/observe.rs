//! A record turned into the container's state as of now: its recorded exit, else whether
//! the process is still the one we started. Observing also adopts running processes that
//! no driver supervises, and settles processes that ended while none did.

use std::time::SystemTime;

use super::record::{Exit, Layout, Record, from_unix_ns};
use super::{procfs, supervise};
use crate::{ContainerInfo, ContainerState, RuntimeError};

pub(crate) fn observe(layout: &Layout, mut record: Record) -> Result<ContainerInfo, RuntimeError> {
    let started_at = from_unix_ns(record.started_at_unix_ns);
    let state = match &record.exit {
        Some(exit) => exited(exit, started_at),
        None if procfs::alive(record.pid, record.pid_start_ticks) => {
            supervise::adopt(layout, &record)?;
            ContainerState::Running { started_at }
        }
        None => match supervise::try_lock(&layout.container_dir(&record.id))? {
            Some(_lock) => {
                // A supervisor writes the exit before it lets go of the lock: read again.
                record = layout.load(&record.id)?;
                match &record.exit {
                    Some(exit) => exited(exit, started_at),
                    // Nobody supervised it: it ended while no driver was watching.
                    None => {
                        let exit = layout
                            .wrapper_exit(&record.id)
                            .unwrap_or_else(Exit::unknown);
                        let state = exited(&exit, started_at);
                        record.exit = Some(exit);
                        layout.save(&record)?;
                        state
                    }
                }
            }
            // Its supervisor is recording the exit right now.
            None => ContainerState::Running { started_at },
        },
    };
    Ok(ContainerInfo {
        id: record.id,
        pod_uid: record.pod_uid,
        name: record.name,
        attempt: record.attempt,
        image_id: format!("process://{}", record.image),
        image: record.image,
        state,
    })
}

fn exited(exit: &Exit, started_at: SystemTime) -> ContainerState {
    ContainerState::Exited {
        exit_code: exit.code,
        reason: Some(exit.reason.clone()),
        started_at: Some(started_at),
        finished_at: from_unix_ns(exit.finished_at_unix_ns),
    }
}
