//! Taints and tolerations as the scheduler sees them: parsed once from the API objects, and the
//! matching rule of `k8s.io/api/core/v1.Toleration.ToleratesTaint`.

use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;

/// `node.kubernetes.io/not-ready`: the node's Ready condition is False (or missing).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`: the node's Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `node.kubernetes.io/unschedulable`: the node is cordoned (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// New pods are not placed on the node.
    NoSchedule,
    /// Placement avoids the node when it can (scoring only).
    PreferNoSchedule,
    /// New pods are not placed, and running ones are evicted.
    NoExecute,
}

impl Effect {
    /// Parses an effect; unknown words yield `None` (such a taint is ignored, as by Kubernetes).
    pub fn parse(s: &str) -> Option<Effect> {
        match s {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }

    /// Whether the effect keeps new pods off the node (NoSchedule and NoExecute).
    pub fn blocks_scheduling(self) -> bool {
        matches!(self, Effect::NoSchedule | Effect::NoExecute)
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: Arc<str>,
    pub value: Arc<str>,
    pub effect: Effect,
}

impl Taint {
    pub fn new(key: &str, value: &str, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    /// Converts an API taint; `None` for an unknown effect.
    pub fn from_api(t: &core::Taint) -> Option<Taint> {
        Some(Taint::new(
            &t.key,
            t.value.as_deref().unwrap_or(""),
            Effect::parse(&t.effect)?,
        ))
    }
}

/// How a toleration compares values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TolerationOperator {
    /// The value must be equal (the default).
    Equal,
    /// Any value; with an empty key, any taint.
    Exists,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// Empty matches every key (only with `Exists`).
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// `None` matches every effect.
    pub effect: Option<Effect>,
    /// Set only for NoExecute tolerations that end after a while.
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Converts an API toleration; `None` when its operator or effect is not one Kubernetes knows
    /// (validation rejects those, so such a toleration tolerates nothing).
    pub fn from_api(t: &core::Toleration) -> Option<Toleration> {
        let operator = match t.operator.as_deref() {
            None | Some("") | Some("Equal") => TolerationOperator::Equal,
            Some("Exists") => TolerationOperator::Exists,
            Some(_) => return None,
        };
        let effect = match t.effect.as_deref() {
            None | Some("") => None,
            Some(e) => Some(Effect::parse(e)?),
        };
        Some(Toleration {
            key: t.key.clone().unwrap_or_default(),
            operator,
            value: t.value.clone().unwrap_or_default(),
            effect,
            toleration_seconds: t.toleration_seconds,
        })
    }

    /// Kubernetes' `ToleratesTaint`: effects agree (or the toleration names none), keys agree
    /// (or the toleration's is empty), and the value is equal or the operator is `Exists`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && *self.key != *taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => *self.value == *taint.value,
        }
    }

    /// A DaemonSet-style toleration of a node condition: `NoExecute` for the taint's key with no
    /// time limit. tutti lets such a pod onto a not-ready or unreachable node — it has declared it
    /// will stay there for good — where Kubernetes would also demand a `NoSchedule` toleration.
    fn tolerates_condition_forever(&self, taint: &Taint) -> bool {
        let condition = *taint.key == *TAINT_NOT_READY || *taint.key == *TAINT_UNREACHABLE;
        condition
            && self.effect == Some(Effect::NoExecute)
            && self.toleration_seconds.is_none()
            && (self.key.is_empty() || *self.key == *taint.key)
            && (self.operator == TolerationOperator::Exists || *self.value == *taint.value)
    }
}

/// Whether any toleration tolerates the taint (for scheduling purposes).
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|t| t.tolerates(taint) || t.tolerates_condition_forever(taint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(
        key: &str,
        op: TolerationOperator,
        value: &str,
        effect: Option<Effect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
            toleration_seconds: None,
        }
    }

    #[test]
    fn equal_needs_same_key_value_and_effect() {
        let taint = Taint::new("dedicated", "gpu", Effect::NoSchedule);
        let t = toleration(
            "dedicated",
            TolerationOperator::Equal,
            "gpu",
            Some(Effect::NoSchedule),
        );
        assert!(t.tolerates(&taint));
        let wrong_value = toleration("dedicated", TolerationOperator::Equal, "db", None);
        assert!(!wrong_value.tolerates(&taint));
        let wrong_effect = toleration(
            "dedicated",
            TolerationOperator::Equal,
            "gpu",
            Some(Effect::NoExecute),
        );
        assert!(!wrong_effect.tolerates(&taint));
        let any_effect = toleration("dedicated", TolerationOperator::Equal, "gpu", None);
        assert!(any_effect.tolerates(&taint));
    }

    #[test]
    fn exists_ignores_value_and_empty_key_tolerates_everything() {
        let taint = Taint::new("dedicated", "gpu", Effect::NoExecute);
        assert!(toleration("dedicated", TolerationOperator::Exists, "", None).tolerates(&taint));
        assert!(toleration("", TolerationOperator::Exists, "", None).tolerates(&taint));
        assert!(!toleration("other", TolerationOperator::Exists, "", None).tolerates(&taint));
    }

    #[test]
    fn daemonset_tolerations_cover_node_conditions_but_timed_ones_do_not() {
        let not_ready = Taint::new(TAINT_NOT_READY, "", Effect::NoSchedule);
        let forever = toleration(
            TAINT_NOT_READY,
            TolerationOperator::Exists,
            "",
            Some(Effect::NoExecute),
        );
        assert!(tolerated(std::slice::from_ref(&forever), &not_ready));
        let timed = Toleration {
            toleration_seconds: Some(300),
            ..forever
        };
        assert!(!tolerated(&[timed], &not_ready));
        let other = Taint::new("dedicated", "", Effect::NoSchedule);
        let forever_other = toleration(
            "dedicated",
            TolerationOperator::Exists,
            "",
            Some(Effect::NoExecute),
        );
        assert!(!tolerated(&[forever_other], &other));
    }

    #[test]
    fn api_conversion_defaults_operator_and_rejects_unknown_effects() {
        let t = Toleration::from_api(&core::Toleration {
            key: Some("k".into()),
            value: Some("v".into()),
            ..Default::default()
        });
        assert_eq!(t.map(|t| t.operator), Some(TolerationOperator::Equal));
        let bad = core::Toleration {
            effect: Some("Sometimes".into()),
            ..Default::default()
        };
        assert!(Toleration::from_api(&bad).is_none());
    }
}
