//! Join token secrets shared by all managers. The Secret `kube-system/tutti-join-tokens` in
//! the replicated store is the truth; every manager mirrors it into its `pki/tokens.json`
//! (which the join endpoint reads on every join). `tutti token rotate` writes the Secret
//! first and then its own manager's file, so the old token stops working on that manager at
//! once and on the others as soon as their watch delivers the change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use tutti_pki::{JoinTokens, Role};

pub const SECRET: &str = "tutti-join-tokens";

fn api(client: &kube::Client) -> Api<Secret> {
    Api::namespaced(client.clone(), "kube-system")
}

fn secret_of(worker: &str, manager: &str) -> Secret {
    let data = BTreeMap::from([
        (
            Role::Worker.as_str().to_string(),
            ByteString(worker.as_bytes().to_vec()),
        ),
        (
            Role::Manager.as_str().to_string(),
            ByteString(manager.as_bytes().to_vec()),
        ),
    ]);
    let mut s = Secret::default();
    s.metadata.name = Some(SECRET.into());
    s.data = Some(data);
    s
}

/// The (worker, manager) secrets a Secret holds, if both are there.
fn secrets_in(s: &Secret) -> Option<(String, String)> {
    let data = s.data.as_ref()?;
    let get = |r: Role| {
        data.get(r.as_str())
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    Some((get(Role::Worker)?, get(Role::Manager)?))
}

/// Keep `<pki>/tokens.json` equal to the Secret, creating the Secret from the file when the
/// cluster has none yet (the first manager, or a cluster made before tokens were shared).
pub async fn mirror(client: kube::Client, pki: PathBuf) {
    let api = api(&client);
    let mut delay = Duration::from_millis(200);
    loop {
        match seed(&api, &pki).await {
            Ok(()) => break,
            Err(e) => tracing::debug!(error = %e, "sharing the join tokens"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    let config = watcher::Config::default().fields(&format!("metadata.name={SECRET}"));
    let mut events = watcher::watcher(api, config).applied_objects().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(secret) => install(&pki, &secret),
            Err(e) => {
                tracing::debug!(error = %e, "watching the join tokens");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn seed(api: &Api<Secret>, pki: &Path) -> Result<(), kube::Error> {
    if api.get_opt(SECRET).await?.is_some() {
        return Ok(());
    }
    let Ok(tokens) = JoinTokens::load(pki) else {
        return Ok(());
    };
    let secret = secret_of(tokens.secret(Role::Worker), tokens.secret(Role::Manager));
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

fn install(pki: &Path, secret: &Secret) {
    let Some((worker, manager)) = secrets_in(secret) else {
        tracing::warn!("{SECRET} lacks a worker or manager secret; keeping the local tokens");
        return;
    };
    let same = JoinTokens::load(pki)
        .is_ok_and(|t| t.secret(Role::Worker) == worker && t.secret(Role::Manager) == manager);
    if same {
        return;
    }
    match JoinTokens::install(pki, &worker, &manager) {
        Ok(_) => tracing::info!("join tokens updated from the cluster"),
        Err(e) => tracing::error!(error = %e, "writing the join tokens"),
    }
}

/// Rotate `role`'s secret cluster-wide through the API (`client` is an admin), then in this
/// manager's file. Returns the new tokens.
pub async fn rotate(client: &kube::Client, pki: &Path, role: Role) -> anyhow::Result<JoinTokens> {
    let api = api(client);
    let tokens = JoinTokens::load(pki)?;
    let fresh = tutti_pki::random_token();
    let (worker, manager) = match role {
        Role::Worker => (fresh, tokens.secret(Role::Manager).to_string()),
        Role::Manager => (tokens.secret(Role::Worker).to_string(), fresh),
    };
    let mut secret = secret_of(&worker, &manager);
    match api.get_opt(SECRET).await? {
        Some(existing) => {
            secret.metadata.resource_version = existing.metadata.resource_version;
            api.replace(SECRET, &PostParams::default(), &secret).await?;
        }
        None => {
            api.create(&PostParams::default(), &secret).await?;
        }
    }
    Ok(JoinTokens::install(pki, &worker, &manager)?)
}
