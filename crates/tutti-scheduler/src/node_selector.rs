//! Node selector terms (`nodeAffinity`'s matchExpressions and matchFields), compiled once per pod
//! and matched against a node's labels and name, as `k8s.io/component-helpers/scheduling/corev1`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;

/// The operator of a node selector requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    /// The label's value, as an integer, is greater than the one given.
    Gt,
    /// The label's value, as an integer, is less than the one given.
    Lt,
}

/// One requirement on a node label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: NodeOperator,
    pub values: Vec<String>,
    /// For Gt/Lt: the parsed bound.
    bound: i64,
}

impl LabelRequirement {
    /// Whether the label set satisfies the requirement (NotIn and DoesNotExist hold when the
    /// key is absent; Gt and Lt need a label that parses as an integer).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            NodeOperator::In => value.is_some_and(|v| self.values.contains(v)),
            NodeOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            NodeOperator::Exists => value.is_some(),
            NodeOperator::DoesNotExist => value.is_none(),
            NodeOperator::Gt => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > self.bound),
            NodeOperator::Lt => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < self.bound),
        }
    }
}

/// A requirement on `metadata.name` (the only field Kubernetes supports in matchFields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRequirement {
    /// true for In, false for NotIn.
    pub within: bool,
    pub names: Vec<String>,
}

/// A term: all of its requirements hold. A term with no requirement matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    pub labels: Vec<LabelRequirement>,
    pub names: Vec<NameRequirement>,
}

impl NodeSelectorTerm {
    /// Compiles an API term; `path` names the term in errors (`spec.affinity...[0]`).
    pub fn from_api(
        term: &core::NodeSelectorTerm,
        path: &str,
    ) -> Result<NodeSelectorTerm, (String, String)> {
        let mut out = NodeSelectorTerm::default();
        for (i, expr) in term.match_expressions.iter().flatten().enumerate() {
            let field = format!("{path}.matchExpressions[{i}]");
            out.labels.push(label_requirement(expr, &field)?);
        }
        for (i, expr) in term.match_fields.iter().flatten().enumerate() {
            let field = format!("{path}.matchFields[{i}]");
            if expr.key != "metadata.name" {
                return Err((
                    format!("{field}.key"),
                    format!("not a supported field selector: {:?}", expr.key),
                ));
            }
            let within = match expr.operator.as_str() {
                "In" => true,
                "NotIn" => false,
                other => {
                    return Err((
                        format!("{field}.operator"),
                        format!("not a valid operator for matchFields: {other:?}"),
                    ));
                }
            };
            out.names.push(NameRequirement {
                within,
                names: expr.values.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Whether the node (by name and labels) satisfies every requirement of a non-empty term.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.labels.is_empty() && self.names.is_empty() {
            return false;
        }
        self.labels.iter().all(|r| r.matches(labels))
            && self
                .names
                .iter()
                .all(|r| r.within == r.names.iter().any(|n| n == name))
    }
}

/// Required node affinity: the terms are ORed. No term means no node matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelector {
    pub terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    pub fn from_api(
        selector: &core::NodeSelector,
        path: &str,
    ) -> Result<NodeSelector, (String, String)> {
        let terms = selector
            .node_selector_terms
            .iter()
            .enumerate()
            .map(|(i, t)| NodeSelectorTerm::from_api(t, &format!("{path}.nodeSelectorTerms[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(NodeSelector { terms })
    }

    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.terms.iter().any(|t| t.matches(name, labels))
    }
}

fn label_requirement(
    expr: &core::NodeSelectorRequirement,
    field: &str,
) -> Result<LabelRequirement, (String, String)> {
    let values = expr.values.clone().unwrap_or_default();
    let operator = match expr.operator.as_str() {
        "In" => NodeOperator::In,
        "NotIn" => NodeOperator::NotIn,
        "Exists" => NodeOperator::Exists,
        "DoesNotExist" => NodeOperator::DoesNotExist,
        "Gt" => NodeOperator::Gt,
        "Lt" => NodeOperator::Lt,
        other => {
            return Err((
                format!("{field}.operator"),
                format!("not a valid selector operator: {other:?}"),
            ));
        }
    };
    let bound = match operator {
        NodeOperator::Gt | NodeOperator::Lt => match values.as_slice() {
            [v] => v.parse::<i64>().map_err(|_| {
                (
                    format!("{field}.values[0]"),
                    format!("must be an integer for {}: {v:?}", expr.operator),
                )
            })?,
            _ => {
                return Err((
                    format!("{field}.values"),
                    format!("must have one element for {}", expr.operator),
                ));
            }
        },
        _ => 0,
    };
    Ok(LabelRequirement {
        key: expr.key.clone(),
        operator,
        values,
        bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(key: &str, op: &str, values: &[&str]) -> core::NodeSelectorRequirement {
        core::NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn term(
        exprs: Vec<core::NodeSelectorRequirement>,
        fields: Vec<core::NodeSelectorRequirement>,
    ) -> NodeSelectorTerm {
        let api = core::NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: Some(fields),
        };
        NodeSelectorTerm::from_api(&api, "t").unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators_match_like_kubernetes() {
        let l = labels(&[("zone", "a"), ("cores", "16")]);
        assert!(term(vec![expr("zone", "In", &["a", "b"])], vec![]).matches("n", &l));
        assert!(!term(vec![expr("zone", "NotIn", &["a"])], vec![]).matches("n", &l));
        assert!(term(vec![expr("disk", "NotIn", &["ssd"])], vec![]).matches("n", &l));
        assert!(term(vec![expr("zone", "Exists", &[])], vec![]).matches("n", &l));
        assert!(term(vec![expr("disk", "DoesNotExist", &[])], vec![]).matches("n", &l));
        assert!(term(vec![expr("cores", "Gt", &["8"])], vec![]).matches("n", &l));
        assert!(!term(vec![expr("cores", "Lt", &["8"])], vec![]).matches("n", &l));
        assert!(
            !term(vec![expr("zone", "Gt", &["1"])], vec![]).matches("n", &l),
            "non-integer label never matches Gt"
        );
    }

    #[test]
    fn match_fields_pin_a_node_by_name() {
        let pinned = term(vec![], vec![expr("metadata.name", "In", &["node-2"])]);
        assert!(pinned.matches("node-2", &BTreeMap::new()));
        assert!(!pinned.matches("node-1", &BTreeMap::new()));
        let not_there = term(vec![], vec![expr("metadata.name", "NotIn", &["node-2"])]);
        assert!(not_there.matches("node-1", &BTreeMap::new()));
    }

    #[test]
    fn empty_term_matches_nothing_and_terms_are_ored() {
        assert!(!NodeSelectorTerm::default().matches("n", &BTreeMap::new()));
        let sel = NodeSelector {
            terms: vec![
                term(vec![expr("zone", "In", &["x"])], vec![]),
                term(vec![expr("zone", "In", &["a"])], vec![]),
            ],
        };
        assert!(sel.matches("n", &labels(&[("zone", "a")])));
    }

    #[test]
    fn bad_gt_value_is_an_error_with_a_field_path() {
        let api = core::NodeSelectorTerm {
            match_expressions: Some(vec![expr("cores", "Gt", &["many"])]),
            match_fields: None,
        };
        let err = NodeSelectorTerm::from_api(&api, "spec.affinity.nodeAffinity.x[0]").unwrap_err();
        assert_eq!(
            err.0,
            "spec.affinity.nodeAffinity.x[0].matchExpressions[0].values[0]"
        );
    }
}
