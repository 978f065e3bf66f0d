use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

#[test]
fn parses_every_operator() {
    let web = labels(&[("app", "web"), ("tier", "frontend"), ("replicas", "3")]);
    assert!(sel("app=web").matches(&web));
    assert!(sel("app==web").matches(&web));
    assert!(!sel("app!=web").matches(&web));
    assert!(sel("app in (web, api)").matches(&web));
    assert!(!sel("app notin (web)").matches(&web));
    assert!(sel("app").matches(&web));
    assert!(!sel("!app").matches(&web));
    assert!(sel("!canary").matches(&web));
    assert!(sel("replicas>2").matches(&web));
    assert!(!sel("replicas<2").matches(&web));
    assert!(sel("  app = web ,  tier in (frontend,backend)  ").matches(&web));
    assert!(!sel("app=web,tier=backend").matches(&web));
}

#[test]
fn negative_operators_match_objects_without_the_key() {
    let empty = BTreeMap::new();
    assert!(sel("app!=web").matches(&empty));
    assert!(sel("app notin (web)").matches(&empty));
    assert!(!sel("app in (web)").matches(&empty));
    assert!(!sel("app=web").matches(&empty));
}

#[test]
fn empty_selector_matches_everything() {
    let s = sel("");
    assert!(s.is_empty());
    assert!(s.matches(&labels(&[("a", "b")])));
    assert!(sel("   ").is_empty());
}

#[test]
fn empty_values_are_allowed() {
    assert!(sel("app=").matches(&labels(&[("app", "")])));
    assert!(sel("app in (,x)").matches(&labels(&[("app", "")])));
}

#[test]
fn prints_sorted_by_key() {
    assert_eq!(
        sel("b=1,a in (y,x),!c,d").to_string(),
        "a in (x,y),b=1,!c,d"
    );
    assert_eq!(sel("x notin (b,a)").to_string(), "x notin (a,b)");
}

#[test]
fn reports_clear_errors() {
    let err = Selector::parse("app in web").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to parse label selector \"app in web\": found 'web', expected: '('"
    );
    let err = Selector::parse("app=web,").unwrap_err();
    assert!(
        err.to_string()
            .contains("found 'end of string', expected: !, identifier, or 'end of string'"),
        "{err}"
    );
    let err = Selector::parse("a b").unwrap_err();
    assert!(err.to_string().contains("found 'b'"), "{err}");
    let err = Selector::parse("app in ()").unwrap_err();
    assert!(
        err.to_string().contains("values set can't be empty"),
        "{err}"
    );
    let err = Selector::parse("Bad Key=1").unwrap_err();
    assert!(matches!(err, SelectorError::Syntax { .. }), "{err}");
    let err = Selector::parse("-bad=1").unwrap_err();
    assert!(matches!(err, SelectorError::InvalidKey { .. }), "{err}");
    let err = Selector::parse("app=-x").unwrap_err();
    assert!(matches!(err, SelectorError::InvalidValue { .. }), "{err}");
    let err = Selector::parse("n>x").unwrap_err();
    assert!(err.to_string().contains("must be an integer"), "{err}");
}

#[test]
fn converts_label_selector_objects() {
    let ls = LabelSelector {
        match_labels: Some([("app".to_string(), "web".to_string())].into()),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            },
            LabelSelectorRequirement {
                key: "canary".into(),
                operator: "DoesNotExist".into(),
                values: None,
            },
        ]),
    };
    let s = Selector::from_label_selector(&ls).unwrap();
    assert_eq!(s.to_string(), "app=web,!canary,tier in (a,b)");
    assert!(s.matches(&labels(&[("app", "web"), ("tier", "b")])));
    assert!(!s.matches(&labels(&[("app", "web"), ("tier", "b"), ("canary", "1")])));
    assert!(
        Selector::from_label_selector(&LabelSelector::default())
            .unwrap()
            .is_empty()
    );

    let bad = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "a".into(),
            operator: "Gt".into(),
            values: None,
        }]),
        ..Default::default()
    };
    assert_eq!(
        Selector::from_label_selector(&bad).unwrap_err().to_string(),
        "\"Gt\" is not a valid label selector operator"
    );
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "app", "example.com/tier", "x_y.z"])
        .prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "x", "y", "web", "1", "42", "a.b-c_d"]).prop_map(str::to_string)
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let ops = prop::sample::select(vec![
        Operator::Equals,
        Operator::DoubleEquals,
        Operator::NotEquals,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
        Operator::GreaterThan,
        Operator::LessThan,
    ]);
    (key(), ops, prop::collection::vec(value(), 1..4), -5i64..50).prop_map(|(k, op, vals, n)| {
        let values = match op {
            Operator::In | Operator::NotIn => vals,
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
            Operator::GreaterThan | Operator::LessThan => vec![n.to_string()],
            _ => vec![vals[0].clone()],
        };
        Requirement::new(&k, op, values).unwrap()
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    prop::collection::vec(requirement(), 0..5).prop_map(Selector::from_requirements)
}

fn label_set() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), value(), 0..5)
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(s in selector()) {
        let printed = s.to_string();
        let parsed = Selector::parse(&printed).unwrap();
        prop_assert_eq!(&parsed, &s, "printed as {}", printed);
    }

    #[test]
    fn selector_is_the_conjunction_of_its_requirements(s in selector(), l in label_set()) {
        let each = s.requirements().iter().all(|r| r.matches(&l));
        prop_assert_eq!(s.matches(&l), each);
    }

    #[test]
    fn in_and_notin_are_complements(k in key(), vals in prop::collection::vec(value(), 1..4), l in label_set()) {
        let r_in = Requirement::new(&k, Operator::In, vals.clone()).unwrap();
        let r_out = Requirement::new(&k, Operator::NotIn, vals).unwrap();
        prop_assert!(r_in.matches(&l) != r_out.matches(&l));
        let exists = Requirement::new(&k, Operator::Exists, vec![]).unwrap();
        let absent = Requirement::new(&k, Operator::DoesNotExist, vec![]).unwrap();
        prop_assert!(exists.matches(&l) != absent.matches(&l));
    }

    #[test]
    fn equality_agrees_with_the_label_set(k in key(), v in value(), l in label_set()) {
        let eq = Requirement::new(&k, Operator::Equals, vec![v.clone()]).unwrap();
        prop_assert_eq!(eq.matches(&l), l.get(&k) == Some(&v));
        let ne = Requirement::new(&k, Operator::NotEquals, vec![v.clone()]).unwrap();
        prop_assert_eq!(ne.matches(&l), l.get(&k) != Some(&v));
    }

    #[test]
    fn a_label_set_matches_its_own_selector(l in label_set()) {
        let s = Selector::from_labels(&l).unwrap();
        prop_assert!(s.matches(&l));
        let ls = LabelSelector { match_labels: Some(l.clone()), match_expressions: None };
        prop_assert_eq!(Selector::from_label_selector(&ls).unwrap(), s);
    }
}
