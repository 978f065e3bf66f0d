//! Rolling-update arithmetic, as Kubernetes' deployment controller computes it: resolving
//! maxSurge/maxUnavailable (surge rounds up, unavailable down, both zero → one unavailable),
//! how far to scale the new ReplicaSet up, how far the old ones down (unhealthy replicas
//! first, never below `replicas - maxUnavailable` available), and proportional scaling of
//! every active ReplicaSet when the Deployment is resized mid-rollout. Pure: ReplicaSets
//! come in as [`RsState`] snapshots, decisions go out as `(name, new size)`.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::annotations::{self, DESIRED_REPLICAS, MAX_REPLICAS};

/// A ReplicaSet as the arithmetic sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RsState {
    pub name: String,
    pub created: Option<Timestamp>,
    /// spec.replicas
    pub replicas: i32,
    /// status.replicas (active pods)
    pub current: i32,
    pub ready: i32,
    pub available: i32,
    /// The `desired-replicas` annotation: the Deployment's size when this was last scaled.
    pub desired_replicas: Option<i32>,
    /// The `max-replicas` annotation: that size plus maxSurge.
    pub max_replicas: Option<i32>,
}

impl RsState {
    pub fn of(rs: &ReplicaSet) -> RsState {
        let status = rs.status.as_ref();
        RsState {
            name: rs.metadata.name.clone().unwrap_or_default(),
            created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            current: status.map_or(0, |s| s.replicas),
            ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
            available: status.and_then(|s| s.available_replicas).unwrap_or(0),
            desired_replicas: annotations::int(&rs.metadata, DESIRED_REPLICAS),
            max_replicas: annotations::int(&rs.metadata, MAX_REPLICAS),
        }
    }
}

/// maxSurge or maxUnavailable that is neither an int nor a percentage.
#[derive(Debug, thiserror::Error)]
#[error(
    "spec.strategy.rollingUpdate.{field}: invalid value {value:?}: must be an integer or a percentage (\"25%\")"
)]
pub struct InvalidLimit {
    pub field: &'static str,
    pub value: String,
}

/// How far a rolling update may go above and below `spec.replicas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_surge: i32,
    pub max_unavailable: i32,
}

/// `spec.replicas` (1 when unset, as defaulting makes it).
pub fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Whether the strategy is RollingUpdate (the default) rather than Recreate.
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t != "Recreate")
}

/// An int, or a percentage of `total` rounded up or down.
pub fn scaled_value(
    v: &IntOrString,
    total: i32,
    round_up: bool,
    field: &'static str,
) -> Result<i32, InvalidLimit> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let percent: i32 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| InvalidLimit {
                    field,
                    value: s.clone(),
                })?;
            let exact = f64::from(percent) * f64::from(total) / 100.0;
            let rounded = if round_up {
                exact.ceil()
            } else {
                exact.floor()
            };
            // |percent · total / 100| is within i32 range for any realistic percentage.
            Ok(rounded as i32)
        }
    }
}

/// Kubernetes' `ResolveFenceposts`: (surge, unavailable) for `desired` replicas.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), InvalidLimit> {
    let zero = IntOrString::Int(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true, "maxSurge")?;
    let unavailable = scaled_value(
        max_unavailable.unwrap_or(&zero),
        desired,
        false,
        "maxUnavailable",
    )?;
    if surge == 0 && unavailable == 0 {
        // Rounding can make both zero; then allow one unavailable so the rollout can move.
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

/// The Deployment's limits: none for Recreate; maxUnavailable is at most `replicas` (and
/// zero for zero replicas).
pub fn limits(d: &Deployment) -> Result<Limits, InvalidLimit> {
    if !is_rolling(d) {
        return Ok(Limits::default());
    }
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let desired = desired(d);
    let (surge, unavailable) = resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        desired,
    )?;
    let max_unavailable = if desired == 0 {
        0
    } else {
        unavailable.min(desired)
    };
    Ok(Limits {
        max_surge: surge,
        max_unavailable,
    })
}

/// Sum of spec.replicas.
pub fn total_replicas<'a>(rss: impl IntoIterator<Item = &'a RsState>) -> i32 {
    rss.into_iter().map(|r| r.replicas).sum()
}

/// Sum of available replicas.
pub fn total_available<'a>(rss: impl IntoIterator<Item = &'a RsState>) -> i32 {
    rss.into_iter().map(|r| r.available).sum()
}

/// Kubernetes' `NewRSNewReplicas` for RollingUpdate: scale the new ReplicaSet up as far as
/// `desired + maxSurge` pods in total allow, never past `desired`.
pub fn new_rs_replicas(desired: i32, max_surge: i32, all_total: i32, new_replicas: i32) -> i32 {
    let max_total = desired + max_surge;
    if all_total >= max_total {
        return new_replicas;
    }
    let up = (max_total - all_total).min(desired - new_replicas);
    new_replicas + up
}

/// Kubernetes' `reconcileNewReplicaSet`: the new ReplicaSet's next size, if it changes.
pub fn rolling_new_size(
    desired: i32,
    limits: Limits,
    all: &[RsState],
    new: &RsState,
) -> Option<i32> {
    let size = if new.replicas > desired {
        desired
    } else {
        new_rs_replicas(desired, limits.max_surge, total_replicas(all), new.replicas)
    };
    (size != new.replicas).then_some(size)
}

