//! Running pods: status, restarts and back-off, init containers, probes, config errors.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::fake::FakeDriver;
use crate::support::*;

#[tokio::test]
async fn a_pod_runs_and_reports_its_status() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(
        &client,
        "web",
        json!({"containers": [
            {"name": "app", "image": "nginx:1.25", "command": ["serve"],
             "env": [{"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                     {"name": "GREETING", "value": "hi $(NAME)"}]},
            {"name": "sidecar", "image": "busybox:1.36", "args": ["$(GREETING)"],
             "env": [{"name": "GREETING", "value": "yo"}]},
        ]}),
    )
    .await?;
    let pod = wait_pod(&client, "web", "web to be Running and Ready", 10, |p| {
        phase(p) == "Running" && condition(p, "Ready") == Some("True")
    })
    .await?;
    let status = pod.status.clone().unwrap_or_default();
    assert!(
        status
            .pod_ip
            .as_deref()
            .is_some_and(|ip| ip.starts_with("10.88.0."))
    );
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(condition(&pod, t), Some("True"), "{t}");
    }
    let app = container_status(&pod, "app").cloned().unwrap_or_default();
    assert!(
        app.state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some()
    );
    assert_eq!(
        (app.ready, app.started, app.restart_count),
        (true, Some(true), 0)
    );
    assert!(
        app.container_id
            .as_deref()
            .is_some_and(|id| id.starts_with("fake://"))
    );
    assert_eq!(app.image, "nginx:1.25");
    assert_eq!(app.image_id, "sha256:nginx:1.25");

    let started = fake.starts_of("web", "app");
    assert_eq!(started.len(), 1);
    let env = &started[0].spec.env;
    assert!(
        env.contains(&("GREETING".into(), "hi web".into())),
        "{env:?}"
    );
    assert_eq!(fake.starts_of("web", "sidecar")[0].spec.args, ["yo"]);

    let events = wait_for("Started events", 5, || async {
        let e = event_reasons(&client, "web").await.ok()?;
        (e.iter().filter(|(r, _)| r == "Started").count() == 2).then_some(e)
    })
    .await?;
    assert!(events.contains(&("Created".into(), "Created container: app".into())));
    assert!(events.contains(&("Started".into(), "Started container app".into())));
    assert!(events.contains(&(
        "Pulled".into(),
        "Container image \"nginx:1.25\" already present on machine".into()
    )));
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_crashing_container_backs_off_longer_each_time() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(
        &client,
        "crash",
        json!({"containers": [{"name": "app", "image": "x", "command": ["exit", "3"]}]}),
    )
    .await?;
    let pod = wait_pod(
        &client,
        "crash",
        "CrashLoopBackOff after 3 restarts",
        20,
        |p| {
            container_status(p, "app").is_some_and(|s| s.restart_count >= 3)
                && waiting_reason(p, "app").as_deref() == Some("CrashLoopBackOff")
        },
    )
    .await?;
    assert_eq!(
        phase(&pod),
        "Running",
        "restartPolicy Always keeps the pod Running"
    );
    let s = container_status(&pod, "app").cloned().unwrap_or_default();
    let waiting = s.state.and_then(|st| st.waiting).unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let message = waiting.message.unwrap_or_default();
    assert!(message.starts_with("back-off "), "{message}");
    assert!(
        message.ends_with(&format!(
            "restarting failed container=app pod=crash_default({uid})"
        )),
        "{message}"
    );
    let last = s.last_state.and_then(|l| l.terminated).unwrap_or_default();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    // The first restart is immediate; then each waits at least base · 2^(n-1).
    let starts = fake.starts_of("crash", "app");
    let base = Duration::from_millis(200);
    for (n, pair) in starts.windows(2).enumerate().skip(1) {
        let gap = pair[1].at.duration_since(pair[0].at)?;
        let min = base * 2u32.pow(n as u32 - 1);
        assert!(
            gap >= min,
            "restart {n} came after {gap:?}, before its {min:?} back-off"
        );
    }
    let attempts: Vec<u32> = starts.iter().map(|s| s.spec.attempt).collect();
    assert_eq!(attempts[..4], [0, 1, 2, 3]);
    // Only the current and the previous attempt are kept.
    let kept = fake.containers_of(&uid);
    assert!(kept.len() <= 2, "{kept:?}");
    let events = event_reasons(&client, "crash").await?;
    assert!(events.iter().any(|(r, m)| r == "BackOff"
        && m == &format!("Back-off restarting failed container app in pod crash_default({uid})")));
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_killed_container_is_restarted_when_the_runtime_reports_it() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let mut cfg = config(fake.clone(), dir.path());
    // No periodic sync within the test: only the runtime's exit report can wake the worker.
    cfg.sync_period = Duration::from_secs(3600);
    let agent = start(&client, cfg);
    create_pod(
        &client,
        "killed",
        json!({"containers": [{"name": "app", "image": "x", "command": ["serve"]}]}),
    )
    .await?;
    wait_pod(&client, "killed", "killed to be Running", 10, |p| {
        phase(p) == "Running" && condition(p, "Ready") == Some("True")
    })
    .await?;
    let first = fake.starts_of("killed", "app");
    assert_eq!(first.len(), 1);
    let id = fake
        .containers_of(&first[0].spec.pod_uid)
        .into_iter()
        .map(|c| c.id)
        .next()
        .ok_or_else(|| anyhow::anyhow!("no container"))?;
    fake.kill(&id);
    let pod = wait_pod(&client, "killed", "a restart after the kill", 10, |p| {
        container_status(p, "app").is_some_and(|s| s.restart_count == 1 && s.ready)
    })
    .await?;
    let s = container_status(&pod, "app").cloned().unwrap_or_default();
    let last = s.last_state.and_then(|l| l.terminated).unwrap_or_default();
    assert_eq!(last.exit_code, 137);
    assert_eq!(fake.starts_of("killed", "app").len(), 2);
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn restart_policies_decide_the_final_phase() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    let cmd = |code: &str| json!(["run", "100", code]);
    create_pod(&client, "never-fails", json!({"restartPolicy": "Never",
        "containers": [{"name": "a", "image": "x", "command": cmd("0")}, {"name": "b", "image": "x", "command": cmd("2")}]})).await?;
    create_pod(
        &client,
        "onfailure-ok",
        json!({"restartPolicy": "OnFailure",
        "containers": [{"name": "a", "image": "x", "command": cmd("0")}]}),
    )
    .await?;
    create_pod(
        &client,
        "onfailure-retries",
        json!({"restartPolicy": "OnFailure",
        "containers": [{"name": "a", "image": "x", "command": cmd("1")}]}),
    )
    .await?;

    let failed = wait_pod(&client, "never-fails", "Failed", 10, |p| {
        phase(p) == "Failed"
    })
    .await?;
    let b = container_status(&failed, "b")
        .and_then(|s| s.state.clone())
        .and_then(|s| s.terminated);
    assert_eq!(
        b.map(|t| (t.exit_code, t.reason)),
        Some((2, Some("Error".into())))
    );
    assert_eq!(condition(&failed, "Ready"), Some("False"));
    wait_pod(&client, "onfailure-ok", "Succeeded", 10, |p| {
        phase(p) == "Succeeded"
    })
    .await?;
    wait_pod(&client, "onfailure-retries", "a restart", 10, |p| {
        container_status(p, "a").is_some_and(|s| s.restart_count >= 1) && phase(p) == "Running"
    })
    .await?;
    assert_eq!(
        fake.starts_of("never-fails", "b").len(),
        1,
        "Never: no restart"
    );
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_app() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(
        &client,
        "init",
        json!({
        "initContainers": [{"name": "one", "image": "x", "command": ["run", "200", "0"]},
                           {"name": "two", "image": "x", "command": ["exit", "0"]}],
        "containers": [{"name": "app", "image": "x", "command": ["serve"]}]}),
    )
    .await?;
    let pending = wait_pod(&client, "init", "init one to run", 10, |p| {
        p.status
            .as_ref()
            .and_then(|s| s.init_container_statuses.as_ref())
            .is_some_and(|s| {
                s.iter().any(|c| {
                    c.name == "one" && c.state.as_ref().is_some_and(|st| st.running.is_some())
                })
            })
    })
    .await?;
    assert_eq!(phase(&pending), "Pending");
    assert_eq!(condition(&pending, "Initialized"), Some("False"));
    assert_eq!(
        waiting_reason(&pending, "app").as_deref(),
        Some("PodInitializing")
    );
    let running = wait_pod(&client, "init", "Running", 10, |p| phase(p) == "Running").await?;
    assert_eq!(condition(&running, "Initialized"), Some("True"));
    let order: Vec<String> = fake.starts().into_iter().map(|s| s.spec.name).collect();
    assert_eq!(order, ["one", "two", "app"]);

    create_pod(
        &client,
        "init-fails",
        json!({"restartPolicy": "Never",
        "initContainers": [{"name": "bad", "image": "x", "command": ["exit", "1"]}],
        "containers": [{"name": "app", "image": "x"}]}),
    )
    .await?;
    wait_pod(&client, "init-fails", "Failed", 10, |p| {
        phase(p) == "Failed"
    })
    .await?;
    assert!(fake.starts_of("init-fails", "app").is_empty());
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn missing_config_and_images_are_reported() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(&client, "cfg", json!({"containers": [{"name": "app", "image": "x",
        "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}]}]})).await?;
    create_pod(
        &client,
        "never",
        json!({"containers": [{"name": "app", "image": "missing:1", "imagePullPolicy": "Never"}]}),
    )
    .await?;
    create_pod(
        &client,
        "pull",
        json!({"containers": [{"name": "app", "image": "missing:2", "imagePullPolicy": "Always"}]}),
    )
    .await?;

    let pod = wait_pod(&client, "cfg", "CreateContainerConfigError", 10, |p| {
        waiting_reason(p, "app").as_deref() == Some("CreateContainerConfigError")
    })
    .await?;
    let msg = container_status(&pod, "app")
        .and_then(|s| s.state.clone())
        .and_then(|s| s.waiting)
        .and_then(|w| w.message);
    assert_eq!(msg.as_deref(), Some("configmap \"settings\" not found"));
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "settings"}, "data": {"level": "debug"}}),
    )?;
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await?;
    wait_pod(
        &client,
        "cfg",
        "Running once the ConfigMap exists",
        10,
        |p| phase(p) == "Running",
    )
    .await?;
    assert!(
        fake.starts_of("cfg", "app")[0]
            .spec
            .env
            .contains(&("LEVEL".into(), "debug".into()))
    );

    let pod = wait_pod(&client, "never", "ErrImageNeverPull", 10, |p| {
        waiting_reason(p, "app").as_deref() == Some("ErrImageNeverPull")
    })
    .await?;
    assert_eq!(phase(&pod), "Pending");
    wait_pod(&client, "pull", "ImagePullBackOff", 10, |p| {
        waiting_reason(p, "app").as_deref() == Some("ImagePullBackOff")
    })
    .await?;
    let events = event_reasons(&client, "pull").await?;
    assert!(
        events.contains(&(
            "Failed".into(),
            "Failed to pull image \"missing:2\": no registry reachable".into()
        )),
        "{events:?}"
    );
    agent.stop().await;
    Ok(())
}

#[tokio::test]
async fn status_is_written_only_when_it_changes_and_image_updates_restart() -> Result {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    let dir = tempfile::tempdir()?;
    let fake = Arc::new(FakeDriver::default());
    let agent = start(&client, config(fake.clone(), dir.path()));
    create_pod(
        &client,
        "steady",
        json!({"containers": [{"name": "app", "image": "app:1"}]}),
    )
    .await?;
    let pod = wait_pod(&client, "steady", "Ready", 10, |p| {
        condition(p, "Ready") == Some("True")
    })
    .await?;
    // Ten sync periods with nothing happening: not a single write.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = pods(&client).get("steady").await?;
    assert_eq!(
        later.metadata.resource_version,
        pod.metadata.resource_version
    );

    let patch = json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}});
    pods(&client)
        .patch(
            "steady",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Strategic(&patch),
        )
        .await?;
    let pod = wait_pod(&client, "steady", "the new image to run", 10, |p| {
        container_status(p, "app")
            .is_some_and(|s| s.image == "app:2" && s.restart_count == 1 && s.ready)
    })
    .await?;
    assert_eq!(phase(&pod), "Running");
    let starts = fake.starts_of("steady", "app");
    assert_eq!(starts.last().map(|s| s.spec.image.as_str()), Some("app:2"));
    let events = event_reasons(&client, "steady").await?;
    assert!(events.contains(&(
        "Killing".into(),
        "Container app definition changed, will be restarted".into()
    )));
    agent.stop().await;
    Ok(())
}
