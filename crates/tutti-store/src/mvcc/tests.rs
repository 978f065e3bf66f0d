//! Unit tests of the pure MVCC state (no runtime, no IO). Store-level behaviour shared by both
//! implementations is covered by `tests/conformance`.

use bytes::Bytes;

use super::*;

fn put(mvcc: &mut Mvcc, key: &str, value: &str) -> TxnResponse {
    mvcc.apply_txn(Txn::put(key, Bytes::from(value.to_string())))
        .0
}

fn keys_at(mvcc: &Mvcc, prefix: &str, revision: Revision) -> Vec<(String, String)> {
    let req = RangeRequest {
        revision,
        ..RangeRequest::prefix(prefix)
    };
    let resp = mvcc.range(&req).expect("range");
    resp.kvs
        .into_iter()
        .map(|kv| (kv.key, String::from_utf8_lossy(&kv.value).into_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn same_key_twice_in_one_txn_applies_in_order_and_undoes_in_order() {
    let mut mvcc = Mvcc::default();
    put(&mut mvcc, "/k", "a"); // rev 2
    let txn = Txn::put("/k", "b")
        .then(TxnOp::put("/k", "c"))
        .then(TxnOp::put("/j", "x"));
    let (resp, events) = mvcc.apply_txn(txn);
    assert_eq!(resp.revision, 3);
    assert_eq!(events.len(), 3);
    let kv = mvcc.range(&RangeRequest::key("/k")).expect("range").kvs;
    assert_eq!(kv[0].version, 3);
    assert_eq!(kv[0].create_revision, 2);
    assert_eq!(keys_at(&mvcc, "/", 2), pairs(&[("/k", "a")]));
    assert_eq!(keys_at(&mvcc, "/", 3), pairs(&[("/j", "x"), ("/k", "c")]));
}

#[test]
fn past_reads_see_deleted_and_recreated_keys_as_they_were() {
    let mut mvcc = Mvcc::default();
    put(&mut mvcc, "/a", "1"); // 2
    put(&mut mvcc, "/b", "1"); // 3
    mvcc.apply_txn(Txn::delete("/a")); // 4
    put(&mut mvcc, "/a", "2"); // 5
    put(&mut mvcc, "/c", "1"); // 6
    assert_eq!(keys_at(&mvcc, "/", 1), pairs(&[]));
    assert_eq!(keys_at(&mvcc, "/", 3), pairs(&[("/a", "1"), ("/b", "1")]));
    assert_eq!(keys_at(&mvcc, "/", 4), pairs(&[("/b", "1")]));
    assert_eq!(keys_at(&mvcc, "/", 5), pairs(&[("/a", "2"), ("/b", "1")]));

    let paged = RangeRequest {
        revision: 3,
        limit: 1,
        ..RangeRequest::prefix("/")
    };
    let first = mvcc.range(&paged).expect("range");
    assert_eq!((first.kvs.len(), first.more, first.remaining), (1, true, 1));
    let next = RangeRequest {
        start_after: first.kvs[0].key.clone(),
        ..paged
    };
    let second = mvcc.range(&next).expect("range");
    assert_eq!(second.kvs[0].key, "/b");
    assert!(!second.more);
}

#[test]
fn delete_event_carries_the_deleted_value_at_the_deleting_revision() {
    let mut mvcc = Mvcc::default();
    put(&mut mvcc, "/a", "v"); // 2
    let (resp, events) = mvcc.apply_txn(Txn::delete("/a"));
    assert_eq!(resp.revision, 3);
    let event = &events[0];
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.revision(), 3);
    assert_eq!(event.kv.value, Bytes::from_static(b"v"));
    assert_eq!(event.kv.version, 0);
    assert_eq!(event.prev.as_ref().map(|p| p.mod_revision), Some(2));
}

#[test]
fn history_bound_trims_oldest_txns_and_raises_compacted_revision() {
    let mut mvcc = Mvcc::new(3);
    for i in 0..5 {
        put(&mut mvcc, &format!("/k{i}"), "v"); // revisions 2..=6
    }
    assert_eq!(mvcc.history_events(), 3);
    assert_eq!(mvcc.compacted_revision(), 3);
    assert!(matches!(
        mvcc.range(&RangeRequest {
            revision: 3,
            ..RangeRequest::prefix("/")
        }),
        Err(StoreError::Compacted {
            requested: 3,
            compacted: 3
        })
    ));
    assert_eq!(keys_at(&mvcc, "/", 4).len(), 3);
    assert!(matches!(
        mvcc.replay("/", 3),
        Err(StoreError::Compacted { .. })
    ));
    let replay = mvcc.replay("/", 4).expect("replay");
    assert_eq!(
        replay.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
}

#[test]
fn zero_history_still_serves_latest_reads_and_future_watches() {
    let mut mvcc = Mvcc::new(0);
    put(&mut mvcc, "/a", "1");
    assert_eq!(mvcc.compacted_revision(), 2);
    assert_eq!(keys_at(&mvcc, "/", 0), pairs(&[("/a", "1")]));
    assert_eq!(mvcc.replay("/", 3).expect("replay"), Vec::new());
}

#[test]
fn compaction_rules() {
    let mut mvcc = Mvcc::default();
    put(&mut mvcc, "/a", "1"); // 2
    put(&mut mvcc, "/a", "2"); // 3
    assert_eq!(
        mvcc.compact(4),
        Err(StoreError::FutureRevision {
            requested: 4,
            current: 3
        })
    );
    mvcc.compact(2).expect("compact");
    assert_eq!(mvcc.history_events(), 1);
    mvcc.compact(1).expect("compacting below is a no-op");
    assert_eq!(mvcc.compacted_revision(), 2);
    assert_eq!(keys_at(&mvcc, "/", 3), pairs(&[("/a", "2")]));
}

#[test]
fn snapshot_bytes_round_trip_the_whole_state() {
    let mut mvcc = Mvcc::new(10);
    put(&mut mvcc, "/a", "1");
    put(&mut mvcc, "/b", "\u{0}binary\u{ff}");
    mvcc.apply_txn(Txn::delete("/a"));
    mvcc.compact(2).expect("compact");
    let bytes = mvcc.to_bytes().expect("encode");
    let restored = Mvcc::from_bytes(&bytes, 10).expect("decode");
    assert_eq!(restored, mvcc);
    assert_eq!(keys_at(&restored, "/", 3), keys_at(&mvcc, "/", 3));
}

#[test]
fn streamed_snapshots_have_the_same_encoding_as_snapshot_bytes() {
    let mut mvcc = Mvcc::new(10);
    put(&mut mvcc, "/a", "1");
    put(&mut mvcc, "/b", "\u{0}binary\u{ff}");
    mvcc.apply_txn(Txn::delete("/a"));
    let mut streamed = Vec::new();
    mvcc.write_to(&mut streamed).expect("encode");
    // Snapshots written before streaming (kept in redb) still decode, and vice versa.
    assert_eq!(streamed, mvcc.to_bytes().expect("encode"));
    let restored = Mvcc::read_from(std::io::Cursor::new(&streamed), 10).expect("decode");
    assert_eq!(restored, mvcc);
    assert!(Mvcc::read_from(&streamed[..streamed.len() - 1], 10).is_err());
}

#[test]
fn apply_is_deterministic() {
    let txns = [
        Txn::put("/a", "1"),
        Txn::put("/b", "2").when(Compare::absent("/b")),
        Txn::delete("/a").when(Compare::mod_revision("/a", 2)),
        Txn::put("/a", "3").when(Compare::mod_revision("/a", 99)),
    ];
    let run = || {
        let mut mvcc = Mvcc::default();
        let out: Vec<_> = txns.iter().cloned().map(|t| mvcc.apply_txn(t)).collect();
        (mvcc, out)
    };
    assert_eq!(run(), run());
}

#[test]
fn history_of_large_values_is_bounded_by_bytes_too() {
    let mut mvcc = Mvcc::new(1_000_000);
    let big = "x".repeat(1 << 20); // 1 MiB per write
    let writes = HISTORY_BYTES_LIMIT / (1 << 20) + 20;
    for i in 0..writes {
        put(&mut mvcc, &format!("/k{}", i % 4), &big);
    }
    // Each update keeps its new and its old value: about 2 MiB per event.
    assert!(mvcc.history_events() < writes, "history was not trimmed");
    assert!(mvcc.history_events() >= HISTORY_BYTES_LIMIT / (2 << 20) - 1);
    assert!(mvcc.compacted_revision() > 1);
    // The latest values are all still readable, and the history left replays.
    assert_eq!(keys_at(&mvcc, "/", mvcc.revision()).len(), 4);
    let from = mvcc.compacted_revision() + 1;
    assert!(mvcc.replay("/", from).is_ok());
    // A snapshot decodes to the same bound.
    let again = Mvcc::from_bytes(&mvcc.to_bytes().unwrap(), 1_000_000).unwrap();
    assert_eq!(again.history_events(), mvcc.history_events());
}
