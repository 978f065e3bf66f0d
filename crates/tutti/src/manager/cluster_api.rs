//! The managers' own HTTP endpoints, next to the Kubernetes API on the same port:
//!
//! - `GET  /tutti/v1/managers`: the Raft members with name, role, leader and reachability
//!   (admins and managers), what `tutti node ls` shows.
//! - `POST /tutti/v1/managers/{name}/promote|demote`, `DELETE /tutti/v1/managers/{name}`
//!   (admins): membership changes; any manager takes them, followers forward to the leader.
//! - `POST /tutti/v1/managers` (managers): a manager that just joined asks to be added as a
//!   learner and promoted to voter once it caught up.
//! - `GET  /tutti/v1/cluster/secrets` (managers): what a joining manager needs to act as one:
//!   the CA key (every manager issues certificates), the join token secrets and the admin
//!   bearer token.
//!
//! Only client certificates authenticate here (no bearer tokens), checked by group.
//! Manager names live in the ConfigMap `kube-system/tutti-managers` (Raft id → name).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use tutti_apiserver::serve::only_groups;
use tutti_pki::{ClusterCa, JoinTokens, Role};
use tutti_store::{MembershipError, RaftStore, StoreError};

const ADMINS: &[&str] = &["system:masters"];
const MANAGERS: &[&str] = &["system:managers"];
const ADMINS_OR_MANAGERS: &[&str] = &["system:masters", "system:managers"];
/// Where manager names are kept.
pub const NAMES_CONFIGMAP: &str = "tutti-managers";

#[derive(Clone)]
pub struct ClusterApi {
    pub store: RaftStore,
    pub ca: Arc<ClusterCa>,
    pub pki: PathBuf,
    pub admin_token: String,
    /// In-process client (names ConfigMap).
    pub client: kube::Client,
}

/// What `GET /tutti/v1/managers` lists.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManagerInfo {
    pub id: u64,
    pub name: String,
    pub addr: String,
    /// "voter" or "learner".
    pub role: String,
    pub leader: bool,
    /// Seen recently by the answering manager (`None`: it cannot tell).
    pub reachable: Option<bool>,
}

/// A joining manager's request to be added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddManager {
    pub id: u64,
    pub name: String,
    pub addr: String,
}

/// What a joining manager receives to act as one.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClusterSecrets {
    pub ca_key_pem: String,
    pub worker_secret: String,
    pub manager_secret: String,
    pub admin_token: String,
}

impl ClusterApi {
    pub fn router(self) -> Router {
        let state = Arc::new(self);
        let admins = only_groups(
            Router::new()
                .route("/tutti/v1/managers/{name}/promote", post(promote))
                .route("/tutti/v1/managers/{name}/demote", post(demote))
                .route("/tutti/v1/managers/{name}", axum::routing::delete(remove))
                .with_state(state.clone()),
            ADMINS,
        );
        let managers = only_groups(
            Router::new()
                .route("/tutti/v1/managers", post(add))
                .route("/tutti/v1/cluster/secrets", get(secrets))
                .with_state(state.clone()),
            MANAGERS,
        );
        let both = only_groups(
            Router::new()
                .route("/tutti/v1/managers", get(list))
                .with_state(state),
            ADMINS_OR_MANAGERS,
        );
        admins.merge(managers).merge(both)
    }

    fn names_api(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), "kube-system")
    }

    /// Raft id → manager name, as recorded.
    async fn names(&self) -> BTreeMap<u64, String> {
        match self.names_api().get_opt(NAMES_CONFIGMAP).await {
            Ok(Some(cm)) => cm
                .data
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(id, name)| Some((id.parse().ok()?, name)))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    async fn id_of(&self, name: &str) -> Result<u64, Failure> {
        if let Some((id, _)) = self.names().await.into_iter().find(|(_, n)| n == name) {
            return Ok(id);
        }
        name.parse()
            .map_err(|_| Failure(StatusCode::NOT_FOUND, format!("no manager named {name:?}")))
    }
}

