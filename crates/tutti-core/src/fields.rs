//! Field selectors (`?fieldSelector=spec.nodeName=node-1,status.phase!=Failed`): parsing,
//! matching, the fields each kind supports, and reading a field's value from an object.
//!
//! Semantics follow `k8s.io/apimachinery/pkg/fields`: terms are ANDed, a missing field reads
//! as the empty string, and selecting on a field the kind does not support is an error worded
//! as Kubernetes words it (`field label not supported: foo`).

use std::fmt;

use serde_json::Value;

/// Why a field selector was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    #[error("invalid selector: '{input}'; can't understand '{term}'")]
    Syntax { input: String, term: String },
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// How a term compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    /// `k=v` or `k==v`
    Equals,
    /// `k!=v`
    NotEquals,
}

/// One `field op value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A conjunction of field requirements; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `k=v,k==v,k!=v`. A backslash escapes `,`, `=`, `!` and `\` in values.
    pub fn parse(input: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let syntax = || FieldSelectorError::Syntax {
                input: input.to_string(),
                term: term.clone(),
            };
            let (field, operator, raw_value) = split_operator(&term).ok_or_else(syntax)?;
            let field = field.trim();
            if field.is_empty() {
                return Err(syntax());
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value: unescape(raw_value),
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Checks that every field is one the kind supports.
    pub fn check_supported(&self, kind: &str) -> Result<(), FieldSelectorError> {
        let supported = supported_fields(kind);
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(FieldSelectorError::Unsupported(r.field.clone())),
            None => Ok(()),
        }
    }

    /// Whether every term holds; `get` returns a field's value (`None` reads as `""`).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let have = get(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => have == r.value,
                FieldOperator::NotEquals => have != r.value,
            }
        })
    }

    /// Convenience: match an object, reading fields with [`field_value`].
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(|f| field_value(obj, f))
    }

    /// The value a term requires with `=`/`==`, if any (e.g. `spec.nodeName` for a watch).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field, escape(&r.value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            current.push(c);
            if let Some(n) = chars.next() {
                current.push(n);
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Finds the first unescaped `!=`, `==` or `=` in a term.
fn split_operator(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], FieldOperator::NotEquals, &term[i + 2..]));
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], FieldOperator::Equals, &term[i + 2..]));
            }
            b'=' => return Some((&term[..i], FieldOperator::Equals, &term[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const COMMON: &[&str] = &["metadata.name", "metadata.namespace"];
const POD: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const EVENT: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const SECRET: &[&str] = &["metadata.name", "metadata.namespace", "type"];
const NODE: &[&str] = &["metadata.name", "metadata.namespace", "spec.unschedulable"];
const NAMESPACE: &[&str] = &["metadata.name", "metadata.namespace", "status.phase"];
const SERVICE: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];
const REPLICA_SET: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];

/// The fields a kind can be selected on (as the Kubernetes API server allows).
pub fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => POD,
        "Event" => EVENT,
        "Secret" => SECRET,
        "Node" => NODE,
        "Namespace" => NAMESPACE,
        "Service" => SERVICE,
        "ReplicaSet" => REPLICA_SET,
        "Job" => JOB,
        _ => COMMON,
    }
}

/// Reads a selectable field from an object, as a string. Returns `None` for a field the
/// object's kind does not support; a supported field that is absent reads as `""` (or
/// `"false"` for booleans), as on a real cluster.
pub fn field_value(obj: &Value, field: &str) -> Option<String> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !supported_fields(kind).contains(&field) && !COMMON.contains(&field) {
        return None;
    }
    let pointer = match (kind, field) {
        ("Event", "source") => "/source/component".to_string(),
        ("Pod", "status.podIPs") => "/status/podIPs/0/ip".to_string(),
        _ => format!("/{}", field.replace('.', "/")),
    };
    let value = obj.pointer(&pointer);
    let text = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) | None => match field {
            "spec.unschedulable" | "spec.hostNetwork" => "false".to_string(),
            "status.replicas" | "status.successful" => "0".to_string(),
            _ => String::new(),
        },
        Some(other) => other.to_string(),
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_terms() {
        let s =
            FieldSelector::parse("spec.nodeName=node-1,status.phase!=Failed,metadata.name==web")
                .unwrap();
        assert_eq!(s.requirements().len(), 3);
        assert_eq!(s.requirements()[1].operator, FieldOperator::NotEquals);
        assert_eq!(s.required_value("spec.nodeName"), Some("node-1"));
        assert_eq!(
            s.to_string(),
            "spec.nodeName=node-1,status.phase!=Failed,metadata.name=web"
        );
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert_eq!(
            FieldSelector::parse("spec.nodeName=")
                .unwrap()
                .requirements()[0]
                .value,
            ""
        );
    }

    #[test]
    fn escapes_round_trip() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(s.requirements()[0].value, "a,b=c");
        assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn rejects_terms_without_operator() {
        let err = FieldSelector::parse("spec.nodeName").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"
        );
        assert!(FieldSelector::parse("=x").is_err());
    }

    #[test]
    fn unsupported_fields_use_kubernetes_wording() {
        let s = FieldSelector::parse("foo=bar").unwrap();
        assert_eq!(
            s.check_supported("Pod").unwrap_err().to_string(),
            "field label not supported: foo"
        );
        let s = FieldSelector::parse("spec.nodeName=n1").unwrap();
        assert!(s.check_supported("Pod").is_ok());
        assert!(s.check_supported("Deployment").is_err());
        assert!(
            FieldSelector::parse("metadata.name=x")
                .unwrap()
                .check_supported("Deployment")
                .is_ok()
        );
    }

    #[test]
    fn reads_values_like_a_cluster() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                         "spec": {"nodeName": "n1"}, "status": {"podIPs": [{"ip": "10.0.0.2"}]}});
        assert_eq!(field_value(&pod, "metadata.name").as_deref(), Some("web"));
        assert_eq!(field_value(&pod, "status.phase").as_deref(), Some(""));
        assert_eq!(
            field_value(&pod, "spec.hostNetwork").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value(&pod, "status.podIPs").as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(field_value(&pod, "foo"), None);

        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert!(s.matches_object(&pod));
        let unscheduled = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(!unscheduled.matches_object(&pod));

        let event = json!({"kind": "Event", "source": {"component": "kubelet"}, "involvedObject": {"kind": "Pod"}});
        assert_eq!(field_value(&event, "source").as_deref(), Some("kubelet"));
        assert_eq!(
            field_value(&event, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        let node = json!({"kind": "Node", "spec": {"unschedulable": true}});
        assert_eq!(
            field_value(&node, "spec.unschedulable").as_deref(),
            Some("true")
        );
    }
}
