//! Driving concurrent clients against any [`Store`] and recording their history, with a hook
//! that injects faults alongside.
//!
//! Each client runs one operation at a time on a small key set: a read (`get`), an
//! unconditional write (`txn` put of a value unique to the run), or a compare-and-set (a read,
//! then a `txn` guarded by the key's `mod_revision` from that read). Because every value is
//! written at most once, "the key still has the mod_revision I read" is the same as "the key
//! still has the value I read", so the compare-and-set is recorded as [`Op::Cas`] on values.
//! An operation that errors or exceeds the per-operation timeout is indeterminate.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tutti_store::{Compare, KeyValue, Store, Txn, TxnOp};

use crate::error::TestkitError;
use crate::history::{ClientId, History, Op, Outcome, PendingOp, Recorder};
use crate::linearizability::{CheckOptions, CheckReport, check_history};

/// Which store a client sends its next operation to (`None`: none is up right now; the
/// client backs off and asks again). Called once per operation, so a test can move clients
/// to a new leader or a reopened node.
pub type Router = Arc<dyn Fn(ClientId) -> Option<Arc<dyn Store>> + Send + Sync>;

/// A router that always answers with `store`.
pub fn route_to(store: Arc<dyn Store>) -> Router {
    Arc::new(move |_| Some(store.clone()))
}

/// What the clients do. The run ends when `operations` are recorded or `duration` passed,
/// whichever comes first (at least one of them should be set). The keys must not exist when
/// the run starts: the model's registers start absent (use a fresh store or `key_prefix`).
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub clients: u32,
    /// Keys are `{key_prefix}{0..keys}`.
    pub keys: u32,
    pub key_prefix: String,
    pub operations: Option<u64>,
    pub duration: Option<Duration>,
    /// An operation not answered within this is indeterminate.
    pub op_timeout: Duration,
    /// How long a client waits after an error before its next operation.
    pub error_backoff: Duration,
    /// Fraction of operations that are writes; `cas_ratio` of them are compare-and-sets
    /// (each recorded as a read and a compare-and-set); the rest are reads.
    pub write_ratio: f64,
    pub cas_ratio: f64,
    /// Seeds every client's choices (log it to reproduce a run).
    pub seed: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            clients: 8,
            keys: 4,
            key_prefix: "/testkit/register/".to_string(),
            operations: Some(10_000),
            duration: None,
            op_timeout: Duration::from_secs(1),
            error_backoff: Duration::from_millis(5),
            write_ratio: 0.4,
            cas_ratio: 0.3,
            seed: 0,
        }
    }
}

/// What a run recorded.
#[derive(Clone, Debug)]
pub struct WorkloadReport {
    pub history: History,
    pub elapsed: Duration,
    /// Operations recorded (completed and indeterminate).
    pub operations: u64,
    /// Of those, how many were indeterminate.
    pub indeterminate: u64,
}

/// Handed to the fault injector: how far the workload got, and whether it is over.
#[derive(Clone, Debug)]
pub struct FaultControl {
    progress: watch::Receiver<u64>,
    done: watch::Receiver<bool>,
}

impl FaultControl {
    /// Operations recorded so far.
    pub fn operations(&self) -> u64 {
        *self.progress.borrow()
    }

    pub fn is_finished(&self) -> bool {
        *self.done.borrow()
    }

    /// Wait until `n` operations are recorded. Returns false if the workload ended first.
    pub async fn wait_for_operations(&mut self, n: u64) -> bool {
        let mut done = self.done.clone();
        let mut progress = self.progress.clone();
        tokio::select! {
            reached = progress.wait_for(|&ops| ops >= n) => reached.is_ok(),
            _ = done.wait_for(|&d| d) => self.operations() >= n,
        }
    }

    /// Wait until the clients have stopped.
    pub async fn finished(&mut self) {
        let _ = self.done.wait_for(|&d| d).await;
    }
}

