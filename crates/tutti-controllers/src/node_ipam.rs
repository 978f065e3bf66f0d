//! Node IPAM: gives every Node without `spec.podCIDR` a block of the cluster's pod range
//! (a /24 of 10.244.0.0/16 by default), which its agent turns into the node's pod bridge and
//! the other nodes route to. Like Kubernetes' range allocator, it sets `spec.podCIDR` and
//! `spec.podCIDRs` once (the API server refuses to change them afterwards) and, when the
//! range is used up, records a `CIDRNotAvailable` Event on the node and tries again later.
//!
//! The blocks in use are read from the controller's Node cache (filled by a full LIST when it
//! starts, then the watch) at every allocation, plus the blocks this allocator wrote that the
//! watch has not shown yet; so a new leader never hands out a block twice and a deleted
//! node's block is free again. Reading the cache rather than listing every Node per
//! allocation keeps registering N nodes at O(N) API work, not O(N²) (5,000 hollow nodes
//! made the old way cost a core). The lowest free block is chosen, so the result does not
//! depend on timing; choices are serialised (each recorded under a lock before its write,
//! which runs without it), so two nodes reconciled at once cannot both take the same block.
//! When the range is used up, the node gets one `CIDRNotAvailable` Event and is looked at
//! again every [`EXHAUSTED_RETRY`].
//!
//! Wiring: a kube-runtime `Controller` on Nodes; [`next_free`] is the pure part.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use serde_json::json;
use tracing::Instrument;
use tutti_client::{EventType, Recorder, reference};

use crate::ControllerConfig;
use crate::replicaset::backoff::ErrorBackoff;

/// How long a node waits before asking again when the range is used up.
const EXHAUSTED_RETRY: Duration = Duration::from_secs(10);

/// Why a reconcile failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

/// An IPv4 block: network address and prefix length.
pub type Cidr = (Ipv4Addr, u8);

/// `10.244.1.0/24` → `(10.244.1.0, 24)`; `None` for anything else (IPv6, no prefix, bad
/// numbers). The address is not required to be the block's first.
pub fn parse_cidr(text: &str) -> Option<Cidr> {
    let (addr, prefix) = text.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    (prefix <= 32).then_some(())?;
    Some((addr.parse().ok()?, prefix))
}

/// `(10.244.1.0, 24)` → `10.244.1.0/24`.
pub fn format_cidr((addr, prefix): Cidr) -> String {
    format!("{addr}/{prefix}")
}

/// The first and last address of a block, as integers (wide enough for a /0).
fn bounds((addr, prefix): Cidr) -> (u64, u64) {
    let size = 1u64 << (32 - u32::from(prefix.min(32)));
    let start = u64::from(u32::from(addr)) / size * size;
    (start, start + size - 1)
}

/// The lowest `/node_prefix` block of `cluster` that overlaps none of `used`, or `None` when
/// there is none (the range is used up, or `node_prefix` is shorter than the cluster's).
pub fn next_free(cluster: Cidr, node_prefix: u8, used: &[Cidr]) -> Option<Cidr> {
    if node_prefix > 32 || node_prefix < cluster.1 {
        return None;
    }
    let (first, last) = bounds(cluster);
    let block = 1u64 << (32 - u32::from(node_prefix));
    let mut taken: Vec<(u64, u64)> = used.iter().map(|c| bounds(*c)).collect();
    taken.sort_unstable();
    let mut candidate = first;
    let mut next = 0;
    loop {
        let end = candidate + block - 1;
        if end > last {
            return None;
        }
        while taken.get(next).is_some_and(|(_, e)| *e < candidate) {
            next += 1;
        }
        match taken.get(next) {
            Some((start, e)) if *start <= end => {
                // Skip past this block's user, to the next aligned candidate.
                let past = e + 1;
                candidate = first + (past - first).div_ceil(block) * block;
            }
            _ => {
                let addr = u32::try_from(candidate).ok()?;
                return Some((Ipv4Addr::from(addr), node_prefix));
            }
        }
    }
}

