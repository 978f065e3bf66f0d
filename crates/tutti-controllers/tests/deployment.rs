//! The Deployment controller (with the ReplicaSet controller) against the real API server
//! (in-memory store, in process). No scheduler or agent runs: pods stay unassigned, and
//! tests mark them Running/Ready the way an agent would.

#[macro_use]
#[path = "deployment/cluster.rs"]
mod cluster;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use serde_json::json;

use cluster::*;

#[tokio::test]
async fn creates_a_replica_set_with_pods_annotations_and_status() -> Res {
    let c = start().await?;
    c.create(&manifest("nginx", 3, "nginx:1.27", json!({}))?)
        .await?;
    c.roll_out("nginx").await?;

    let d = c.get("nginx").await?;
    let rss = c.replica_sets("nginx").await?;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs
        .labels()
        .get("pod-template-hash")
        .cloned()
        .unwrap_or_default();
    assert_eq!(rs.name_any(), format!("nginx-{hash}"));
    assert!(
        hash.len() >= 5
            && hash
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
    );
    let selector = rs
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    assert_eq!(selector.get("pod-template-hash"), Some(&hash));
    let notes = rs.annotations();
    assert_eq!(notes.get(REVISION).map(String::as_str), Some("1"));
    assert_eq!(
        notes
            .get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        notes
            .get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("4")
    );
    let owner = &rs.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Deployment", d.uid().unwrap_or_default().as_str())
    );
    assert_eq!(owner.controller, Some(true));
    for pod in c.pods("nginx").await? {
        assert_eq!(pod.labels().get("pod-template-hash"), Some(&hash));
        assert!(pod.name_any().starts_with(&format!("nginx-{hash}-")));
    }

    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("1"));
    let s = d.status.clone().unwrap_or_default();
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas,
            s.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), Some(0))
    );
    assert_eq!(s.observed_generation, d.metadata.generation);
    let conds = s.conditions.unwrap_or_default();
    let available = conds
        .iter()
        .find(|c| c.type_ == "Available")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    let progress = progressing(&d).unwrap_or_default();
    assert_eq!(progress.reason.as_deref(), Some("NewReplicaSetAvailable"));
    assert_eq!(
        progress.message,
        Some(format!(
            "ReplicaSet \"nginx-{hash}\" has successfully progressed."
        ))
    );
    let events = c.events("nginx").await?;
    let scaled = format!("Scaled up replica set nginx-{hash} from 0 to 3");
    assert!(
        events.contains(&("ScalingReplicaSet".into(), scaled)),
        "{events:?}"
    );

    // Once done, the controllers settle: nothing is written again.
    let versions = |d: &Deployment, rss: &[ReplicaSet]| {
        let mut v: Vec<Option<String>> = rss.iter().map(|r| r.resource_version()).collect();
        v.push(d.resource_version());
        v
    };
    let before = versions(&c.get("nginx").await?, &c.replica_sets("nginx").await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = versions(&c.get("nginx").await?, &c.replica_sets("nginx").await?);
    assert_eq!(before, after, "no writes after the rollout is done");
    Ok(())
}

