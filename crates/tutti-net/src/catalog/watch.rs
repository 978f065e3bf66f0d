//! The live catalog: watches every Service and every Endpoints object of the cluster,
//! rebuilds the [`Snapshot`] after each change and publishes it on a `tokio::sync::watch`
//! channel. Also the in-memory doubles tests use instead of an API server.
//!
//! Guarantees to readers:
//! - Nothing but the initial empty value is visible before both kinds have been listed in
//!   full; [`Catalog::synced`] resolves when the first real snapshot is out.
//! - A change is published at most [`REBUILD_INTERVAL`] after it arrives, and rebuilds are
//!   at least that far apart, so a burst of events costs one rebuild per interval.
//! - A relist (watch restart after an error or an expired resourceVersion) never shows up
//!   as an empty or partial snapshot: the reflector stores swap in the new list only once it
//!   is complete, and we rebuild only from the stores.
//! - A snapshot equal to the current one is not published again.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Snapshot, build};

/// The shortest time between two rebuilds, and so the longest a change waits to be
/// published.
pub const REBUILD_INTERVAL: Duration = Duration::from_millis(20);

/// The cluster's services, kept current. Cheap to clone; every clone and every receiver
/// from [`subscribe`](Catalog::subscribe) sees the same snapshots. The watch behind a
/// [`spawn`](Catalog::spawn)ed catalog runs until the catalog and all its receivers are
/// dropped.
#[derive(Debug, Clone)]
pub struct Catalog {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    synced: watch::Receiver<bool>,
    /// Keeps the channel of a [`fixed`](Catalog::fixed) catalog open, so that its readers
    /// see the same "still open" channel as with a live one.
    _fixed: Option<Arc<watch::Sender<Arc<Snapshot>>>>,
}

/// The writing end of a [`Catalog::manual`] catalog: tests publish snapshots through it.
#[derive(Debug, Clone)]
pub struct CatalogFeed {
    tx: Arc<watch::Sender<Arc<Snapshot>>>,
}

impl CatalogFeed {
    /// Publish `snapshot` to every reader and return it as they see it.
    pub fn publish(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        self.tx.send_replace(snapshot.clone());
        snapshot
    }

    /// Publish a modified copy of the current snapshot.
    pub fn update(&self, change: impl FnOnce(&mut Snapshot)) -> Arc<Snapshot> {
        let mut next = Snapshot::clone(&self.tx.borrow());
        change(&mut next);
        self.publish(next)
    }

    /// The snapshot published last.
    pub fn current(&self) -> Arc<Snapshot> {
        self.tx.borrow().clone()
    }
}

impl Catalog {
    /// Start watching Services and Endpoints in all namespaces through `client`. Must be
    /// called inside a tokio runtime. API errors are logged and retried with kube-runtime's
    /// default back-off; the last good snapshot stays published meanwhile.
    pub fn spawn(client: kube::Client) -> Catalog {
        let (tx, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let (synced_tx, synced) = watch::channel(false);
        tokio::spawn(run(client, tx, synced_tx));
        Catalog {
            snapshots,
            synced,
            _fixed: None,
        }
    }

    /// A catalog that always shows `snapshot` (already synced).
    pub fn fixed(snapshot: Snapshot) -> Catalog {
        let (catalog, feed) = Catalog::manual(snapshot);
        Catalog {
            _fixed: Some(feed.tx),
            ..catalog
        }
    }

    /// A catalog whose snapshots come from the returned feed (already synced, starting with
    /// `initial`). The channel closes when the feed is dropped.
    pub fn manual(initial: Snapshot) -> (Catalog, CatalogFeed) {
        let (tx, snapshots) = watch::channel(Arc::new(initial));
        let catalog = Catalog::from_channel(snapshots);
        (catalog, CatalogFeed { tx: Arc::new(tx) })
    }

    /// A catalog over snapshots published elsewhere on `snapshots` (already synced).
    pub fn from_channel(snapshots: watch::Receiver<Arc<Snapshot>>) -> Catalog {
        let (_, synced) = watch::channel(true);
        Catalog {
            snapshots,
            synced,
            _fixed: None,
        }
    }

    /// A receiver of every snapshot from now on (marked seen: `changed()` waits for the
    /// next one).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        let mut rx = self.snapshots.clone();
        rx.mark_unchanged();
        rx
    }

