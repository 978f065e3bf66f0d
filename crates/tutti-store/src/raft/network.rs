//! Raft networking. A single manager is a one-voter cluster and never sends an RPC, so this
//! transport answers every RPC with `Unreachable`. Multi-manager support replaces
//! [`Network`] with an mTLS transport behind the same [`RaftNetworkFactory`] seam; nothing else
//! in the store changes.

use std::error::Error;
use std::io;

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::types::{NodeId, TypeConfig};

/// Hands out a [`Network`] client per peer.
#[derive(Clone, Debug, Default)]
pub(crate) struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Network {
        Network {
            target,
            addr: node.addr.clone(),
        }
    }
}

/// A client for one peer; for now every RPC fails as unreachable.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    target: NodeId,
    addr: String,
}

impl Network {
    fn unreachable<E: Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        tracing::debug!(target = self.target, addr = %self.addr, "raft rpc to a peer without transport");
        let cause = io::Error::other(format!(
            "no raft transport to node {} at {:?}: multi-manager networking is not available yet",
            self.target, self.addr
        ));
        RPCError::Unreachable(Unreachable::new(&cause))
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        Err(self.unreachable())
    }
}