#[tokio::test]
async fn a_rolling_update_stays_within_max_surge_and_max_unavailable() -> Res {
    let c = start().await?;
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}});
    c.create(&manifest("web", 4, "web:1", strategy)?).await?;
    c.roll_out("web").await?;
    c.set_image("web", "web:2").await?;

    let deadline = Instant::now() + PATIENCE;
    loop {
        let rss = c.replica_sets("web").await?;
        let total: i32 = rss.iter().map(replicas).sum();
        assert!(total <= 5, "replicas + maxSurge exceeded: {total}");
        let pods = c.pods("web").await?;
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        assert!(
            ready >= 3,
            "fewer than replicas - maxUnavailable ready: {ready}"
        );
        if rollout_status(&c.get("web").await?)? == Rollout::Done {
            break;
        }
        // One new pod at a time becomes ready, as if the agent were slow.
        if let Some(p) = pods.iter().find(|p| image(p) == "web:2" && !is_ready(p)) {
            c.mark_ready(&p.name_any()).await?;
        }
        if Instant::now() > deadline {
            return Err("the rolling update did not finish".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pods = c.pods("web").await?;
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(|p| image(p) == "web:2"));
    let rss = c.replica_sets("web").await?;
    assert_eq!(rss.iter().map(replicas).collect::<Vec<_>>(), [0, 4]);
    assert_eq!(rss.iter().map(revision).collect::<Vec<_>>(), [1, 2]);
    let events = c.events("web").await?;
    let old = rss[0].name_any();
    assert!(
        events.iter().any(|(r, m)| r == "ScalingReplicaSet"
            && m.starts_with(&format!("Scaled down replica set {old} from 4 to"))),
        "{events:?}"
    );
    Ok(())
}

#[tokio::test]
async fn recreate_removes_old_pods_before_starting_new_ones() -> Res {
    let c = start().await?;
    c.create(&manifest(
        "db",
        2,
        "db:1",
        json!({"strategy": {"type": "Recreate"}}),
    )?)
    .await?;
    c.roll_out("db").await?;
    c.set_image("db", "db:2").await?;
    eventually!("the new pods", {
        let pods = c.pods("db").await?;
        let old = pods.iter().filter(|p| image(p) == "db:1").count();
        let new = pods.iter().filter(|p| image(p) == "db:2").count();
        if old > 0 && new > 0 {
            return Err(format!("old and new pods together: {old} + {new}").into());
        }
        new == 2
    });
    c.roll_out("db").await?;
    let rss = c.replica_sets("db").await?;
    assert_eq!(rss.iter().map(replicas).collect::<Vec<_>>(), [0, 2]);
    Ok(())
}

#[tokio::test]
async fn history_is_kept_to_the_limit_and_undo_reuses_the_old_replica_set() -> Res {
    let c = start().await?;
    let limit = json!({"revisionHistoryLimit": 2});
    c.create(&manifest("app", 1, "app:1", limit)?).await?;
    c.roll_out("app").await?;
    for (n, image) in ["app:2", "app:3", "app:4"].iter().enumerate() {
        c.patch("app", json!({"metadata": {"annotations": {"kubernetes.io/change-cause": format!("deploy {image}")}}}))
            .await?;
        c.set_image("app", image).await?;
        c.roll_out("app").await?;
        assert_eq!(
            c.replica_sets("app").await?.iter().map(revision).max(),
            Some(n as i64 + 2)
        );
    }
    eventually!(
        "history pruned to 2 old revisions",
        c.replica_sets("app").await?.len() == 3
    );
    let rss = c.replica_sets("app").await?;
    assert_eq!(rss.iter().map(revision).collect::<Vec<_>>(), [2, 3, 4]);
    let cause = |rs: &ReplicaSet| rs.annotations().get("kubernetes.io/change-cause").cloned();
    assert_eq!(cause(&rss[2]).as_deref(), Some("deploy app:4"));

    // `kubectl rollout undo`: back to revision 3's template, through its own ReplicaSet,
    // which becomes revision 5 (as in Kubernetes) and remembers it was 3.
    let rs3 = rss[1].name_any();
    c.undo("app", None).await?;
    c.roll_out("app").await?;
    let rss = c.replica_sets("app").await?;
    assert_eq!(rss.len(), 3, "no new ReplicaSet for an old template");
    let newest = rss.last().ok_or("no replica sets")?;
    assert_eq!((newest.name_any(), revision(newest)), (rs3.clone(), 5));
    assert_eq!(
        newest
            .annotations()
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(replicas(newest), 1);
    assert_eq!(
        c.get("app")
            .await?
            .annotations()
            .get(REVISION)
            .map(String::as_str),
        Some("5")
    );
    assert!(c.pods("app").await?.iter().all(|p| image(p) == "app:3"));

    // `kubectl rollout restart`: a template annotation is just another template.
    c.patch(
        "app",
        json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-06-01T00:00:00Z"}}}}}),
    )
    .await?;
    c.roll_out("app").await?;
    assert_eq!(
        c.replica_sets("app").await?.iter().map(revision).max(),
        Some(6)
    );
    Ok(())
}

#[tokio::test]
async fn a_paused_deployment_scales_but_does_not_roll_out() -> Res {
    let c = start().await?;
    c.create(&manifest("api", 2, "api:1", json!({}))?).await?;
    c.roll_out("api").await?;
    c.patch("api", json!({"spec": {"paused": true}})).await?;
    c.set_image("api", "api:2").await?;
    c.patch("api", json!({"spec": {"replicas": 3}})).await?;
    eventually!("paused recorded and the scale observed", {
        let d = c.get("api").await?;
        progressing(&d).and_then(|p| p.reason).as_deref() == Some("DeploymentPaused")
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
            && c.replica_sets("api")
                .await?
                .iter()
                .map(replicas)
                .collect::<Vec<_>>()
                == [3]
    });
    assert!(c.pods("api").await?.iter().all(|p| image(p) == "api:1"));

    c.patch("api", json!({"spec": {"paused": false}})).await?;
    c.roll_out("api").await?;
    assert!(c.pods("api").await?.iter().all(|p| image(p) == "api:2"));
    let d = c.get("api").await?;
    assert_eq!(
        progressing(&d).and_then(|p| p.reason).as_deref(),
        Some("NewReplicaSetAvailable")
    );
    Ok(())
}

#[tokio::test]
async fn a_stalled_rollout_exceeds_its_progress_deadline() -> Res {
    let c = start().await?;
    c.create(&manifest(
        "slow",
        2,
        "slow:1",
        json!({"progressDeadlineSeconds": 2}),
    )?)
    .await?;
    // Pods never become ready.
    eventually!("the deadline to pass", {
        match rollout_status(&c.get("slow").await?) {
            Err(e) => {
                assert_eq!(
                    e.to_string(),
                    "deployment \"slow\" exceeded its progress deadline"
                );
                true
            }
            Ok(_) => false,
        }
    });
    let d = c.get("slow").await?;
    let cond = progressing(&d).unwrap_or_default();
    let rs = c.replica_sets("slow").await?[0].name_any();
    assert_eq!(cond.status, "False");
    assert_eq!(
        cond.message,
        Some(format!("ReplicaSet \"{rs}\" has timed out progressing."))
    );
    Ok(())
}

#[tokio::test]
async fn auto_rollback_returns_to_the_last_good_revision() -> Res {
    let c = start().await?;
    let mut d = manifest("shop", 2, "shop:1", json!({"progressDeadlineSeconds": 2}))?;
    d.metadata.annotations =
        Some([("tutti.dev/auto-rollback".to_string(), "true".to_string())].into());
    c.create(&d).await?;
    c.roll_out("shop").await?;
    let good = c.replica_sets("shop").await?[0].name_any();

    c.set_image("shop", "shop:broken").await?;
    // The new pods never become ready; after 2 s the controller rolls back by itself.
    eventually!("the template back at shop:1", {
        let d = c.get("shop").await?;
        let spec = d.spec.unwrap_or_default();
        spec.template
            .spec
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
            .as_deref()
            == Some("shop:1")
    });
    let events = c.events("shop").await?;
    let msg = "revision 2 did not become available within 2s (progressDeadlineSeconds); rolled back to revision 1";
    assert!(
        events.contains(&("RolledBack".into(), msg.into())),
        "{events:?}"
    );

    c.roll_out("shop").await?;
    let rss = c.replica_sets("shop").await?;
    let newest = rss.last().ok_or("no replica sets")?;
    assert_eq!(
        (newest.name_any(), revision(newest), replicas(newest)),
        (good, 3, 2)
    );
    assert_eq!(replicas(&rss[0]), 0, "the broken revision is scaled down");
    assert!(c.pods("shop").await?.iter().all(|p| image(p) == "shop:1"));
    // It stays rolled back: no second rollback, one RolledBack event.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rolled_back = c
        .events("shop")
        .await?
        .iter()
        .filter(|(r, _)| r == "RolledBack")
        .count();
    assert_eq!(rolled_back, 1);
    assert_eq!(rollout_status(&c.get("shop").await?)?, Rollout::Done);
    Ok(())
}

#[tokio::test]
async fn resizing_mid_rollout_scales_replica_sets_proportionally() -> Res {
    let c = start().await?;
    let strategy = json!({"strategy": {"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}});
    c.create(&manifest("big", 10, "big:1", strategy)?).await?;
    c.roll_out("big").await?;
    c.set_image("big", "big:2").await?;
    // New pods never become ready: the rollout stops at 8 old + 5 new.
    eventually!("the rollout to stall at its bounds", {
        c.replica_sets("big")
            .await?
            .iter()
            .map(replicas)
            .collect::<Vec<_>>()
            == [8, 5]
    });
    c.patch("big", json!({"spec": {"replicas": 20}})).await?;
    // 13 -> 23 (20 + surge 3), shared in proportion: 8 -> 14, 5 -> 9.
    eventually!("a proportional resize", {
        c.replica_sets("big")
            .await?
            .iter()
            .map(replicas)
            .collect::<Vec<_>>()
            == [14, 9]
    });
    let rss = c.replica_sets("big").await?;
    for rs in &rss {
        let notes = rs.annotations();
        assert_eq!(
            notes
                .get("deployment.kubernetes.io/desired-replicas")
                .map(String::as_str),
            Some("20")
        );
        assert_eq!(
            notes
                .get("deployment.kubernetes.io/max-replicas")
                .map(String::as_str),
            Some("23")
        );
    }
    Ok(())
}
