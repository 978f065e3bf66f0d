//! One watch on every Pod, shared by the controllers that react to pod changes (ReplicaSet,
//! DaemonSet, Job, endpoints, disruption): each change is decoded once and handed to every
//! subscriber as an `Arc<Pod>`. Five watches of their own cost the API server five streams
//! and the manager five full decodes of every pod change; at 5,000 nodes that was about a
//! third of the manager's CPU per scheduled pod.
//!
//! The feed keeps no copy of the pods it passes on, only the compact [`PodCache`] of pods
//! that have a controller, updated before a change is handed on (so a controller woken by a
//! change finds it cached). A subscriber gets
//! every change published after it subscribed, in order, over its own unbounded channel:
//! a slow one delays nobody and misses nothing. Subscribe before [`PodFeed::start`] to see
//! the initial listing too; after a watch restart the re-listed pods are published again.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use crate::pod_cache::PodCache;

/// The publishing side; cheap to clone (clones share the subscribers and the cache).
#[derive(Clone, Default)]
pub struct PodFeed {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<Pod>>>>>,
    cache: Arc<PodCache>,
}

/// What one subscriber receives: every pod added, changed or deleted (as last seen).
pub struct PodChanges(mpsc::UnboundedReceiver<Arc<Pod>>);

impl Stream for PodChanges {
    type Item = Arc<Pod>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Arc<Pod>>> {
        self.0.poll_recv(cx)
    }
}

impl PodFeed {
    /// The cache of pods that have a controller, kept by this feed.
    pub fn cache(&self) -> Arc<PodCache> {
        self.cache.clone()
    }

    /// A new subscription, fed from the next change on.
    pub fn subscribe(&self) -> PodChanges {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(tx);
        PodChanges(rx)
    }

    /// Subscriptions for a supervised controller: the first is made now (so it sees the
    /// initial listing), later ones (after a restart) when asked for.
    pub(crate) fn subscriber(&self) -> impl Fn() -> PodChanges + Send + Sync + 'static {
        let first = Mutex::new(Some(self.subscribe()));
        let feed = self.clone();
        move || {
            first
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| feed.subscribe())
        }
    }

    /// Watch every pod (on the current runtime) and publish each change, until the runtime
    /// ends; a failed watch is retried with kube-runtime's back-off.
    pub fn start(&self, client: kube::Client) {
        let feed = self.clone();
        crate::supervise::supervise("pod-feed", move || feed.clone().run(client.clone()));
    }

    async fn run(self, client: kube::Client) {
        let events = watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff();
        self.follow_stream(events).await;
    }

    /// Publish the changes of `events` (a pod watch of the caller's) instead of watching
    /// itself: for tests that need the feed to lag, or to replay recorded changes.
    pub fn follow<S>(&self, events: S)
    where
        S: Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Send + 'static,
    {
        tokio::spawn(self.clone().follow_stream(events));
    }

    async fn follow_stream<S>(self, events: S)
    where
        S: Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Send,
    {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    self.cache.apply(&pod);
                    self.publish(Arc::new(pod));
                }
                Ok(watcher::Event::Delete(pod)) => {
                    self.cache.delete(&pod);
                    self.publish(Arc::new(pod));
                }
                Ok(watcher::Event::Init) => self.cache.relisting(),
                Ok(watcher::Event::InitDone) => self.cache.listed(),
                Err(e) => tracing::debug!(error = %e, "pod feed: watch failed; retrying"),
            }
        }
    }

    fn publish(&self, pod: Arc<Pod>) {
        // A subscriber whose stream was dropped (its controller restarting) is forgotten.
        self.lock().retain(|tx| tx.send(pod.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<Arc<Pod>>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.to_string());
        Arc::new(p)
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_change_after_it_subscribed() {
        let feed = PodFeed::default();
        let mut early = feed.subscribe();
        feed.publish(pod("a"));
        let mut late = feed.subscribe();
        feed.publish(pod("b"));
        let names = |p: Option<Arc<Pod>>| p.and_then(|p| p.metadata.name.clone());
        assert_eq!(names(early.next().await).as_deref(), Some("a"));
        assert_eq!(names(early.next().await).as_deref(), Some("b"));
        assert_eq!(names(late.next().await).as_deref(), Some("b"));
        // A dropped subscriber is forgotten at the next change.
        drop(early);
        feed.publish(pod("c"));
        assert_eq!(feed.lock().len(), 1);
        assert_eq!(names(late.next().await).as_deref(), Some("c"));
    }
}
