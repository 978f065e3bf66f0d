//! The one conformance suite every `Store` implementation passes (openraft's storage `Suite`
//! idea): each `pub async fn` checks one clause of the `Store` contract against a fresh store
//! from a factory. `conformance_suite!` instantiates every test for one implementation.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tutti_store::{
    Compare, EventKind, OpResponse, RangeRequest, Revision, Store, StoreError, Txn, TxnOp,
    WatchResponse, WatchStream,
};

/// Makes a fresh, empty store per test.
pub trait StoreFactory: Send + Sync + 'static {
    type S: Store;
    fn make(&self) -> impl Future<Output = Self::S> + Send;
}

/// How long any single expected watch response may take (generous: CI machines are slow).
const WAIT: Duration = Duration::from_secs(10);

pub async fn next_response(watch: &mut WatchStream) -> WatchResponse {
    match tokio::time::timeout(WAIT, watch.next()).await {
        Ok(Some(Ok(resp))) => resp,
        other => panic!("expected a watch response, got {other:?}"),
    }
}

/// The next response that carries events (skipping progress notifications).
pub async fn next_events(watch: &mut WatchStream) -> WatchResponse {
    loop {
        let resp = next_response(watch).await;
        if !resp.events.is_empty() {
            return resp;
        }
    }
}

async fn put(store: &impl Store, key: &str, value: &str) -> Revision {
    let resp = store
        .txn(Txn::put(key, Bytes::from(value.to_string())))
        .await
        .expect("put");
    assert!(resp.succeeded);
    resp.revision
}

fn value_of(store_value: &Bytes) -> String {
    String::from_utf8_lossy(store_value).into_owned()
}

pub async fn revision_starts_at_one_and_grows_by_one_per_writing_txn<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    assert_eq!(store.current_revision().await.expect("revision"), 1);
    assert_eq!(store.compacted_revision().await.expect("compacted"), 0);
    assert_eq!(put(&store, "/a", "1").await, 2);
    let two = Txn::put("/b", "1").then(TxnOp::put("/c", "1"));
    let resp = store.txn(two).await.expect("txn");
    assert_eq!(
        resp.revision, 3,
        "a txn writing two keys takes one revision"
    );

    let failed = store
        .txn(Txn::put("/a", "x").when(Compare::absent("/a")))
        .await
        .expect("txn");
    assert!(!failed.succeeded);
    assert_eq!(
        failed.revision, 3,
        "a failed compare does not advance the revision"
    );
    let absent = store.txn(Txn::delete("/nope")).await.expect("txn");
    assert!(absent.succeeded);
    assert_eq!(
        absent.revision, 3,
        "deleting an absent key does not advance the revision"
    );
    let empty = store.txn(Txn::default()).await.expect("txn");
    assert_eq!((empty.succeeded, empty.revision), (true, 3));
    assert_eq!(store.current_revision().await.expect("revision"), 3);
    assert_eq!(put(&store, "/a", "2").await, 4);
}

pub async fn create_if_absent<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let create = || Txn::put("/pods/a", "first").when(Compare::absent("/pods/a"));
    let created = store.txn(create()).await.expect("txn");
    assert!(created.succeeded);
    let Some(OpResponse::Put { kv, prev }) = created.ops.first() else {
        panic!("expected a put response: {created:?}");
    };
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
    assert_eq!(prev, &None);

    let again = store.txn(create()).await.expect("txn");
    assert!(!again.succeeded);
    assert!(again.ops.is_empty());
    let current = again.compared[0]
        .as_ref()
        .expect("compared returns the current value");
    assert_eq!(value_of(&current.value), "first");
    assert_eq!(current.mod_revision, 2);
}

