//! Container lifecycle hooks (`postStart`, `preStop`): `exec`, `httpGet` and `sleep`;
//! `tcpSocket` is accepted and does nothing, as in Kubernetes.

use std::time::Duration;

use k8s_openapi::api::core::v1::LifecycleHandler;

use super::actions::{self, Target};
use crate::kubetime::go_duration;

/// Run one hook, giving up after `timeout`.
pub async fn run(
    handler: &LifecycleHandler,
    target: &Target,
    timeout: Duration,
) -> Result<(), String> {
    let work = async {
        if let Some(e) = &handler.exec {
            return actions::exec(target, e.command.as_deref().unwrap_or_default(), timeout).await;
        }
        if let Some(h) = &handler.http_get {
            return actions::http(target, h, timeout).await;
        }
        if let Some(s) = &handler.sleep {
            tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64)).await;
        }
        Ok(())
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "hook did not finish within {}",
                go_duration(timeout)
            ))
        })
}
