//! Deletion the way Kubernetes does it, against a real `tutti dev`: ownerReferences with
//! Background, Foreground and Orphan propagation (the garbage collector), finalizers holding
//! an object in Terminating, and namespace deletion emptying the namespace.

mod common;

use std::time::{Duration, Instant};

use common::Dev;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn owner_and_dependents(cms: &Api<ConfigMap>, owner: &str, n: usize) -> String {
    let o: ConfigMap = serde_json::from_value(json!({"metadata": {"name": owner}})).unwrap();
    let created = cms.create(&PostParams::default(), &o).await.unwrap();
    let uid = created.metadata.uid.unwrap();
    for i in 0..n {
        let d: ConfigMap = serde_json::from_value(json!({"metadata": {
            "name": format!("{owner}-dep-{i}"),
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid, "blockOwnerDeletion": true}]
        }}))
        .unwrap();
        cms.create(&PostParams::default(), &d).await.unwrap();
    }
    uid
}

async fn exists(cms: &Api<ConfigMap>, name: &str) -> bool {
    cms.get_opt(name).await.unwrap().is_some()
}

#[tokio::test]
async fn propagation_policies_cascade_like_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let cms: Api<ConfigMap> = Api::default_namespaced(dev.client().await);

    // Background: the owner goes at once, dependents follow.
    owner_and_dependents(&cms, "bg", 3).await;
    cms.delete("bg", &DeleteParams::background()).await.unwrap();
    assert!(!exists(&cms, "bg").await);
    eventually("background dependents collected", || async {
        !exists(&cms, "bg-dep-0").await
            && !exists(&cms, "bg-dep-1").await
            && !exists(&cms, "bg-dep-2").await
    })
    .await;

    // Orphan: dependents stay, without the reference.
    owner_and_dependents(&cms, "or", 2).await;
    cms.delete("or", &DeleteParams::orphan()).await.unwrap();
    eventually("orphaning owner gone", || async {
        !exists(&cms, "or").await
    })
    .await;
    for i in 0..2 {
        let d = cms.get(&format!("or-dep-{i}")).await.unwrap();
        assert!(
            d.metadata.owner_references.unwrap_or_default().is_empty(),
            "orphaned dependent keeps no reference"
        );
    }

    // Foreground: the owner stays (terminating) until its dependents are gone.
    owner_and_dependents(&cms, "fg", 2).await;
    // A finalizer on one dependent holds the whole chain.
    cms.patch(
        "fg-dep-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("fg", &DeleteParams::foreground()).await.unwrap();
    let owner = cms.get("fg").await.unwrap();
    assert!(
        owner.metadata.deletion_timestamp.is_some(),
        "foreground owner is terminating"
    );
    eventually("unblocked dependent deleted", || async {
        !exists(&cms, "fg-dep-1").await
    })
    .await;
    assert!(
        exists(&cms, "fg").await,
        "owner must wait for the held dependent"
    );
    let held = cms.get("fg-dep-0").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "fg-dep-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("foreground owner deleted last", || async {
        !exists(&cms, "fg").await
    })
    .await;
    assert!(!exists(&cms, "fg-dep-0").await);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let client = dev.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    for i in 0..5 {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    nss.delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = nss.get_opt("team-a").await.unwrap();
    if let Some(t) = terminating {
        assert_eq!(
            t.status.and_then(|s| s.phase).as_deref(),
            Some("Terminating")
        );
        // Nothing new may be created in a terminating namespace.
        let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
        let err = cms.create(&PostParams::default(), &c).await.unwrap_err();
        assert!(matches!(&err, kube::Error::Api(s) if s.code == 403 || s.code == 404));
        if matches!(&err, kube::Error::Api(s) if s.code == 403) {
            // Controllers tell this refusal apart by its cause.
            assert!(
                tutti_controllers::pod_creation::namespace_terminating(&err),
                "{err:?}"
            );
        }
    }
    eventually("namespace gone", || async {
        nss.get_opt("team-a").await.unwrap().is_none()
    })
    .await;
    assert!(
        cms.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The built-in namespaces cannot be deleted.
    let err = nss
        .delete("default", &DeleteParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 403));
}
