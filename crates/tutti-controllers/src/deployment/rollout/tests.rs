//! The rolling-update arithmetic against Kubernetes' own test tables
//! (TestResolveFenceposts, TestNewRSNewReplicas, reconcileOldReplicaSets, TestScale).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::*;

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

fn rs(name: &str, age: i64, replicas: i32, available: i32) -> RsState {
    RsState {
        name: name.into(),
        created: Timestamp::from_second(1_700_000_000 - age).ok(),
        replicas,
        current: replicas,
        ready: available,
        available,
        desired_replicas: None,
        max_replicas: None,
    }
}

fn annotated(mut r: RsState, desired: i32, max: i32) -> RsState {
    r.desired_replicas = Some(desired);
    r.max_replicas = Some(max);
    r
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    type Case = (
        Option<IntOrString>,
        Option<IntOrString>,
        i32,
        Option<(i32, i32)>,
    );
    let cases: &[Case] = &[
        (Some(pct("0%")), Some(pct("0%")), 0, Some((0, 1))),
        (Some(pct("39%")), Some(pct("39%")), 10, Some((4, 3))),
        (Some(pct("oops")), Some(pct("39%")), 10, None),
        (Some(pct("55%")), Some(pct("urg")), 10, None),
        (None, Some(pct("39%")), 10, Some((0, 3))),
        (Some(pct("39%")), None, 10, Some((4, 0))),
        (None, None, 10, Some((0, 1))),
        // The defaults, 25% / 25%.
        (Some(pct("25%")), Some(pct("25%")), 3, Some((1, 0))),
        (Some(pct("25%")), Some(pct("25%")), 10, Some((3, 2))),
        (Some(pct("25%")), Some(pct("25%")), 1, Some((1, 0))),
        (
            Some(IntOrString::Int(2)),
            Some(IntOrString::Int(0)),
            5,
            Some((2, 0)),
        ),
    ];
    for (surge, unavailable, desired, want) in cases {
        let got = resolve_fenceposts(surge.as_ref(), unavailable.as_ref(), *desired).ok();
        assert_eq!(
            got, *want,
            "surge {surge:?} unavailable {unavailable:?} desired {desired}"
        );
    }
}

#[test]
fn new_replica_set_scales_up_within_surge_and_never_past_desired() {
    // (desired, new replicas, max surge, old replicas) -> new size
    let cases = [
        (1, 5, 1, 5, 5),
        (6, 0, 3, 1, 6),
        (3, 0, 1, 3, 1),
        (10, 2, 3, 10, 3),
    ];
    for (desired, new, surge, old, want) in cases {
        assert_eq!(
            new_rs_replicas(desired, surge, new + old, new),
            want,
            "desired {desired} new {new} surge {surge} old {old}"
        );
    }
    let limits = Limits {
        max_surge: 1,
        max_unavailable: 0,
    };
    let new = rs("new", 0, 5, 0);
    assert_eq!(
        rolling_new_size(3, limits, std::slice::from_ref(&new), &new),
        Some(3),
        "too big: cut to desired"
    );
    let new = rs("new", 0, 1, 0);
    let all = [rs("old", 10, 3, 3), new.clone()];
    assert_eq!(
        rolling_new_size(3, limits, &all, &new),
        None,
        "at replicas + surge already"
    );
}

#[test]
fn old_replica_sets_scale_down_unhealthy_first_within_max_unavailable() {
    let limits = |u| Limits {
        max_surge: 0,
        max_unavailable: u,
    };
    // (desired, max unavailable, old replicas, new replicas, old ready, new ready) -> old size
    type Case = (i32, i32, i32, i32, i32, i32, Option<i32>);
    let cases: [Case; 5] = [
        (10, 1, 10, 0, 10, 0, Some(9)),
        (10, 2, 10, 0, 10, 0, Some(8)),
        (10, 2, 10, 0, 8, 0, Some(8)),
        (10, 2, 10, 0, 9, 0, Some(8)),
        (10, 2, 8, 2, 8, 0, None),
    ];
    for (desired, unavailable, old, new, old_ready, new_ready, want) in cases {
        let new = rs("new", 0, new, new_ready);
        let olds = [rs("old", 10, old, old_ready)];
        let got = rolling_old_sizes(desired, limits(unavailable), Some(&new), &olds);
        let got = got.first().map(|(_, size)| *size);
        assert_eq!(got, want, "case {desired} {unavailable} {old} {old_ready}");
    }
}

