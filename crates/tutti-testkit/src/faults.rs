//! Fault injection in front of any [`Store`]: delayed delivery (a partition that heals), lost
//! acknowledgements and refused requests, switched on and off while a workload runs.

use std::sync::Arc;

use tokio::sync::watch;
use tutti_store::{
    RangeRequest, RangeResponse, Revision, Store, StoreError, Txn, TxnResponse, WatchStream,
};

/// What goes wrong with requests sent while the fault is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    Healthy,
    /// Requests are held until the fault is cleared, then delivered. A client that times out
    /// in between does not stop the request: it still takes effect later, as after a healed
    /// partition.
    Partition,
    /// Requests are served but their answers are lost: the client gets `Unavailable`.
    LoseAnswers,
    /// Requests are refused before they reach the store (`Unavailable`, no effect).
    Refuse,
}

/// Turns the fault of a [`FaultyStore`] on and off. Cloning gives another handle.
#[derive(Clone, Debug)]
pub struct FaultSwitch {
    fault: Arc<watch::Sender<Fault>>,
}

impl FaultSwitch {
    pub fn set(&self, fault: Fault) {
        tracing::debug!(?fault, "fault switched");
        self.fault.send_replace(fault);
    }

    pub fn get(&self) -> Fault {
        *self.fault.borrow()
    }
}

/// A [`Store`] that passes `range` and `txn` to `inner` through the current [`Fault`].
/// Watches and compaction pass straight through.
#[derive(Clone)]
pub struct FaultyStore<S> {
    inner: S,
    fault: Arc<watch::Sender<Fault>>,
}

impl<S: Store + Clone> FaultyStore<S> {
    /// Wrap `inner`, healthy at first; the switch controls the fault.
    pub fn new(inner: S) -> (FaultyStore<S>, FaultSwitch) {
        let fault = Arc::new(watch::channel(Fault::Healthy).0);
        let switch = FaultSwitch {
            fault: fault.clone(),
        };
        (FaultyStore { inner, fault }, switch)
    }

    /// Run `call` on the inner store through the current fault. The call runs in its own task
    /// so that a caller giving up (timeout) does not cancel a delivery held by a partition.
    async fn through<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(S) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let fault = *self.fault.borrow();
        if fault == Fault::Refuse {
            return Err(StoreError::Unavailable(
                "injected fault: request refused".into(),
            ));
        }
        let inner = self.inner.clone();
        let mut healed = self.fault.subscribe();
        let task = tokio::spawn(async move {
            if fault == Fault::Partition {
                // An error means the switch is gone: nothing will hold the request any more.
                let _ = healed.wait_for(|f| *f != Fault::Partition).await;
            }
            call(inner).await
        });
        let answer = task
            .await
            .map_err(|e| StoreError::Unavailable(format!("injected fault: request lost: {e}")))?;
        if fault == Fault::LoseAnswers {
            return Err(StoreError::Unavailable(
                "injected fault: answer lost".into(),
            ));
        }
        answer
    }
}

#[async_trait::async_trait]
impl<S: Store + Clone> Store for FaultyStore<S> {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        self.through(move |s| async move { s.range(req).await })
            .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.through(move |s| async move { s.txn(txn).await }).await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        self.inner.watch(prefix, from).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.current_revision().await
    }

    async fn compacted_revision(&self) -> Result<Revision, StoreError> {
        self.inner.compacted_revision().await
    }
}