/// The pod CIDRs a node holds (`spec.podCIDRs`, else `spec.podCIDR`).
fn node_cidrs(node: &Node) -> Vec<String> {
    let Some(spec) = node.spec.as_ref() else {
        return Vec::new();
    };
    let many: Vec<String> = spec
        .pod_cidrs
        .iter()
        .flatten()
        .filter(|c| !c.is_empty())
        .cloned()
        .collect();
    if !many.is_empty() {
        return many;
    }
    spec.pod_cidr
        .iter()
        .filter(|c| !c.is_empty())
        .cloned()
        .collect()
}

struct Context {
    client: kube::Client,
    recorder: Recorder,
    cluster_cidr: Cidr,
    node_prefix: u8,
    /// Held while a block is chosen; holds the blocks chosen (being written, or written)
    /// whose Node the cache does not show with them yet.
    allocating: tokio::sync::Mutex<HashMap<String, Cidr>>,
    /// Nodes already told (by an Event) that the range is used up.
    told_exhausted: std::sync::Mutex<HashSet<String>>,
    backoff: ErrorBackoff,
}

/// One run of the controller: the shared context and this run's Node cache.
struct Run {
    ctx: Arc<Context>,
    nodes: Store<Node>,
}

/// Start the allocator on the current tokio runtime.
pub fn spawn(client: kube::Client, config: &ControllerConfig) {
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), "cidrAllocator"),
        client,
        cluster_cidr: config.cluster_cidr,
        node_prefix: config.node_cidr_prefix,
        allocating: tokio::sync::Mutex::new(HashMap::new()),
        told_exhausted: std::sync::Mutex::new(HashSet::new()),
        backoff: ErrorBackoff::default(),
    });
    crate::supervise::supervise("node-ipam", move || run(ctx.clone()));
}

async fn run(ctx: Arc<Context>) {
    tracing::info!(
        cluster_cidr = %format_cidr(ctx.cluster_cidr),
        node_prefix = ctx.node_prefix,
        "node IPAM started"
    );
    let controller = Controller::new(
        Api::<Node>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .with_config(crate::reconcile_config());
    let run = Arc::new(Run {
        nodes: controller.store(),
        ctx,
    });
    controller
        .run(reconcile, error_policy, run)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "node IPAM stream error");
            }
        })
        .await;
}

fn error_policy(node: Arc<Node>, error: &Error, run: Arc<Run>) -> Action {
    let name = node.name_any();
    let delay = run.ctx.backoff.next(&name);
    tracing::warn!(node = %name, error = %error, retry_in = ?delay, "pod CIDR allocation failed");
    Action::requeue(delay)
}

async fn reconcile(node: Arc<Node>, run: Arc<Run>) -> Result<Action, Error> {
    let name = node.name_any();
    if !node_cidrs(&node).is_empty() {
        run.ctx
            .told_exhausted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&name);
        return Ok(Action::await_change());
    }
    let span = tracing::debug_span!("reconcile", kind = "Node", key = %name);
    let result = allocate(&run, &node).instrument(span).await;
    if result.is_ok() {
        run.ctx.backoff.reset(&name);
    }
    result
}

