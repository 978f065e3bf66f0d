//! Histories recorded against real stores: the in-memory store, alone and behind injected
//! faults (partitions that heal, lost answers, refused requests), must be linearizable.

use std::sync::Arc;
use std::time::Duration;

use tutti_store::{MemoryStore, Store};
use tutti_testkit::faults::{Fault, FaultyStore};
use tutti_testkit::store_history::{Workload, WorkloadReport, check_run, route_to, run};
use tutti_testkit::{CheckOptions, Recorder};

fn assert_linearizable(report: &WorkloadReport, name: &str) {
    let (check, saved) = check_run(report, name, &CheckOptions::default()).expect("check");
    eprintln!(
        "{name}: {} ops ({} indeterminate) recorded in {:?}; checked in {:?} ({:.0} ops/s, {} steps)",
        report.operations,
        report.indeterminate,
        report.elapsed,
        check.elapsed,
        check.operations as f64 / check.elapsed.as_secs_f64(),
        check.steps,
    );
    assert!(
        check.result.is_linearizable(),
        "{}\nhistory saved to {saved:?}",
        check.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_history_is_linearizable() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let workload = Workload {
        clients: 16,
        keys: 5,
        operations: Some(10_000),
        seed: 1,
        ..Workload::default()
    };
    let report = run(route_to(store), &workload, &Recorder::new(), |_| async {})
        .await
        .expect("workload");
    assert!(report.operations >= 10_000, "{} ops", report.operations);
    assert_eq!(report.indeterminate, 0);
    assert_linearizable(&report, "memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_behind_faults_is_linearizable() {
    let (faulty, switch) = FaultyStore::new(MemoryStore::new());
    let workload = Workload {
        clients: 16,
        keys: 3,
        operations: Some(10_000),
        op_timeout: Duration::from_millis(50),
        error_backoff: Duration::from_millis(1),
        seed: 2,
        ..Workload::default()
    };
    let injector = {
        let switch = switch.clone();
        move |mut control: tutti_testkit::store_history::FaultControl| async move {
            let faults = [Fault::Partition, Fault::LoseAnswers, Fault::Refuse];
            let mut at = 0;
            for fault in faults.into_iter().cycle() {
                at += 1_200;
                if !control.wait_for_operations(at).await {
                    break;
                }
                switch.set(fault);
                at += 150;
                let more = control.wait_for_operations(at).await;
                switch.set(Fault::Healthy);
                if !more {
                    break;
                }
            }
            switch.set(Fault::Healthy);
        }
    };
    let report = run(
        route_to(Arc::new(faulty)),
        &workload,
        &Recorder::new(),
        injector,
    )
    .await
    .expect("workload");
    assert!(report.operations >= 10_000, "{} ops", report.operations);
    assert!(
        report.indeterminate > 100,
        "faults should leave operations indeterminate, got {}",
        report.indeterminate
    );
    assert_linearizable(&report, "memory-faults");
}
