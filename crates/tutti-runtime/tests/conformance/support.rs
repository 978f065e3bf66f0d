//! What the conformance tests share: the driver factory, unique pods, `sh -c` containers,
//! and waiting for exits and log lines with a deadline (never a bare sleep).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tutti_runtime::{
    ContainerInfo, ContainerSpec, ContainerState, LogOptions, RuntimeDriver, SandboxInfo,
    SandboxSpec,
};

/// Makes drivers for one test.
pub trait DriverFactory: Send + Sync + 'static {
    type D: RuntimeDriver;
    /// A driver over this factory's state.
    fn make(&self) -> impl Future<Output = Self::D> + Send;
    /// The image containers run (docker: busybox; the process driver ignores it).
    fn image(&self) -> &str;
}

/// Generous bound on anything the suite waits for (machines are shared and slow).
pub const WAIT: Duration = Duration::from_secs(30);

/// A bounded "run for a while": long-running test containers end by themselves (~60 s)
/// even when a failed test leaves them behind.
pub const IDLE: &str = "i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done";

/// A pod no other test uses.
pub fn pod(test: &str) -> SandboxSpec {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let uid = format!(
        "{:08x}-{:04x}-{test}",
        std::process::id() ^ nanos,
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    SandboxSpec {
        pod_uid: uid,
        pod_name: format!("conf-{test}"),
        namespace: "conformance".to_string(),
        hostname: format!("conf-{test}").chars().take(63).collect(),
        ..Default::default()
    }
}

/// A container of `pod` running `sh -c script`.
pub fn shell(f: &impl DriverFactory, pod: &SandboxSpec, name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        pod_uid: pod.pod_uid.clone(),
        pod_name: pod.pod_name.clone(),
        namespace: pod.namespace.clone(),
        name: name.to_string(),
        image: f.image().to_string(),
        command: vec!["sh".to_string(), "-c".to_string()],
        args: vec![script.to_string()],
        ..Default::default()
    }
}

pub async fn sandbox(d: &impl RuntimeDriver, pod: &SandboxSpec) -> SandboxInfo {
    d.create_sandbox(pod).await.expect("create_sandbox")
}

pub async fn start(
    d: &impl RuntimeDriver,
    sb: &SandboxInfo,
    spec: &ContainerSpec,
) -> ContainerInfo {
    d.start_container(sb, spec)
        .await
        .unwrap_or_else(|e| panic!("start_container {}: {e}", spec.name))
}

/// Wait for the container to exit; its exit code and reason.
pub async fn exited(d: &impl RuntimeDriver, id: &str) -> (i32, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let info = d.inspect(id).await.expect("inspect");
        if let ContainerState::Exited {
            exit_code, reason, ..
        } = info.state
        {
            return (exit_code, reason.unwrap_or_default());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} still {:?}",
            info.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn logs(d: &impl RuntimeDriver, id: &str, opts: LogOptions) -> String {
    let mut stream = d.logs(id, &opts).await.expect("logs");
    let mut out = Vec::new();
    let collect = async {
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("log chunk"));
        }
    };
    tokio::time::timeout(WAIT, collect)
        .await
        .expect("the log stream ended");
    String::from_utf8_lossy(&out).into_owned()
}

/// Wait until the logs contain `text` (e.g. a container saying it is ready).
pub async fn wait_for_log(d: &impl RuntimeDriver, id: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if logs(d, id, LogOptions::default()).await.contains(text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never logged {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn cleanup(d: &impl RuntimeDriver, pod: &SandboxSpec, ids: &[&str]) {
    for id in ids {
        d.remove_container(id).await.expect("remove_container");
    }
    d.remove_sandbox(&pod.pod_uid)
        .await
        .expect("remove_sandbox");
}
