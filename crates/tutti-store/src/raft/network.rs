//! openraft's network seam ([`RaftNetworkFactory`]) over the HTTPS peer client: append,
//! vote and snapshot-chunk RPCs to `/raft/*` on the target's address, each bounded by the
//! deadline openraft gives it. A peer that cannot be dialed is `Unreachable` (openraft backs
//! off); a remote Raft error comes back as `RemoteError`.

use std::io;
use std::sync::Arc;

use openraft::BasicNode;
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::peers::{CallError, Peers};
use super::rpc;
use super::types::{NodeId, TypeConfig};

/// Hands out a [`Network`] client per peer; all share one connection pool.
#[derive(Clone)]
pub(crate) struct NetworkFactory {
    node_id: NodeId,
    peers: Arc<Peers>,
}

impl NetworkFactory {
    pub(crate) fn new(node_id: NodeId, peers: Arc<Peers>) -> Self {
        NetworkFactory { node_id, peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Network {
        Network {
            node_id: self.node_id,
            target,
            addr: node.addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// A client for one peer.
pub(crate) struct Network {
    node_id: NodeId,
    target: NodeId,
    addr: String,
    peers: Arc<Peers>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl Network {
    /// POST `req` to `path` and decode the peer's `Result<Resp, RemoteErr>`.
    async fn call<Req, Resp, RemoteErr, E>(
        &self,
        action: RPCTypes,
        path: &str,
        req: &Req,
        option: RPCOption,
        remote: impl FnOnce(RemoteErr) -> E,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        RemoteErr: DeserializeOwned,
        E: std::error::Error,
    {
        let network =
            |message: String| RPCError::Network(NetworkError::new(&io::Error::other(message)));
        let body = rpc::encode(req).map_err(|e| network(e.to_string()))?;
        let ttl = option.hard_ttl();
        match self.peers.call(&self.addr, path, body, ttl).await {
            Ok(bytes) => {
                let answer: Result<Resp, RemoteErr> =
                    rpc::decode(&bytes).map_err(|e| network(format!("{path}: {e}")))?;
                answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, remote(e))))
            }
            Err(CallError::NotSent(message)) => Err(RPCError::Unreachable(Unreachable::new(
                &io::Error::other(message),
            ))),
            Err(CallError::Timeout(timeout)) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.node_id,
                target: self.target,
                timeout,
            })),
            Err(e @ (CallError::Failed(_) | CallError::Status { .. })) => Err(network(format!(
                "{path} to node {} at {}: {e}",
                self.target, self.addr
            ))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        self.call(
            RPCTypes::AppendEntries,
            rpc::APPEND,
            &rpc,
            option,
            RaftError::<NodeId>::Fatal,
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        self.call(
            RPCTypes::InstallSnapshot,
            rpc::SNAPSHOT,
            &rpc,
            option,
            |e: RaftError<NodeId, InstallSnapshotError>| e,
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.call(
            RPCTypes::Vote,
            rpc::VOTE,
            &rpc,
            option,
            RaftError::<NodeId>::Fatal,
        )
        .await
    }
}

/// The only error an append or vote can answer with: `RaftError<NodeId>`'s API error is
/// `Infallible`.
pub(crate) fn fatal_only(e: RaftError<NodeId>) -> Fatal<NodeId> {
    match e {
        RaftError::Fatal(fatal) => fatal,
        RaftError::APIError(never) => match never {},
    }
}
