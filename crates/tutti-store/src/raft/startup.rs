//! What a member does when it opens: on first start create a one-voter cluster or wait to be
//! added to one ([`Bootstrap`]); a lone voter then becomes leader and applies its whole log
//! before `open` returns, while a member of a multi-manager cluster returns at once.

use std::collections::BTreeMap;

use openraft::error::InitializeError;
use openraft::{BasicNode, ChangeMembers, ServerState};

use super::config::{Bootstrap, RaftStoreConfig};
use super::errors;
use super::types::{NodeId, Raft};
use crate::StoreError;

pub(super) async fn start(
    raft: &Raft,
    node_id: NodeId,
    config: &RaftStoreConfig,
) -> Result<(), StoreError> {
    let timeout = config.open_timeout;
    let addr = config.node_addr(node_id);
    if !raft.is_initialized().await.map_err(errors::from_fatal)? {
        match config.bootstrap {
            Bootstrap::Join => {
                tracing::info!(node_id, %addr, "empty member: waiting to be added as a learner");
                return Ok(());
            }
            Bootstrap::NewCluster => {
                let members = BTreeMap::from([(node_id, BasicNode::new(addr.clone()))]);
                match raft.initialize(members).await {
                    Ok(()) => {
                        tracing::info!(node_id, %addr, "initialised a one-voter raft cluster")
                    }
                    Err(e) if matches!(e.api_error(), Some(InitializeError::NotAllowed(_))) => {}
                    Err(e) => {
                        return Err(StoreError::Unavailable(format!(
                            "initialising raft cluster: {e}"
                        )));
                    }
                }
            }
        }
    }
    let metrics = raft
        .wait(Some(timeout))
        .metrics(
            |m| m.membership_config.membership().nodes().count() > 0,
            "load membership",
        )
        .await
        .map_err(|e| StoreError::Unavailable(format!("loading the membership: {e}")))?;
    let voters: Vec<NodeId> = metrics.membership_config.membership().voter_ids().collect();
    if voters != [node_id] {
        tracing::info!(
            node_id,
            ?voters,
            "member of a multi-manager cluster: serving once a leader is known"
        );
        return Ok(());
    }
    raft.wait(Some(timeout))
        .metrics(
            |m| m.state == ServerState::Leader && m.current_leader == Some(node_id),
            "become leader",
        )
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "node {node_id} did not become leader within {timeout:?}: {e}"
            ))
        })?;
    tokio::time::timeout(timeout, raft.ensure_linearizable())
        .await
        .map_err(|_| StoreError::Unavailable("timed out catching up the state machine".into()))?
        .map_err(errors::from_raft)?;
    // A single voter commits its whole log; wait until all of it is applied.
    let last_log_index = raft.metrics().borrow().last_log_index;
    raft.wait(Some(timeout))
        .applied_index_at_least(last_log_index, "apply the whole log")
        .await
        .map_err(|e| StoreError::Unavailable(format!("applying the log: {e}")))?;
    update_own_addr(raft, node_id, config).await
}

/// A lone voter first started without an address (a placeholder) records its real one, so
/// that managers joining later can reach it.
async fn update_own_addr(
    raft: &Raft,
    node_id: NodeId,
    config: &RaftStoreConfig,
) -> Result<(), StoreError> {
    if config.advertise_addr.is_empty() {
        return Ok(());
    }
    let recorded = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&node_id)
        .map(|n| n.addr.clone());
    if recorded.as_deref() == Some(config.advertise_addr.as_str()) {
        return Ok(());
    }
    let nodes = BTreeMap::from([(node_id, BasicNode::new(config.advertise_addr.clone()))]);
    tokio::time::timeout(
        config.open_timeout,
        raft.change_membership(ChangeMembers::SetNodes(nodes), false),
    )
    .await
    .map_err(|_| StoreError::Unavailable("timed out recording this member's address".into()))?
    .map_err(errors::from_raft)?;
    tracing::info!(node_id, old = ?recorded, new = %config.advertise_addr, "recorded this member's address");
    Ok(())
}