/// Give `me` the lowest free block, reading the blocks in use from the cache. The choice is
/// made under the lock and recorded before the write, which then runs without it: writes
/// for several nodes are in flight at once while no two can get the same block.
async fn allocate(run: &Run, me: &Node) -> Result<Action, Error> {
    let ctx = &run.ctx;
    let name = me.name_any();
    // The cache is complete once its first LIST is in: before that it could miss blocks.
    if run.nodes.wait_until_ready().await.is_err() {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let chosen = {
        let mut written = ctx.allocating.lock().await;
        // Forget what the cache now shows (or what was deleted with its node).
        written.retain(|n, _| {
            run.nodes
                .get(&ObjectRef::new(n))
                .is_some_and(|node| node_cidrs(&node).is_empty())
        });
        let current = run.nodes.get(&ObjectRef::new(&name));
        if current.is_some_and(|n| !node_cidrs(&n).is_empty()) || written.contains_key(&name) {
            return Ok(Action::await_change());
        }
        let used: Vec<Cidr> = run
            .nodes
            .state()
            .iter()
            .flat_map(|n| node_cidrs(n))
            .filter_map(|c| parse_cidr(&c))
            .chain(written.values().copied())
            .collect();
        let chosen = next_free(ctx.cluster_cidr, ctx.node_prefix, &used);
        if let Some(block) = chosen {
            written.insert(name.clone(), block);
        }
        chosen
    };
    match chosen {
        Some(block) => {
            let cidr = format_cidr(block);
            let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
            let nodes: Api<Node> = Api::all(ctx.client.clone());
            if let Err(e) = nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                // Not written: the block is free again.
                ctx.allocating.lock().await.remove(&name);
                return Err(e.into());
            }
            tracing::info!(node = %name, pod_cidr = %cidr, "pod CIDR assigned");
            Ok(Action::await_change())
        }
        None => {
            let first_time = ctx
                .told_exhausted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.clone());
            if !first_time {
                return Ok(Action::requeue(EXHAUSTED_RETRY));
            }
            tracing::warn!(
                node = %name,
                cluster_cidr = %format_cidr(ctx.cluster_cidr),
                node_prefix = ctx.node_prefix,
                "no pod CIDR left for the node"
            );
            ctx.recorder
                .publish(
                    &reference(me),
                    EventType::Normal,
                    "CIDRNotAvailable",
                    &format!("Node {name} status is now: CIDRNotAvailable"),
                )
                .await;
            Ok(Action::requeue(EXHAUSTED_RETRY))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        parse_cidr(text).unwrap()
    }

    #[test]
    fn blocks_are_handed_out_lowest_first() {
        let cluster = cidr("10.244.0.0/16");
        assert_eq!(next_free(cluster, 24, &[]), Some(cidr("10.244.0.0/24")));
        let used = [cidr("10.244.0.0/24"), cidr("10.244.2.0/24")];
        assert_eq!(next_free(cluster, 24, &used), Some(cidr("10.244.1.0/24")));
        let used = [cidr("10.244.1.0/24"), cidr("10.244.0.0/24")];
        assert_eq!(next_free(cluster, 24, &used), Some(cidr("10.244.2.0/24")));
    }

    #[test]
    fn odd_sized_and_foreign_blocks_count_where_they_overlap() {
        let cluster = cidr("10.244.0.0/16");
        // A /23 covers two /24s; an address inside a block takes the whole block.
        let used = [cidr("10.244.0.0/23"), cidr("10.244.2.77/24")];
        assert_eq!(next_free(cluster, 24, &used), Some(cidr("10.244.3.0/24")));
        // Blocks outside the cluster range do not matter.
        let used = [cidr("192.168.0.0/24"), cidr("10.245.0.0/24")];
        assert_eq!(next_free(cluster, 24, &used), Some(cidr("10.244.0.0/24")));
        // A block wider than the range takes all of it.
        assert_eq!(next_free(cluster, 24, &[cidr("10.0.0.0/8")]), None);
    }

    #[test]
    fn a_used_up_range_has_nothing() {
        let cluster = cidr("10.244.0.0/23");
        let used = [cidr("10.244.0.0/24"), cidr("10.244.1.0/24")];
        assert_eq!(next_free(cluster, 24, &used), None);
        assert_eq!(
            next_free(cluster, 24, &used[..1]),
            Some(cidr("10.244.1.0/24"))
        );
        // Node blocks cannot be wider than the range.
        assert_eq!(next_free(cluster, 22, &[]), None);
        assert_eq!(
            next_free(cidr("0.0.0.0/0"), 1, &[cidr("0.0.0.0/1")]),
            Some(cidr("128.0.0.0/1"))
        );
        assert_eq!(
            next_free(cidr("10.1.2.3/32"), 32, &[]),
            Some(cidr("10.1.2.3/32"))
        );
    }

    #[test]
    fn cidrs_parse_and_print() {
        assert_eq!(
            parse_cidr("10.244.1.0/24"),
            Some((Ipv4Addr::new(10, 244, 1, 0), 24))
        );
        assert_eq!(format_cidr(cidr("10.244.1.0/24")), "10.244.1.0/24");
        for bad in ["10.244.1.0", "10.244.1.0/33", "fd00::/64", "x/24", ""] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }
}