struct Shared {
    router: Router,
    recorder: Recorder,
    workload: Workload,
    deadline: Option<Instant>,
    claimed: AtomicU64,
    indeterminate: AtomicU64,
    progress: watch::Sender<u64>,
}

impl Shared {
    /// Reserve one operation; false once the run is over.
    fn claim(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        self.workload.operations.is_none_or(|max| n < max)
    }

    fn ended(&self, pending: PendingOp, outcome: Option<Outcome>, why: &str) {
        match outcome {
            Some(outcome) => pending.complete(outcome),
            None => {
                self.indeterminate.fetch_add(1, Ordering::Relaxed);
                pending.indeterminate_because(why);
            }
        }
        self.progress.send_modify(|n| *n += 1);
    }
}

/// Run `workload` against the stores `router` hands out, recording into `recorder`, while
/// `faults` runs alongside. When the clients are done the fault injector is told (see
/// [`FaultControl::finished`]) and awaited, so it can heal what it broke.
pub async fn run<F, Fut>(
    router: Router,
    workload: &Workload,
    recorder: &Recorder,
    faults: F,
) -> Result<WorkloadReport, TestkitError>
where
    F: FnOnce(FaultControl) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let (progress, progress_rx) = watch::channel(0);
    let (done, done_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        router,
        recorder: recorder.clone(),
        workload: workload.clone(),
        deadline: workload.duration.map(|d| started + d),
        claimed: AtomicU64::new(0),
        indeterminate: AtomicU64::new(0),
        progress,
    });
    tracing::info!(
        seed = workload.seed,
        clients = workload.clients,
        "workload starting"
    );
    let injector = tokio::spawn(faults(FaultControl {
        progress: progress_rx,
        done: done_rx,
    }));
    let mut clients = JoinSet::new();
    let mut ids = HashMap::new();
    for client in 0..workload.clients {
        ids.insert(
            clients.spawn(run_client(shared.clone(), client)).id(),
            client,
        );
    }
    let mut failure = None;
    while let Some(joined) = clients.join_next().await {
        if let Err(e) = joined {
            failure.get_or_insert(TestkitError::Client {
                client: ids.get(&e.id()).copied().unwrap_or(u32::MAX),
                reason: e.to_string(),
            });
        }
    }
    done.send_replace(true);
    let injected = injector.await;
    if let Some(failure) = failure {
        return Err(failure);
    }
    injected.map_err(|e| TestkitError::Faults(e.to_string()))?;
    let history = recorder.history();
    Ok(WorkloadReport {
        operations: *shared.progress.borrow(),
        indeterminate: shared.indeterminate.load(Ordering::Relaxed),
        history,
        elapsed: started.elapsed(),
    })
}

fn text(kv: Option<&KeyValue>) -> Option<String> {
    kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
}

