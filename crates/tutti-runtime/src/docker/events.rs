//! Container exits from the engine's event feed (`GET /events`, `die` of this node's
//! containers), so the agent restarts a killed container without waiting for its next
//! sync.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::query_parameters::EventsOptions;
use futures::StreamExt;

use super::engine_error;
use super::labels::{MANAGED, NODE, POD_UID};
use crate::{ContainerExit, ExitStream};

/// The exits of `node`'s containers and sandboxes from the moment of the call on.
pub(crate) fn exits(docker: &Docker, node: &str) -> ExitStream {
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("event".to_string(), vec!["die".to_string()]),
        (
            "label".to_string(),
            vec![format!("{MANAGED}=true"), format!("{NODE}={node}")],
        ),
    ]);
    // The request goes out on the stream's first poll: `since` (now) has the engine replay
    // what died in between.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let options = EventsOptions {
        since: Some(format!("{}.{:09}", now.as_secs(), now.subsec_nanos())),
        filters: Some(filters),
        ..Default::default()
    };
    docker
        .events(Some(options))
        .filter_map(|event| async move {
            match event {
                Ok(message) => {
                    let actor = message.actor?;
                    let id = actor.id?;
                    // A container's event carries its labels among the actor's attributes.
                    let pod_uid = actor.attributes?.get(POD_UID)?.clone();
                    Some(Ok(ContainerExit { id, pod_uid }))
                }
                Err(e) => Some(Err(engine_error("events", e))),
            }
        })
        .boxed()
}