pub async fn compare_and_swap_conflicts_return_current_values<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let r1 = put(&store, "/k", "v1").await;
    let r2 = put(&store, "/other", "o").await;

    let swapped = store
        .txn(Txn::put("/k", "v2").when(Compare::mod_revision("/k", r1)))
        .await
        .expect("txn");
    assert!(swapped.succeeded);
    let Some(OpResponse::Put { kv, prev }) = swapped.ops.first() else {
        panic!("expected a put response: {swapped:?}");
    };
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2 + 1, 2)
    );
    assert_eq!(
        prev.as_ref().map(|p| value_of(&p.value)),
        Some("v1".to_string())
    );

    let stale = Txn::put("/k", "v3")
        .when(Compare::mod_revision("/k", r1))
        .when(Compare::mod_revision("/other", r2))
        .when(Compare::absent("/missing"));
    let conflict = store.txn(stale).await.expect("txn");
    assert!(!conflict.succeeded);
    assert_eq!(conflict.revision, r2 + 1);
    let compared: Vec<Option<String>> = conflict
        .compared
        .iter()
        .map(|kv| kv.as_ref().map(|kv| value_of(&kv.value)))
        .collect();
    assert_eq!(compared, vec![Some("v2".into()), Some("o".into()), None]);
    let now = store.get("/k").await.expect("get").expect("present");
    assert_eq!(value_of(&now.value), "v2");
}

pub async fn delete_returns_prev<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let created = put(&store, "/d", "gone soon").await;
    let deleted = store.txn(Txn::delete("/d")).await.expect("txn");
    assert_eq!(deleted.revision, created + 1);
    let Some(OpResponse::Delete { prev: Some(prev) }) = deleted.ops.first() else {
        panic!("expected a delete with prev: {deleted:?}");
    };
    assert_eq!(value_of(&prev.value), "gone soon");
    assert_eq!(store.get("/d").await.expect("get"), None);
    let again = store.txn(Txn::delete("/d")).await.expect("txn");
    assert_eq!(again.ops, vec![OpResponse::Delete { prev: None }]);
    assert_eq!(again.revision, created + 1);
    let recreated = store
        .txn(Txn::put("/d", "back").when(Compare::absent("/d")))
        .await;
    let recreated = recreated.expect("txn");
    assert!(recreated.succeeded, "a deleted key is absent for compares");
    let kv = store.get("/d").await.expect("get").expect("present");
    assert_eq!((kv.create_revision, kv.version), (recreated.revision, 1));
}

pub async fn range_prefix_exact_limit_and_paging<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    for key in ["/a/3", "/a/1", "/ab", "/b", "/a/2"] {
        put(&store, key, key).await;
    }
    let current = store.current_revision().await.expect("revision");
    let all = store
        .range(RangeRequest::prefix("/a/"))
        .await
        .expect("range");
    let keys: Vec<&str> = all.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, vec!["/a/1", "/a/2", "/a/3"]);
    assert_eq!((all.revision, all.more, all.remaining), (current, false, 0));

    assert!(
        store
            .range(RangeRequest::key("/a"))
            .await
            .expect("range")
            .kvs
            .is_empty()
    );
    let exact = store.range(RangeRequest::key("/ab")).await.expect("range");
    assert_eq!(exact.kvs.len(), 1);
    assert_eq!(
        store
            .range(RangeRequest::prefix(""))
            .await
            .expect("range")
            .kvs
            .len(),
        5
    );

    let limited = RangeRequest {
        limit: 2,
        ..RangeRequest::prefix("/a")
    };
    let first = store.range(limited.clone()).await.expect("range");
    let keys: Vec<&str> = first.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, vec!["/a/1", "/a/2"]);
    assert_eq!((first.more, first.remaining), (true, 2));

    let mut paged = Vec::new();
    let mut req = limited;
    loop {
        let page = store.range(req.clone()).await.expect("range");
        paged.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        match page.kvs.last() {
            Some(last) if page.more => req.start_after = last.key.clone(),
            _ => break,
        }
    }
    assert_eq!(paged, vec!["/a/1", "/a/2", "/a/3", "/ab"]);
}

