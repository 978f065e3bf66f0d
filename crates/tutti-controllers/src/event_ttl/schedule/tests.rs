use super::*;

const TTL: Duration = Duration::from_secs(60);
const UID_A: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const UID_B: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn written(uid: &'static str, name: &'static str, rv: u64) -> Observed<'static> {
    Observed {
        uid,
        namespace: "default",
        name,
        resource_version: rv,
        seen: Seen::Written,
    }
}

fn listed(uid: &'static str, name: &'static str, rv: u64, age: Option<u64>) -> Observed<'static> {
    Observed {
        seen: Seen::Listed {
            age: age.map(Duration::from_secs),
        },
        ..written(uid, name, rv)
    }
}

fn s(secs: u64) -> Millis {
    secs * 1000
}

#[test]
fn an_event_expires_a_ttl_after_it_was_written_never_before() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 10), 1_500);
    // Written at 1.5 s: due at 61.5 s, rounded up to 62 s.
    assert_eq!(sched.next_due(), Some(Duration::from_secs(62)));
    assert_eq!(sched.pop_expired(61_999), None);
    let e = sched.pop_expired(s(62)).expect("due at 62 s");
    assert_eq!(
        (e.namespace.as_str(), e.name.as_str(), e.resource_version),
        ("default", "a", 10)
    );
    assert_eq!(e.uid.as_deref(), Some(UID_A));
    assert_eq!(
        sched.pop_expired(s(100)),
        None,
        "in flight: not handed out twice"
    );
    sched.finished(&e, &Outcome::Done, s(62));
    assert!(sched.is_empty());
}

#[test]
fn an_update_restarts_the_ttl() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 10), s(0));
    sched.observe(written(UID_A, "a", 11), s(40));
    assert_eq!(
        sched.pop_expired(s(60)),
        None,
        "its first expiry no longer counts"
    );
    assert_eq!(sched.next_due(), Some(Duration::from_secs(100)));
    assert_eq!(
        sched.pop_expired(s(100)).map(|e| e.resource_version),
        Some(11)
    );
}

#[test]
fn the_same_version_seen_again_keeps_its_expiry() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 10), s(0));
    // A relist returns the same version later: it was not written again.
    sched.begin_relist();
    sched.observe(listed(UID_A, "a", 10, Some(0)), s(30));
    assert_eq!(sched.end_relist(), 0);
    assert_eq!(sched.next_due(), Some(Duration::from_secs(60)));
}

#[test]
fn a_listed_event_is_judged_by_its_timestamps_and_an_old_one_is_due_at_once() {
    let mut sched = Schedule::new(TTL);
    sched.observe(listed(UID_A, "old", 1, Some(3600)), s(1));
    sched.observe(listed(UID_B, "recent", 2, Some(20)), s(1));
    let first = sched
        .pop_expired(s(1))
        .expect("the hour-old event is due at once");
    assert_eq!(first.name, "old");
    assert_eq!(sched.pop_expired(s(1)), None);
    // Written 20 s before 1 s: due at 41 s.
    assert_eq!(sched.next_due(), Some(Duration::from_secs(41)));
}

#[test]
fn a_listed_event_without_timestamps_counts_as_written_now() {
    let mut sched = Schedule::new(TTL);
    sched.observe(listed(UID_A, "a", 1, None), s(5));
    assert_eq!(sched.next_due(), Some(Duration::from_secs(65)));
}

#[test]
fn a_changed_version_found_by_a_relist_expires_a_ttl_from_the_relist() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    sched.begin_relist();
    // Its timestamps say long ago, but we know it was written after we last saw it.
    sched.observe(listed(UID_A, "a", 7, Some(3600)), s(50));
    sched.end_relist();
    assert_eq!(sched.next_due(), Some(Duration::from_secs(110)));
}

#[test]
fn a_relist_forgets_events_deleted_while_the_watch_was_not_looking() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    sched.observe(written(UID_B, "b", 2), s(0));
    sched.begin_relist();
    sched.observe(listed(UID_B, "b", 2, Some(0)), s(10));
    assert_eq!(sched.end_relist(), 1);
    assert_eq!(sched.len(), 1);
    assert_eq!(
        sched.pop_expired(s(60)).map(|e| e.name),
        Some("b".to_string())
    );
    assert_eq!(sched.pop_expired(s(60)), None);
}

#[test]
fn a_refused_deletion_waits_for_the_newer_version() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    let e = sched.pop_expired(s(60)).expect("due");
    // The update lands while the deletion is in flight...
    sched.observe(written(UID_A, "a", 2), s(60));
    // ... so the deletion is refused, which changes nothing: the update set a new expiry.
    sched.finished(&e, &Outcome::Changed, s(60));
    assert_eq!(sched.pop_expired(s(119)), None);
    assert_eq!(
        sched.pop_expired(s(120)).map(|e| e.resource_version),
        Some(2)
    );
}