/// Kubernetes' `reconcileOldReplicaSets`: new sizes for old ReplicaSets. First replicas
/// that are not available are removed (they only block the rollout), then available ones
/// while more than `desired - maxUnavailable` stay available, oldest ReplicaSet first.
pub fn rolling_old_sizes(
    desired: i32,
    limits: Limits,
    new: Option<&RsState>,
    old: &[RsState],
) -> Vec<(String, i32)> {
    let mut active: Vec<RsState> = old.iter().filter(|r| r.replicas > 0).cloned().collect();
    active.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
    let old_pods = total_replicas(&active);
    if old_pods == 0 {
        return Vec::new();
    }
    let (new_replicas, new_available) = new.map_or((0, 0), |n| (n.replicas, n.available));
    let min_available = desired - limits.max_unavailable;
    let new_unavailable = new_replicas - new_available;
    let max_scaled_down = old_pods + new_replicas - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let before: Vec<i32> = active.iter().map(|r| r.replicas).collect();

    // Unhealthy replicas first.
    let mut cleaned = 0;
    for rs in active.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = rs.replicas - rs.available;
        if rs.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let n = (max_scaled_down - cleaned).min(unhealthy);
        rs.replicas -= n;
        cleaned += n;
    }

    // Then available ones, keeping minAvailable.
    let available = total_available(&active) + new_available;
    if available > min_available {
        let to_scale_down = available - min_available;
        let mut scaled = 0;
        for rs in active.iter_mut() {
            if scaled >= to_scale_down {
                break;
            }
            if rs.replicas == 0 {
                continue;
            }
            let n = rs.replicas.min(to_scale_down - scaled);
            rs.replicas -= n;
            scaled += n;
        }
    }
    active
        .into_iter()
        .zip(before)
        .filter(|(rs, before)| rs.replicas != *before)
        .map(|(rs, _)| (rs.name, rs.replicas))
        .collect()
}

/// Kubernetes' `FindActiveOrLatest`: the only active ReplicaSet, or when none is active the
/// new one (else the newest old one); `None` when several are active.
pub fn active_or_latest<'a>(new: Option<&'a RsState>, old: &'a [RsState]) -> Option<&'a RsState> {
    let mut newest_first: Vec<&RsState> = old.iter().collect();
    newest_first.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
    let active: Vec<&RsState> = newest_first
        .iter()
        .copied()
        .chain(new)
        .filter(|r| r.replicas > 0)
        .collect();
    match active.len() {
        0 => new.or(newest_first.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// Whether the new ReplicaSet has taken over completely (Kubernetes' `IsSaturated`).
pub fn is_saturated(desired: i32, rs: &RsState) -> bool {
    rs.replicas == desired && rs.desired_replicas == Some(desired) && rs.available == desired
}

/// Kubernetes' `scale`: the sizes to give ReplicaSets when the Deployment's size changed
/// (or it is paused). One active ReplicaSet takes the whole size; a saturated new one
/// leaves old ones at zero; otherwise (rolling only) the difference to `desired + maxSurge`
/// is shared out in proportion to each active ReplicaSet's size, leftovers to the largest.
/// `status_replicas` is the Deployment's last reported status.replicas.
pub fn scale_sizes(
    desired: i32,
    limits: Limits,
    rolling: bool,
    status_replicas: i32,
    new: Option<&RsState>,
    old: &[RsState],
) -> Vec<(String, i32)> {
    if let Some(rs) = active_or_latest(new, old) {
        return if rs.replicas == desired {
            Vec::new()
        } else {
            vec![(rs.name.clone(), desired)]
        };
    }
    if new.is_some_and(|n| is_saturated(desired, n)) {
        return old
            .iter()
            .filter(|r| r.replicas > 0)
            .map(|r| (r.name.clone(), 0))
            .collect();
    }
    if !rolling {
        return Vec::new();
    }
    let mut active: Vec<&RsState> = old.iter().chain(new).filter(|r| r.replicas > 0).collect();
    let allowed = if desired > 0 {
        desired + limits.max_surge
    } else {
        0
    };
    let to_add = allowed - active.iter().map(|r| r.replicas).sum::<i32>();
    let by_age =
        |a: &&RsState, b: &&RsState| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name));
    if to_add > 0 {
        // Larger first; among equals the newer first.
        active.sort_by(|a, b| b.replicas.cmp(&a.replicas).then_with(|| by_age(b, a)));
    } else if to_add < 0 {
        // Larger first; among equals the older first.
        active.sort_by(|a, b| b.replicas.cmp(&a.replicas).then_with(|| by_age(a, b)));
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = active
        .iter()
        .map(|rs| {
            let p = proportion(
                rs,
                desired,
                limits.max_surge,
                status_replicas,
                to_add,
                added,
            );
            added += p;
            (rs.name.clone(), rs.replicas + p)
        })
        .collect();
    if let Some(first) = sizes.first_mut()
        && to_add != 0
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

/// Kubernetes' `GetProportion`: this ReplicaSet's share of `to_add`, bounded by what is
/// left to add (or remove).
fn proportion(
    rs: &RsState,
    desired: i32,
    max_surge: i32,
    status_replicas: i32,
    to_add: i32,
    added: i32,
) -> i32 {
    if rs.replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, desired, max_surge, status_replicas);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Kubernetes' `getReplicaSetFraction`: how much this ReplicaSet grows or shrinks if it
/// keeps its share of the Deployment's maximum size (from its max-replicas annotation).
fn fraction(rs: &RsState, desired: i32, max_surge: i32, status_replicas: i32) -> i32 {
    if desired == 0 {
        return -rs.replicas;
    }
    let max_now = desired + max_surge;
    let max_before = match rs.max_replicas {
        Some(m) if m != 0 => m,
        _ if status_replicas == 0 => return 0,
        _ => status_replicas,
    };
    let size = f64::from(rs.replicas) * f64::from(max_now) / f64::from(max_before);
    // A share of an i32-sized deployment is within i32 range.
    size.round() as i32 - rs.replicas
}

#[cfg(test)]
mod tests;
