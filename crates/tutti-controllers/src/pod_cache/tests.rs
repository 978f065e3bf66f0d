//! Unit tests of the pod cache: what it keeps, relists, and expectations.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

use super::*;

fn owner_ref(uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: format!("rs-{uid}"),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A pod `name` (uid `uid-<name>`) controlled by `owner` ("" = none), labelled app=web.
fn pod(name: &str, owner: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            owner_references: (!owner.is_empty()).then(|| vec![owner_ref(owner)]),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        }),
    }
}

fn deleting(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    p
}

fn names(cache: &PodCache, owner: &str) -> Vec<String> {
    let mut names: Vec<String> = cache
        .owned_by(owner)
        .iter()
        .map(|p| p.pod_name().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn keeps_the_pods_of_each_controller_and_none_without_one() {
    let cache = PodCache::default();
    cache.apply(&pod("a", "rs1"));
    cache.apply(&pod("b", "rs1"));
    cache.apply(&pod("c", "rs2"));
    cache.apply(&pod("bare", ""));
    assert_eq!(names(&cache, "rs1"), ["a", "b"]);
    assert_eq!(names(&cache, "rs2"), ["c"]);
    assert_eq!(cache.lock().owner_of.len(), 3, "the bare pod is not kept");

    // A change replaces the copy; a release moves the pod out; a delete removes it.
    let mut running = pod("a", "rs1");
    running.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    });
    cache.apply(&running);
    let a = cache
        .owned_by("rs1")
        .into_iter()
        .find(|p| p.pod_name() == "a");
    assert_eq!(
        a.map(|p| p.pod_phase().to_string()).as_deref(),
        Some("Running")
    );
    cache.apply(&pod("b", ""));
    assert_eq!(names(&cache, "rs1"), ["a"]);
    cache.delete(&pod("a", "rs1"));
    assert!(cache.owned_by("rs1").is_empty());
    assert_eq!(cache.lock().owner_of.len(), 1);
}

#[test]
fn pods_of_one_controller_share_equal_labels() {
    let cache = PodCache::default();
    cache.apply(&pod("a", "rs1"));
    cache.apply(&pod("b", "rs1"));
    let pods = cache.owned_by("rs1");
    assert!(Arc::ptr_eq(&pods[0].labels, &pods[1].labels));
    let mut other = pod("c", "rs1");
    other.metadata.labels = Some(BTreeMap::from([("app".into(), "api".into())]));
    cache.apply(&other);
    let c = cache
        .owned_by("rs1")
        .into_iter()
        .find(|p| p.pod_name() == "c");
    assert_eq!(
        c.map(|p| p.pod_labels().clone()),
        Some(BTreeMap::from([("app".into(), "api".into())]))
    );
}

#[test]
fn creations_are_expected_until_the_cache_has_seen_them() {
    let cache = PodCache::default();
    assert!(cache.expectations_met("rs1"), "nothing expected yet");
    cache.apply(&pod("old", "rs1"));
    cache.expect_creations("rs1", 3);
    assert!(!cache.expectations_met("rs1"));
    cache.apply(&pod("a", "rs1"));
    cache.apply(&pod("a", "rs1")); // a change of a pod seen already counts once
    cache.apply(&pod("old", "rs1"));
    cache.apply(&pod("x", "rs2")); // another controller's pod does not count
    assert!(!cache.expectations_met("rs1"));
    cache.apply(&pod("b", "rs1"));
    assert!(!cache.expectations_met("rs1"));
    // The third create failed: nothing more to wait for.
    cache.creations_failed("rs1", 1);
    assert!(cache.expectations_met("rs1"));
    // Pods made by someone else meanwhile do not eat into the next round.
    cache.apply(&pod("foreign", "rs1"));
    cache.expect_creations("rs1", 1);
    assert!(!cache.expectations_met("rs1"));
    cache.apply(&pod("c", "rs1"));
    assert!(cache.expectations_met("rs1"));
}

#[test]
fn deletions_are_expected_until_the_pod_terminates_or_goes() {
    let cache = PodCache::default();
    for name in ["a", "b", "c"] {
        cache.apply(&pod(name, "rs1"));
    }
    cache.expect_deletions("rs1", ["uid-a", "uid-b", "uid-c"]);
    assert!(!cache.expectations_met("rs1"));
    cache.apply(&deleting(pod("a", "rs1")));
    cache.delete(&pod("b", "rs1"));
    assert!(!cache.expectations_met("rs1"));
    cache.deletion_failed("rs1", "uid-c");
    assert!(cache.expectations_met("rs1"));
    assert_eq!(
        names(&cache, "rs1"),
        ["a", "c"],
        "a terminating pod stays cached"
    );
}

#[test]
fn unmet_expectations_expire() {
    let cache = PodCache::default();
    cache.expect_creations("rs1", 1);
    assert!(!cache.expectations_met("rs1"));
    if let Some(e) = cache.lock().expectations.get_mut("rs1") {
        e.since = Instant::now() - EXPECTATIONS_TTL - Duration::from_secs(1);
    }
    assert!(cache.expectations_met("rs1"));
}

#[test]
fn a_relist_drops_the_pods_it_no_longer_lists() {
    let cache = PodCache::default();
    cache.apply(&pod("a", "rs1"));
    cache.apply(&pod("b", "rs1"));
    cache.expect_deletions("rs1", ["uid-b"]);
    cache.relisting();
    cache.apply(&pod("a", "rs1"));
    cache.listed();
    assert_eq!(names(&cache, "rs1"), ["a"]);
    assert!(
        cache.expectations_met("rs1"),
        "b's deletion was seen by the relist"
    );
}

#[tokio::test]
async fn a_controller_waits_for_the_first_listing() -> Result<(), Box<dyn std::error::Error>> {
    let cache = Arc::new(PodCache::default());
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move { cache.wait_synced().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "synced before any listing");
    cache.relisting();
    cache.apply(&pod("a", "rs1"));
    cache.listed();
    tokio::time::timeout(Duration::from_secs(5), waiter).await??;
    cache.wait_synced().await; // and from then on at once
    Ok(())
}