#[test]
fn oldest_old_replica_set_goes_first() {
    let limits = Limits {
        max_surge: 1,
        max_unavailable: 1,
    };
    let new = rs("new", 0, 2, 2);
    let olds = [rs("middle", 5, 2, 2), rs("oldest", 10, 2, 2)];
    // 6 available, at least 4 must stay: two go, both from the oldest.
    assert_eq!(
        rolling_old_sizes(5, limits, Some(&new), &olds),
        [("oldest".to_string(), 0)]
    );
}

#[test]
fn a_rolling_update_never_breaks_its_bounds() {
    // Simulate a whole rollout of 10 replicas with every pod becoming available at once.
    let (desired, limits) = (
        10,
        Limits {
            max_surge: 3,
            max_unavailable: 2,
        },
    );
    let mut old = rs("old", 10, 10, 10);
    let mut new = rs("new", 0, 0, 0);
    for _ in 0..50 {
        let all = [old.clone(), new.clone()];
        if let Some(size) = rolling_new_size(desired, limits, &all, &new) {
            new.replicas = size;
        } else {
            for (_, size) in rolling_old_sizes(desired, limits, Some(&new), &[old.clone()]) {
                old.replicas = size;
                old.available = old.available.min(size);
            }
        }
        assert!(old.replicas + new.replicas <= desired + limits.max_surge);
        assert!(old.available + new.available >= desired - limits.max_unavailable);
        new.available = new.replicas;
    }
    assert_eq!((old.replicas, new.replicas), (0, 10));
}

#[test]
fn one_active_replica_set_takes_the_whole_size() {
    let limits = Limits::default();
    let new = rs("new", 0, 3, 3);
    let olds = [rs("old", 10, 0, 0)];
    assert_eq!(
        scale_sizes(5, limits, true, 3, Some(&new), &olds),
        [("new".to_string(), 5)]
    );
    assert_eq!(scale_sizes(3, limits, true, 3, Some(&new), &olds), []);
    // No active one: the new one (or the newest old one) is scaled.
    let idle = rs("new", 0, 0, 0);
    assert_eq!(
        scale_sizes(2, limits, false, 0, Some(&idle), &olds),
        [("new".to_string(), 2)]
    );
    assert_eq!(
        scale_sizes(2, limits, false, 0, None, &olds),
        [("old".to_string(), 2)]
    );
}

#[test]
fn a_saturated_new_replica_set_zeroes_old_ones() {
    let new = annotated(rs("new", 0, 3, 3), 3, 4);
    let olds = [rs("old", 10, 2, 2)];
    assert_eq!(
        scale_sizes(3, Limits::default(), true, 5, Some(&new), &olds),
        [("old".to_string(), 0)]
    );
}

#[test]
fn resizing_mid_rollout_scales_proportionally() {
    // 10 -> 15 replicas with 25% surge (4): 13 -> 19 shared by size.
    let limits = Limits {
        max_surge: 4,
        max_unavailable: 3,
    };
    let new = annotated(rs("new", 0, 6, 0), 10, 13);
    let olds = [annotated(rs("old", 10, 7, 7), 10, 13)];
    let got = scale_sizes(15, limits, true, 13, Some(&new), &olds);
    assert_eq!(got, [("old".to_string(), 10), ("new".to_string(), 9)]);

    // 10 -> 5 with surge 2: 13 -> 7.
    let limits = Limits {
        max_surge: 2,
        max_unavailable: 1,
    };
    let got = scale_sizes(5, limits, true, 13, Some(&new), &olds);
    assert_eq!(got, [("old".to_string(), 4), ("new".to_string(), 3)]);

    // To zero: everything goes.
    let got = scale_sizes(0, Limits::default(), true, 13, Some(&new), &olds);
    assert_eq!(got, [("old".to_string(), 0), ("new".to_string(), 0)]);

    // Recreate never shares out.
    assert_eq!(
        scale_sizes(15, Limits::default(), false, 13, Some(&new), &olds),
        []
    );
}

#[test]
fn leftovers_go_to_the_largest_replica_set() {
    // Without annotations the fraction falls back to status.replicas.
    let limits = Limits {
        max_surge: 0,
        max_unavailable: 1,
    };
    let new = rs("new", 0, 1, 0);
    let olds = [rs("old", 10, 2, 2)];
    let got = scale_sizes(4, limits, true, 3, Some(&new), &olds);
    let total: i32 = got.iter().map(|(_, s)| s).sum();
    assert_eq!(total, 4, "{got:?}");
    assert_eq!(got[0].0, "old");
}