pub async fn range_at_past_revision_and_future_revision<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let r_a1 = put(&store, "/p/a", "1").await;
    let r_b1 = put(&store, "/p/b", "1").await;
    put(&store, "/p/a", "2").await;
    store.txn(Txn::delete("/p/b")).await.expect("delete");
    let current = put(&store, "/p/c", "1").await;

    let at = |revision| RangeRequest {
        revision,
        ..RangeRequest::prefix("/p/")
    };
    let past = store.range(at(r_b1)).await.expect("range");
    let seen: Vec<(String, String)> = past
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), value_of(&kv.value)))
        .collect();
    assert_eq!(
        seen,
        vec![("/p/a".into(), "1".into()), ("/p/b".into(), "1".into())]
    );
    assert_eq!(past.revision, r_b1);
    assert_eq!(past.kvs[0].mod_revision, r_a1);
    assert_eq!(store.range(at(1)).await.expect("range").kvs, Vec::new());
    assert_eq!(store.range(at(current)).await.expect("range").kvs.len(), 2);
    assert_eq!(
        store.range(at(current + 1)).await,
        Err(StoreError::FutureRevision {
            requested: current + 1,
            current
        })
    );
}

pub async fn compaction_errors_for_range_and_watch<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    put(&store, "/c/a", "1").await;
    let r = put(&store, "/c/a", "2").await;
    let current = put(&store, "/c/a", "3").await;
    assert_eq!(
        store.compact(current + 1).await,
        Err(StoreError::FutureRevision {
            requested: current + 1,
            current
        })
    );
    store.compact(r).await.expect("compact");
    assert_eq!(store.compacted_revision().await.expect("compacted"), r);
    store
        .compact(r - 1)
        .await
        .expect("compacting below the compacted revision is a no-op");
    assert_eq!(store.compacted_revision().await.expect("compacted"), r);

    let at = |revision| RangeRequest {
        revision,
        ..RangeRequest::prefix("/c/")
    };
    assert_eq!(
        store.range(at(r)).await,
        Err(StoreError::Compacted {
            requested: r,
            compacted: r
        })
    );
    assert_eq!(store.range(at(current)).await.expect("range").kvs.len(), 1);
    assert!(matches!(
        store.watch("/c/", r).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store
        .watch("/c/", r + 1)
        .await
        .expect("watch above compacted");
    assert_eq!(next_events(&mut watch).await.revision, current);
    assert_eq!(store.current_revision().await.expect("revision"), current);
}

pub async fn watch_delivers_one_txn_in_one_response_in_op_order<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    put(&store, "/w/gone", "x").await;
    let mut watch = store.watch("/w/", 0).await.expect("watch");
    let txn = Txn::put("/w/z", "1")
        .then(TxnOp::delete("/w/gone"))
        .then(TxnOp::put("/w/a", "2"));
    let rev = store.txn(txn).await.expect("txn").revision;
    let resp = next_events(&mut watch).await;
    assert_eq!(resp.revision, rev);
    let got: Vec<(EventKind, &str)> = resp
        .events
        .iter()
        .map(|e| (e.kind, e.kv.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (EventKind::Put, "/w/z"),
            (EventKind::Delete, "/w/gone"),
            (EventKind::Put, "/w/a")
        ]
    );
    let delete = &resp.events[1];
    assert_eq!(delete.revision(), rev);
    assert_eq!(
        delete.prev.as_ref().map(|p| value_of(&p.value)),
        Some("x".into())
    );
    assert!(resp.events.iter().all(|e| e.revision() == rev));
}

pub async fn watch_from_zero_sees_only_future_events<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    put(&store, "/z/old", "1").await;
    let mut watch = store.watch("/z/", 0).await.expect("watch");
    let rev = put(&store, "/z/new", "1").await;
    let resp = next_events(&mut watch).await;
    assert_eq!(
        (resp.revision, resp.events[0].kv.key.as_str()),
        (rev, "/z/new")
    );
}

pub async fn watch_from_past_revision_replays_history_then_follows<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let r1 = put(&store, "/h/a", "1").await;
    put(&store, "/other", "1").await;
    let r2 = put(&store, "/h/b", "1").await;
    let r3 = store
        .txn(Txn::delete("/h/a"))
        .await
        .expect("delete")
        .revision;
    let mut watch = store.watch("/h/", r1).await.expect("watch");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_events(&mut watch).await.revision);
    }
    assert_eq!(seen, vec![r1, r2, r3]);
    let r4 = put(&store, "/h/c", "1").await;
    assert_eq!(next_events(&mut watch).await.revision, r4);

    let mut from_middle = store.watch("/h/", r2 + 1).await.expect("watch");
    assert_eq!(next_events(&mut from_middle).await.revision, r3);
}

