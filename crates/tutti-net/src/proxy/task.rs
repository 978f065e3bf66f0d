//! Ownership of spawned tasks: a task whose guard is dropped is cancelled, so the sockets
//! it owns close with the table entry that started it.

use tokio::task::JoinHandle;

#[derive(Debug)]
pub(crate) struct TaskGuard(Option<JoinHandle<()>>);

impl TaskGuard {
    pub fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> TaskGuard {
        TaskGuard(Some(tokio::spawn(fut)))
    }

    /// Wait for the task to finish on its own.
    pub async fn join(mut self) {
        if let Some(handle) = self.0.take() {
            // A panic has already been reported by the runtime; nothing to add.
            let _ = handle.await;
        }
    }

    /// Cancel the task and wait until it is gone, with everything it owned dropped (its
    /// sockets are closed when this returns, so their addresses can be bound again).
    pub async fn stop(mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
            // The result is the cancellation itself (or a panic already reported by the
            // runtime); either way the task is finished.
            let _ = handle.await;
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}