async fn run_client(shared: Arc<Shared>, client: ClientId) {
    let w = &shared.workload;
    let mut rng =
        StdRng::seed_from_u64(w.seed ^ u64::from(client).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut written = 0u64;
    loop {
        let Some(store) = (shared.router)(client) else {
            if shared.deadline.is_some_and(|d| Instant::now() >= d) || !has_budget(&shared) {
                return;
            }
            tokio::time::sleep(w.error_backoff).await;
            continue;
        };
        if !shared.claim() {
            return;
        }
        let key = format!("{}{}", w.key_prefix, rng.random_range(0..w.keys.max(1)));
        let ok = if !rng.random_bool(w.write_ratio.clamp(0.0, 1.0)) {
            read(&shared, store.as_ref(), client, &key).await.is_some()
        } else {
            written += 1;
            let value = format!("c{client}-{written}");
            if rng.random_bool(w.cas_ratio.clamp(0.0, 1.0)) {
                cas(&shared, store.as_ref(), client, &key, value).await
            } else {
                write(&shared, store.as_ref(), client, &key, value).await
            }
        };
        if !ok {
            tokio::time::sleep(w.error_backoff).await;
        }
    }
}

fn has_budget(shared: &Shared) -> bool {
    let claimed = shared.claimed.load(Ordering::Relaxed);
    shared.workload.operations.is_none_or(|max| claimed < max)
}

/// Read `key`; returns its value and mod_revision (0: absent), or `None` if indeterminate.
async fn read(
    shared: &Shared,
    store: &dyn Store,
    client: ClientId,
    key: &str,
) -> Option<(Option<String>, i64)> {
    let pending = shared.recorder.invoke(client, Op::read(key));
    let answer = tokio::time::timeout(shared.workload.op_timeout, store.get(key)).await;
    match answer {
        Ok(Ok(kv)) => {
            let value = text(kv.as_ref());
            let revision = kv.map_or(0, |kv| kv.mod_revision);
            let outcome = Outcome::ReadOk {
                value: value.clone(),
            };
            shared.ended(pending, Some(outcome), "");
            Some((value, revision))
        }
        Ok(Err(e)) => {
            shared.ended(pending, None, &e.to_string());
            None
        }
        Err(_) => {
            shared.ended(pending, None, "timed out");
            None
        }
    }
}

async fn write(
    shared: &Shared,
    store: &dyn Store,
    client: ClientId,
    key: &str,
    value: String,
) -> bool {
    let txn = Txn::put(key, Bytes::from(value.clone()));
    let pending = shared.recorder.invoke(client, Op::write(key, value));
    let answer = tokio::time::timeout(shared.workload.op_timeout, store.txn(txn)).await;
    let (outcome, why) = match answer {
        Ok(Ok(resp)) if resp.succeeded => (Some(Outcome::WriteOk), String::new()),
        Ok(Ok(_)) => (None, "an unconditional put did not succeed".to_string()),
        Ok(Err(e)) => (None, e.to_string()),
        Err(_) => (None, "timed out".to_string()),
    };
    let ok = outcome.is_some();
    shared.ended(pending, outcome, &why);
    ok
}

async fn cas(shared: &Shared, store: &dyn Store, client: ClientId, key: &str, new: String) -> bool {
    let Some((expected, revision)) = read(shared, store, client, key).await else {
        return false;
    };
    if !shared.claim() {
        return true;
    }
    let txn = Txn {
        compares: vec![Compare::mod_revision(key, revision)],
        ops: vec![TxnOp::put(key, Bytes::from(new.clone()))],
    };
    let op = Op::cas(key, expected.as_deref(), new);
    let pending = shared.recorder.invoke(client, op);
    let answer = tokio::time::timeout(shared.workload.op_timeout, store.txn(txn)).await;
    let (outcome, why) = match answer {
        Ok(Ok(resp)) if resp.succeeded => (Some(Outcome::CasOk), String::new()),
        Ok(Ok(resp)) => {
            let current = text(resp.compared.first().and_then(Option::as_ref));
            (Some(Outcome::CasFailed { current }), String::new())
        }
        Ok(Err(e)) => (None, e.to_string()),
        Err(_) => (None, "timed out".to_string()),
    };
    let ok = outcome.is_some();
    shared.ended(pending, outcome, &why);
    ok
}

/// Check a run's history; unless it is linearizable, also save it as JSON under the system
/// temp dir (`tutti-history-{name}-{pid}.json`) and return where, for debugging.
pub fn check_run(
    report: &WorkloadReport,
    name: &str,
    options: &CheckOptions,
) -> Result<(CheckReport, Option<PathBuf>), TestkitError> {
    let check = check_history(&report.history, options)?;
    if check.result.is_linearizable() {
        return Ok((check, None));
    }
    let path =
        std::env::temp_dir().join(format!("tutti-history-{name}-{}.json", std::process::id()));
    report.history.save(&path)?;
    tracing::warn!(path = %path.display(), verdict = %check.result, "history saved");
    Ok((check, Some(path)))
}
