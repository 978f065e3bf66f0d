//! kill -9 of a running `tutti dev` during a write loop loses no acknowledged write, and the
//! resourceVersion never goes backwards across restarts.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Dev;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<BTreeMap<String, (String, i64)>>> = Arc::default();
    let mut highest_rev = 0i64;
    for (round, kill_after) in [(0, 40usize), (1, 400), (2, 5), (3, 800), (4, 1), (5, 200)] {
        let mut dev = Dev::start(dir.path());
        let client = dev.client().await;
        let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());

        // Everything acknowledged so far is there, and the revision did not go back.
        let list = cms.list(&ListParams::default()).await.unwrap();
        let rev: i64 = list.metadata.resource_version.unwrap().parse().unwrap();
        assert!(
            rev >= highest_rev,
            "round {round}: revision went back from {highest_rev} to {rev}"
        );
        let stored: BTreeMap<String, String> = list
            .items
            .iter()
            .map(|c| {
                (
                    c.metadata.name.clone().unwrap(),
                    c.data.clone().unwrap_or_default()["value"].clone(),
                )
            })
            .collect();
        for (name, (value, _)) in acked.lock().unwrap().iter() {
            assert_eq!(
                stored.get(name),
                Some(value),
                "round {round}: acknowledged write {name} lost"
            );
        }

        // Eight concurrent writers; kill -9 once `kill_after` more writes were acknowledged.
        let before = acked.lock().unwrap().len();
        let mut writers = Vec::new();
        for w in 0..8 {
            let cms = cms.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..10_000 {
                    let name = format!("r{round}-w{w}-{i}");
                    let value = format!("{round}/{w}/{i}");
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": name}, "data": {"value": value}
                    }))
                    .unwrap();
                    match cms.create(&PostParams::default(), &cm).await {
                        Ok(created) => {
                            let rv = created.metadata.resource_version.unwrap().parse().unwrap();
                            acked.lock().unwrap().insert(name, (value, rv));
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < before + kill_after {
            assert!(std::time::Instant::now() < deadline, "writes stalled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        dev.kill9();
        for w in writers {
            let _ = w.await;
        }
        highest_rev = acked
            .lock()
            .unwrap()
            .values()
            .map(|(_, rv)| *rv)
            .max()
            .unwrap_or(0);
    }
    let dev = Dev::start(dir.path());
    let cms: Api<ConfigMap> = Api::default_namespaced(dev.client().await);
    let list = cms.list(&ListParams::default()).await.unwrap();
    let names: std::collections::BTreeSet<String> = list
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let acked = acked.lock().unwrap();
    let lost: Vec<&String> = acked.keys().filter(|n| !names.contains(*n)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(acked.len() >= 1446);
}
