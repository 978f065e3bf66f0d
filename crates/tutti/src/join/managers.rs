//! The managers a joined node may talk to, and moving to another one when the one in use
//! fails.
//!
//! The list starts from the address given to `tutti join`, is kept in
//! `<data-dir>/managers.json` (written to a temporary file, fsync'd, renamed) and refreshed
//! from the Endpoints `default/kubernetes`, where the Raft leader publishes every manager's
//! address (as Kubernetes does for its API servers). The manager in use is asked `GET
//! /readyz` every couple of seconds; when it stays silent twice in a row, or refuses the
//! connection once, the other managers are asked in the list's order and the node's
//! [`SwappableClient`] fails over to the first one that is ready: requests in flight on the
//! old manager end (their callers retry), pods and the agent keep running.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::credentials::{NodeCredentials, SwappableClient};

/// The list's file under the node's data directory.
pub const FILE: &str = "managers.json";

/// Where the leader publishes the managers' addresses.
const ENDPOINTS: &str = "/api/v1/namespaces/default/endpoints/kubernetes";

/// How often and how patiently managers are asked.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Between two health checks of the manager in use.
    pub health_every: Duration,
    /// How long a `/readyz` may take before it counts as silence.
    pub probe_timeout: Duration,
    /// Silent or unready checks in a row after which the manager is replaced.
    pub misses: u32,
    /// Between two reads of the published list.
    pub refresh_every: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            health_every: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(2),
            misses: 2,
            refresh_every: Duration::from_secs(10),
        }
    }
}

/// What one `GET /readyz` to a manager found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// It answered, but is not ready (the answer).
    NotReady(String),
    /// No answer within the probe timeout: stopped, partitioned or overloaded.
    Silent,
    /// The connection failed: nothing listening, or the TLS handshake was refused.
    Unreachable(String),
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Health::Ready => f.write_str("ready"),
            Health::NotReady(answer) => write!(f, "not ready: {answer}"),
            Health::Silent => f.write_str("no answer in time"),
            Health::Unreachable(e) => write!(f, "unreachable: {e}"),
        }
    }
}

/// What a health check means for the manager in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it; this many failed checks in a row so far.
    Keep { misses: u32 },
    /// Move to another manager.
    Replace,
}

/// Judge the manager in use after `misses` failed checks in a row and now `health`: a
/// refused connection replaces it at once, silence or unreadiness after `limit` in a row.
pub fn judge(misses: u32, health: &Health, limit: u32) -> Verdict {
    match health {
        Health::Ready => Verdict::Keep { misses: 0 },
        Health::Unreachable(_) => Verdict::Replace,
        Health::NotReady(_) | Health::Silent => {
            let misses = misses.saturating_add(1);
            if misses >= limit {
                Verdict::Replace
            } else {
                Verdict::Keep { misses }
            }
        }
    }
}

/// The order managers are tried in at start: the address given to `tutti join`, then the
/// saved list (without repeats).
pub fn startup_order(first: &str, saved: &[String]) -> Vec<String> {
    let mut order = vec![first.to_string()];
    for url in saved {
        if !order.contains(url) {
            order.push(url.clone());
        }
    }
    order
}

/// The managers' URLs in an Endpoints object: every address of every subset, with the
/// subset's port named `https` (or its only port), in the published order.
pub fn manager_urls(endpoints: &Value) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let subsets = endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for subset in subsets {
        let ports = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some("https"))
            .or(match ports {
                [only] => Some(only),
                _ => None,
            })
            .and_then(|p| p.get("port"))
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else { continue };
        let addresses = subset
            .get("addresses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for address in addresses {
            let Some(ip) = address.get("ip").and_then(Value::as_str) else {
                continue;
            };
            let url = if ip.parse::<Ipv6Addr>().is_ok() {
                format!("https://[{ip}]:{port}")
            } else {
                format!("https://{ip}:{port}")
            };
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}

/// The saved list; empty when there is none yet.
pub fn load(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let list = value
        .get("managers")
        .and_then(Value::as_array)
        .with_context(|| format!("{}: no \"managers\" list", path.display()))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| match v.as_str() {
            Some(url) if url.starts_with("https://") => Ok(url.to_string()),
            _ => anyhow::bail!(
                "{}: managers[{i}]: expected an https:// URL, found {v}",
                path.display()
            ),
        })
        .collect()
}