#[test]
fn a_refusal_before_the_watch_brings_the_update_is_looked_at_again() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    let e = sched.pop_expired(s(60)).expect("due");
    sched.finished(&e, &Outcome::Changed, s(60));
    assert_eq!(sched.len(), 1, "still tracked");
    assert_eq!(sched.pop_expired(s(64)), None);
    assert_eq!(
        sched.pop_expired(s(65)).map(|e| e.resource_version),
        Some(1)
    );
}

#[test]
fn a_failed_deletion_is_retried_and_one_deleted_elsewhere_is_forgotten() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    let e = sched.pop_expired(s(60)).expect("due");
    sched.finished(&e, &Outcome::Failed, s(60));
    let again = sched.pop_expired(s(65)).expect("retried");
    assert_eq!(again, e);
    // The watch reports it deleted (by someone else) before our call returns.
    sched.forget(UID_A);
    sched.finished(&again, &Outcome::Done, s(65));
    assert!(sched.is_empty());
    assert_eq!(sched.next_due(), None);
}

#[test]
fn a_recreated_event_is_a_different_event() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written(UID_A, "a", 1), s(0));
    sched.forget(UID_A);
    sched.observe(written(UID_B, "a", 5), s(30));
    assert_eq!(sched.pop_expired(s(60)), None);
    let e = sched.pop_expired(s(90)).expect("due");
    assert_eq!(e.uid.as_deref(), Some(UID_B));
}

#[test]
fn expiries_come_out_in_order() {
    let mut sched = Schedule::new(TTL);
    let uids: Vec<String> = (0..50u32)
        .map(|i| format!("00000000-0000-4000-8000-{i:012x}"))
        .collect();
    for (i, uid) in uids.iter().enumerate().rev() {
        let ev = Observed {
            uid,
            namespace: "ns",
            name: "x",
            resource_version: i as u64,
            seen: Seen::Listed {
                age: Some(Duration::from_secs(1000 - i as u64)),
            },
        };
        sched.observe(ev, s(1000));
    }
    let order: Vec<u64> = std::iter::from_fn(|| sched.pop_expired(s(2000)))
        .map(|e| e.resource_version)
        .collect();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
}

#[test]
fn uids_that_are_not_canonical_uuids_are_tracked_without_a_uid_precondition() {
    let mut sched = Schedule::new(TTL);
    sched.observe(written("not-a-uuid", "a", 1), s(0));
    sched.observe(
        written("0F8FAD5B-D9CB-469F-A165-70867728950E", "b", 2),
        s(0),
    );
    let a = sched.pop_expired(s(60)).expect("due");
    let b = sched.pop_expired(s(60)).expect("due");
    assert_eq!((a.uid, b.uid), (None, None));
    assert_eq!(format_uid(parse_uuid(UID_A).unwrap_or_default()), UID_A);
}

#[test]
fn many_updates_do_not_grow_the_heap_without_bound() {
    let mut sched = Schedule::new(TTL);
    for rv in 0..100_000 {
        sched.observe(written(UID_A, "a", rv), rv);
    }
    assert!(
        sched.heap.len() <= 2 * sched.len() + 1025,
        "{}",
        sched.heap.len()
    );
    assert_eq!(
        sched.pop_expired(s(200)).map(|e| e.resource_version),
        Some(99_999)
    );
    assert_eq!(sched.pop_expired(s(200)), None);
}

#[test]
fn memory_per_tracked_event_at_150000_events() {
    let mut sched = Schedule::new(TTL);
    let n = 150_000u32;
    let mut uids = Vec::with_capacity(n as usize);
    for i in 0..n {
        uids.push(format!(
            "{:08x}-1111-4111-8111-{:012x}",
            i,
            u64::from(i) * 7919
        ));
    }
    let names: Vec<String> = (0..n)
        .map(|i| format!("web-7d9f8c6b5-{i:05}.18a7f3c2d1e0{i:04x}"))
        .collect();
    for i in 0..n as usize {
        let ev = Observed {
            uid: &uids[i],
            namespace: "default",
            name: &names[i],
            resource_version: i as u64,
            seen: Seen::Written,
        };
        sched.observe(ev, i as u64);
    }
    assert_eq!(std::mem::size_of::<(u128, Tracked)>(), 48);
    assert_eq!(std::mem::size_of::<Reverse<Due>>(), 20);
    let names_bytes: usize = names.iter().map(|n| "default/".len() + n.len()).sum();
    let per_event = (sched.approx_bytes() - names_bytes) / n as usize;
    eprintln!(
        "{per_event} bytes per event besides its name; {} MiB in all for {n} events",
        sched.approx_bytes() >> 20
    );
    // 48-byte slots at the map's load factor, 20-byte heap entries with the Vec's slack.
    assert!(
        per_event <= 128,
        "{per_event} bytes per event besides its name"
    );
}