/// Record `name` for Raft member `id` (server-side apply of one key: concurrent managers
/// recording themselves do not conflict).
pub async fn record_name(client: &kube::Client, id: u64, name: &str) -> Result<(), kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let patch = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAMES_CONFIGMAP},
        "data": {id.to_string(): name},
    });
    let params = PatchParams::apply(&format!("tutti-manager-{id}")).force();
    api.patch(NAMES_CONFIGMAP, &params, &Patch::Apply(&patch))
        .await
        .map(|_| ())
}

struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<MembershipError> for Failure {
    fn from(e: MembershipError) -> Self {
        let code = match &e {
            MembershipError::NotMember { .. } => StatusCode::NOT_FOUND,
            MembershipError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        Failure(code, e.to_string())
    }
}

async fn list(State(c): State<Arc<ClusterApi>>) -> Json<Vec<ManagerInfo>> {
    let names = c.names().await;
    let members = c.store.members();
    Json(
        members
            .into_iter()
            .map(|m| ManagerInfo {
                id: m.id,
                name: names
                    .get(&m.id)
                    .cloned()
                    .unwrap_or_else(|| m.id.to_string()),
                addr: m.addr,
                role: match m.role {
                    tutti_store::raft::Role::Voter => "voter".into(),
                    tutti_store::raft::Role::Learner => "learner".into(),
                },
                leader: m.is_leader,
                reachable: m.reachable,
            })
            .collect(),
    )
}

async fn add(
    State(c): State<Arc<ClusterApi>>,
    Json(req): Json<AddManager>,
) -> Result<&'static str, Failure> {
    if req.id == 0 {
        return Err(Failure(StatusCode::BAD_REQUEST, "id: must not be 0".into()));
    }
    if super::leader::host_port(&req.addr).is_none() {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("addr: {:?} is not https://<ip>:<port>", req.addr),
        ));
    }
    record_name(&c.client, req.id, &req.name)
        .await
        .map_err(|e| {
            Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("recording the name: {e}"),
            )
        })?;
    tracing::info!(id = req.id, name = %req.name, addr = %req.addr, "adding a manager");
    c.store.add_learner(req.id, &req.addr).await?;
    c.store.promote(req.id).await?;
    tracing::info!(id = req.id, name = %req.name, "manager is a voter");
    Ok("added\n")
}

async fn promote(
    State(c): State<Arc<ClusterApi>>,
    Path(name): Path<String>,
) -> Result<&'static str, Failure> {
    let id = c.id_of(&name).await?;
    c.store.promote(id).await?;
    Ok("promoted\n")
}

async fn demote(
    State(c): State<Arc<ClusterApi>>,
    Path(name): Path<String>,
) -> Result<&'static str, Failure> {
    let id = c.id_of(&name).await?;
    c.store.demote(id).await?;
    Ok("demoted\n")
}

async fn remove(
    State(c): State<Arc<ClusterApi>>,
    Path(name): Path<String>,
) -> Result<&'static str, Failure> {
    let id = c.id_of(&name).await?;
    if id == c.store.node_id() && c.store.members().len() > 1 {
        // Allowed (Raft handles a leader removing itself), but say what happens.
        tracing::warn!(id, "removing the manager that answered this request");
    }
    c.store.remove(id).await?;
    Ok("removed\n")
}

async fn secrets(State(c): State<Arc<ClusterApi>>) -> Result<Json<ClusterSecrets>, Failure> {
    let tokens = JoinTokens::load(&c.pki)
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(ClusterSecrets {
        ca_key_pem: c.ca.key_pem(),
        worker_secret: tokens.secret(Role::Worker).to_string(),
        manager_secret: tokens.secret(Role::Manager).to_string(),
        admin_token: c.admin_token.clone(),
    }))
}
