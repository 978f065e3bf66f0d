//! Keeping a controller running. kube-runtime re-raises a panic from a reconcile in the
//! controller's own task, which ends the controller for good while the manager carries on
//! (found when a sort comparator panicked: the ReplicaSet controller stopped and scaling
//! stopped with it). A supervised controller is started again, after a pause that doubles
//! while it keeps panicking, and each panic is logged as an error with its message.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

const FIRST_PAUSE: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// A run this long resets the pause: the last panic was not a crash loop.
const HEALTHY: Duration = Duration::from_secs(60);

/// Run `start()` on the current runtime, and again whenever it panics. Returns at once.
pub fn supervise<F, Fut>(name: &'static str, start: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            let began = Instant::now();
            match tokio::spawn(start()).await {
                // Ended by itself (its watch closed) or cancelled with the runtime.
                Ok(()) => return,
                Err(e) if !e.is_panic() => return,
                Err(e) => {
                    let message = panic_message(e.into_panic());
                    if began.elapsed() >= HEALTHY {
                        pause = FIRST_PAUSE;
                    }
                    tracing::error!(controller = name, panic = %message, restart_in = ?pause, "controller panicked; starting it again");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    });
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_string(), |s| s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_controller_is_started_again_and_a_finished_one_is_not() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        supervise("test", move || {
            let counter = counter.clone();
            async move {
                // Panics twice, then ends normally.
                if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "a controller that ended is left ended"
        );
    }
}