pub async fn watch_filters_by_prefix<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let mut watch = store.watch("/pods/ns1/", 0).await.expect("watch");
    put(&store, "/pods/ns2/a", "1").await;
    let both = Txn::put("/pods/ns2/b", "1").then(TxnOp::put("/pods/ns1/a", "1"));
    let rev = store.txn(both).await.expect("txn").revision;
    let resp = next_events(&mut watch).await;
    assert_eq!(resp.revision, rev);
    let keys: Vec<&str> = resp.events.iter().map(|e| e.kv.key.as_str()).collect();
    assert_eq!(keys, vec!["/pods/ns1/a"]);
}

/// 8 writers x 100 writes while two watchers (one opened before, one opened mid-way from a
/// past revision) must each see every revision exactly once, in order.
pub async fn watch_is_ordered_and_gap_free_under_concurrent_writers<F: StoreFactory>(f: &F)
where
    F::S: Clone,
{
    const WRITERS: usize = 8;
    const WRITES: usize = 100;
    let store = f.make().await;
    let start = store.current_revision().await.expect("revision") + 1;
    let early = store.watch("/cw/", start).await.expect("watch");
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..WRITES {
                put(&store, &format!("/cw/{w}/{i}"), "v").await;
            }
        }));
    }
    // Open the second watcher while the writers are busy, from the very beginning.
    while store.current_revision().await.expect("revision") < start + 50 {
        tokio::task::yield_now().await;
    }
    let late = store.watch("/cw/", start).await.expect("watch");
    for writer in writers {
        writer.await.expect("writer");
    }
    let total = (WRITERS * WRITES) as i64;
    for mut watch in [early, late] {
        let mut revisions = Vec::new();
        let mut keys = BTreeSet::new();
        while (revisions.len() as i64) < total {
            let resp = next_events(&mut watch).await;
            assert_eq!(resp.events.len(), 1);
            assert_eq!(resp.revision, resp.events[0].revision());
            revisions.push(resp.revision);
            keys.insert(resp.events[0].kv.key.clone());
        }
        let expected: Vec<Revision> = (start..start + total).collect();
        assert_eq!(revisions, expected, "every revision exactly once, in order");
        assert_eq!(keys.len() as i64, total);
    }
}

pub async fn progress_notifications_appear_when_other_keys_change<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    let mut watch = store.watch("/quiet/", 0).await.expect("watch");
    let mut last = 0;
    for i in 0..3 {
        last = put(&store, &format!("/loud/{i}"), "v").await;
    }
    let resp = next_response(&mut watch).await;
    assert!(resp.events.is_empty(), "only other keys changed: {resp:?}");
    assert_eq!(resp.revision, last);
}

pub async fn get_returns_the_current_value<F: StoreFactory>(f: &F) {
    let store = f.make().await;
    assert_eq!(store.get("/g").await.expect("get"), None);
    put(&store, "/g", "1").await;
    let rev = put(&store, "/g", "2").await;
    let kv = store.get("/g").await.expect("get").expect("present");
    assert_eq!(
        (value_of(&kv.value), kv.mod_revision, kv.version),
        ("2".into(), rev, 2)
    );
}

/// Instantiate every conformance test for one implementation: `conformance_suite!(factory)`
/// where `factory` is an expression of a type implementing [`StoreFactory`].
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            revision_starts_at_one_and_grows_by_one_per_writing_txn,
            create_if_absent,
            compare_and_swap_conflicts_return_current_values,
            delete_returns_prev,
            range_prefix_exact_limit_and_paging,
            range_at_past_revision_and_future_revision,
            compaction_errors_for_range_and_watch,
            watch_delivers_one_txn_in_one_response_in_op_order,
            watch_from_zero_sees_only_future_events,
            watch_from_past_revision_replays_history_then_follows,
            watch_filters_by_prefix,
            watch_is_ordered_and_gap_free_under_concurrent_writers,
            progress_notifications_appear_when_other_keys_change,
            get_returns_the_current_value,
        );
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let factory = $factory;
                conformance::$name(&factory).await;
            }
        )*
    };
}