/// Replace the saved list: a temporary file, fsync'd, renamed over the old one, and the
/// directory fsync'd, so a crash leaves either list whole.
pub fn save(path: &Path, managers: &[String]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let body = serde_json::to_vec_pretty(&json!({ "managers": managers }))?;
    let tmp = path.with_extension("json.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// The managers this node knows, the one in use, and the client that talks to it. Cheap to
/// clone; clones share everything.
#[derive(Clone)]
pub struct Managers {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    client: SwappableClient,
    timing: Timing,
    state: Mutex<State>,
    /// Held while the client is swapped (failover, renewal), so one never undoes the other.
    swapping: tokio::sync::Mutex<()>,
}

struct State {
    current: String,
    known: Vec<String>,
    credentials: NodeCredentials,
    /// A client per manager for health checks, made with `credentials`.
    probes: BTreeMap<String, kube::Client>,
}

impl Managers {
    /// Start with the first ready manager among `first` (the address given to `tutti join`)
    /// and those saved in `<data_dir>/managers.json`; with `first` if none answers (the
    /// health checks move on once one does).
    pub async fn start(
        data_dir: &Path,
        first: &str,
        credentials: NodeCredentials,
    ) -> anyhow::Result<Managers> {
        Managers::start_with(data_dir, first, credentials, Timing::default()).await
    }

    async fn start_with(
        data_dir: &Path,
        first: &str,
        credentials: NodeCredentials,
        timing: Timing,
    ) -> anyhow::Result<Managers> {
        let path = data_dir.join(FILE);
        let saved = load(&path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring the saved list of managers");
            Vec::new()
        });
        let client = SwappableClient::new(credentials.client(first).await?);
        let known = if saved.is_empty() {
            vec![first.to_string()]
        } else {
            saved.clone()
        };
        if known != saved {
            save(&path, &known)?;
        }
        let managers = Managers {
            shared: Arc::new(Shared {
                path,
                client,
                timing,
                state: Mutex::new(State {
                    current: first.to_string(),
                    known,
                    credentials,
                    probes: BTreeMap::new(),
                }),
                swapping: tokio::sync::Mutex::new(()),
            }),
        };
        let order = startup_order(first, &saved);
        for url in &order {
            match managers.probe(url).await {
                Health::Ready => {
                    if url != first {
                        let inner = managers.credentials().client(url).await?;
                        managers.shared.client.fail_over(inner);
                        managers.state().current = url.clone();
                        tracing::warn!(unavailable = %first, "switching to manager {url}");
                    }
                    return Ok(managers);
                }
                health => tracing::info!(manager = %url, %health, "manager not available"),
            }
        }
        tracing::warn!(
            manager = %first,
            tried = order.len(),
            "no manager is ready; starting with the given one"
        );
        Ok(managers)
    }

    /// The client for the agent: every request goes to the manager in use.
    pub fn client(&self) -> kube::Client {
        self.shared.client.client()
    }

    /// The URL of the manager in use.
    pub fn current(&self) -> String {
        self.state().current.clone()
    }

    /// Check the manager in use and refresh the list, forever, on tasks of their own.
    pub fn spawn(&self) {
        let health = self.clone();
        tokio::spawn(async move { health.watch_health().await });
        let list = self.clone();
        tokio::spawn(async move { list.keep_list_fresh().await });
    }

    /// After a certificate renewal: talk to the manager in use with `fresh` (requests in
    /// flight finish with the old certificate), and check managers with it from now on.
    /// Returns the manager's URL.
    pub async fn renewed(&self, fresh: &NodeCredentials) -> anyhow::Result<String> {
        let _swapping = self.shared.swapping.lock().await;
        let url = self.current();
        let inner = fresh.client(&url).await?;
        self.shared.client.swap(inner);
        let mut state = self.state();
        state.credentials = fresh.clone();
        state.probes.clear();
        Ok(url)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.shared.state.lock() {
            Ok(s) => s,
            // Every update of the state is a plain assignment: a panic cannot leave it torn.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn credentials(&self) -> NodeCredentials {
        self.state().credentials.clone()
    }

    async fn watch_health(self) {
        let mut tick = tokio::time::interval(self.shared.timing.health_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut misses = 0;
        loop {
            tick.tick().await;
            misses = self.check(misses).await;
        }
    }

    async fn keep_list_fresh(self) {
        let mut tick = tokio::time::interval(self.shared.timing.refresh_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.refresh().await {
                tracing::debug!(error = %e, "could not read the list of managers");
            }
        }
    }

    /// One health check of the manager in use after `misses` failed ones in a row, failing
    /// over when it is judged gone; the failed checks in a row after it.
    async fn check(&self, misses: u32) -> u32 {
        let url = self.current();
        let health = self.probe(&url).await;
        match judge(misses, &health, self.shared.timing.misses) {
            Verdict::Keep { misses } => {
                if misses > 0 {
                    tracing::info!(manager = %url, %health, misses, "manager health check failed");
                }
                misses
            }
            Verdict::Replace => match self.fail_over(&url, &health).await {
                Some(_) => 0,
                // Stay at the limit: the next failed check tries the others again.
                None => self.shared.timing.misses,
            },
        }
    }

    /// Move from `failed` to the first other known manager that is ready; None when none is.
    async fn fail_over(&self, failed: &str, why: &Health) -> Option<String> {
        let _swapping = self.shared.swapping.lock().await;
        let (current, others) = {
            let state = self.state();
            let others: Vec<String> = state
                .known
                .iter()
                .filter(|u| u.as_str() != failed)
                .cloned()
                .collect();
            (state.current.clone(), others)
        };
        if current != failed {
            return Some(current);
        }
        for url in others {
            match self.probe(&url).await {
                Health::Ready => {}
                health => {
                    tracing::info!(manager = %url, %health, "manager not available");
                    continue;
                }
            }
            match self.credentials().client(&url).await {
                Ok(inner) => {
                    self.shared.client.fail_over(inner);
                    self.state().current = url.clone();
                    tracing::warn!(from = %failed, reason = %why, "switching to manager {url}");
                    return Some(url);
                }
                Err(e) => tracing::warn!(manager = %url, error = %e, "cannot make a client"),
            }
        }
        tracing::warn!(manager = %failed, reason = %why, "the manager in use failed and no other manager is ready");
        None
    }

    /// Ask `url` whether it is ready, within the probe timeout.
    async fn probe(&self, url: &str) -> Health {
        let client = match self.probe_client(url).await {
            Ok(c) => c,
            Err(e) => return Health::Unreachable(format!("{e:#}")),
        };
        let req = match http::Request::get("/readyz").body(Vec::new()) {
            Ok(r) => r,
            Err(e) => return Health::Unreachable(e.to_string()),
        };
        match tokio::time::timeout(self.shared.timing.probe_timeout, client.request_text(req)).await
        {
            Err(_) => Health::Silent,
            Ok(Ok(_)) => Health::Ready,
            Ok(Err(kube::Error::Api(s))) => Health::NotReady(format!("{} {}", s.code, s.message)),
            Ok(Err(e)) => Health::Unreachable(e.to_string()),
        }
    }

    async fn probe_client(&self, url: &str) -> anyhow::Result<kube::Client> {
        if let Some(c) = self.state().probes.get(url) {
            return Ok(c.clone());
        }
        let credentials = self.credentials();
        let client = credentials.client(url).await?;
        let mut state = self.state();
        // Renewed meanwhile: this client has the old certificate; use it once, keep none.
        if state.credentials.cert.cert_pem == credentials.cert.cert_pem {
            state.probes.insert(url.to_string(), client.clone());
        }
        Ok(client)
    }

    /// Read the published list through the manager in use and keep it, when there is one.
    async fn refresh(&self) -> anyhow::Result<()> {
        let req = http::Request::get(ENDPOINTS).body(Vec::new())?;
        let client = self.client();
        let answer = tokio::time::timeout(
            self.shared.timing.refresh_every,
            client.request::<Value>(req),
        )
        .await
        .context("no answer in time")?;
        let endpoints = match answer {
            Ok(v) => v,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tracing::debug!("no list of managers published yet");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let published = manager_urls(&endpoints);
        if published.is_empty() {
            return Ok(());
        }
        {
            let mut state = self.state();
            if state.known == published {
                return Ok(());
            }
            state.known = published.clone();
        }
        save(&self.shared.path, &published)?;
        tracing::info!(managers = ?published, "list of managers updated");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
