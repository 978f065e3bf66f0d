//! Field paths as Kubernetes prints them (`spec.containers[0].resources.limits[cpu]`) and the
//! Go-style rendering of rejected values (`"nginx"`, `70000`, `map[string]string{"app":"x"}`).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A field path under construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn new(root: &str) -> Path {
        Path(root.to_string())
    }

    /// `a.b`
    pub(crate) fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `a.b.c` for several names at once.
    pub(crate) fn children(&self, names: &[&str]) -> Path {
        names.iter().fold(self.clone(), |p, n| p.child(n))
    }

    /// `a[3]`
    pub(crate) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// `a[key]`
    pub(crate) fn key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

/// A string as Go's `%q` prints it.
pub(crate) fn q(s: &str) -> String {
    format!("{s:?}")
}

/// A string map as Go's `%#v` prints it (`map[string]string{"app":"x"}`), nil when absent.
pub(crate) fn go_map(m: Option<&BTreeMap<String, String>>) -> String {
    match m {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let body = m
                .iter()
                .map(|(k, v)| format!("{}:{}", q(k), q(v)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("map[string]string{{{body}}}")
        }
    }
}

/// A label selector as Go's `%#v` prints it.
pub(crate) fn go_selector(s: &LabelSelector) -> String {
    let exprs = match &s.match_expressions {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let items = list
                .iter()
                .map(|r| {
                    let values = match &r.values {
                        None => "[]string(nil)".to_string(),
                        Some(v) => format!(
                            "[]string{{{}}}",
                            v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
                        q(&r.key),
                        q(&r.operator)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("[]v1.LabelSelectorRequirement{{{items}}}")
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{exprs}}}",
        go_map(s.match_labels.as_ref())
    )
}

/// An int-or-string as its JSON form (`"25%"` or `0`).
pub(crate) fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => q(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_kubernetes() {
        let p = Path::new("spec")
            .children(&["template", "spec"])
            .child("containers")
            .index(0)
            .child("resources");
        assert_eq!(
            p.child("limits").key("cpu").to_string(),
            "spec.template.spec.containers[0].resources.limits[cpu]"
        );
        assert_eq!(Path::default().child("metadata").to_string(), "metadata");
    }

    #[test]
    fn values_print_like_go() {
        let m: BTreeMap<String, String> = [("app".to_string(), "x".to_string())].into();
        assert_eq!(go_map(Some(&m)), r#"map[string]string{"app":"x"}"#);
        assert_eq!(go_map(None), "map[string]string(nil)");
        assert_eq!(int_or_string(&IntOrString::String("25%".into())), "\"25%\"");
    }
}