    /// The snapshot published last.
    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Whether the first full list of both kinds has been published.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Wait until the first full list of both kinds has been published. Returns at once
    /// when it has been; waits forever if the watcher never gets its first list (the API
    /// unreachable), so callers that need a bound wrap it in a timeout.
    pub async fn synced(&self) {
        let mut rx = self.synced.clone();
        // An error means the sender is gone: a `manual`/`from_channel` catalog (created
        // synced) or a watcher stopped with its runtime. Nothing left to wait for.
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// The watched kind an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Services,
    Endpoints,
}

/// What a watcher event means for the snapshot.
enum Change {
    /// The store changed (an object applied or deleted, or a relist swapped in).
    Store { kind: Kind, listed: bool },
    /// A relist is in progress or an error happened; the store still holds the last list.
    Nothing,
}

fn classify<K>(kind: Kind, event: &watcher::Event<K>) -> Change {
    match event {
        watcher::Event::Apply(_) | watcher::Event::Delete(_) => Change::Store {
            kind,
            listed: false,
        },
        watcher::Event::InitDone => Change::Store { kind, listed: true },
        watcher::Event::Init | watcher::Event::InitApply(_) => Change::Nothing,
    }
}

async fn run(
    client: kube::Client,
    tx: watch::Sender<Arc<Snapshot>>,
    synced_tx: watch::Sender<bool>,
) {
    let (services, service_writer) = reflector::store::<Service>();
    let (endpoints, endpoint_writer) = reflector::store::<Endpoints>();
    let service_events = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(service_writer)
    .map(|r| {
        r.map(|e| classify(Kind::Services, &e))
            .map_err(|e| (Kind::Services, e))
    });
    let endpoint_events = watcher(Api::<Endpoints>::all(client), watcher::Config::default())
        .default_backoff()
        .reflect(endpoint_writer)
        .map(|r| {
            r.map(|e| classify(Kind::Endpoints, &e))
                .map_err(|e| (Kind::Endpoints, e))
        });
    let mut events = stream::select(service_events.boxed(), endpoint_events.boxed());

    let mut services_listed = false;
    let mut endpoints_listed = false;
    let mut dirty = false;
    let mut last_rebuild: Option<Instant> = None;
    loop {
        let ready = services_listed && endpoints_listed;
        let due = match last_rebuild {
            Some(at) => at + REBUILD_INTERVAL,
            None => Instant::now(),
        };
        tokio::select! {
            biased;
            () = tx.closed() => {
                debug!("service catalog has no readers left; stopping its watch");
                return;
            }
            () = tokio::time::sleep_until(due), if dirty && ready => {
                dirty = false;
                last_rebuild = Some(Instant::now());
                publish(&tx, &synced_tx, &services, &endpoints);
            }
            event = events.next() => match event {
                Some(Ok(Change::Store { kind, listed })) => {
                    dirty = true;
                    if listed {
                        match kind {
                            Kind::Services => services_listed = true,
                            Kind::Endpoints => endpoints_listed = true,
                        }
                    }
                }
                Some(Ok(Change::Nothing)) => {}
                Some(Err((kind, error))) => {
                    warn!(kind = ?kind, error = %error, "service catalog watch failed; retrying with back-off");
                }
                None => {
                    // Watcher streams do not end; if one does, keep the last snapshot.
                    warn!("service catalog watch ended");
                    return;
                }
            },
        }
    }
}

fn publish(
    tx: &watch::Sender<Arc<Snapshot>>,
    synced_tx: &watch::Sender<bool>,
    services: &Store<Service>,
    endpoints: &Store<Endpoints>,
) {
    let next = build(&services.state(), &endpoints.state());
    let first = !*synced_tx.borrow();
    let count = next.services.len();
    let changed = tx.send_if_modified(|current| {
        if first || **current != next {
            *current = Arc::new(next);
            true
        } else {
            false
        }
    });
    if first {
        synced_tx.send_replace(true);
        info!(services = count, "service catalog synced");
    } else if changed {
        debug!(services = count, "service catalog changed");
    }
}
