use serde_json::json;

use super::*;

fn owners(list: &[(&str, &Value, &str)]) -> BTreeMap<String, FieldSet> {
    list.iter()
        .map(|(m, cfg, kind)| (m.to_string(), FieldSet::of_config(kind, cfg)))
        .collect()
}

#[test]
fn a_config_owns_its_leaves_and_keyed_items() {
    let cfg = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["x/y"]},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1", "args": ["-g", "daemon off;"]}
        ]}}}
    });
    let set = FieldSet::of_config("Deployment", &cfg);
    let shown: Vec<String> = set.paths.iter().map(|p| path_string(p)).collect();
    assert_eq!(
        shown,
        vec![
            ".metadata.finalizers[=\"x/y\"]",
            ".metadata.labels.app",
            ".spec.replicas",
            ".spec.template.spec.containers[name=\"nginx\"]",
            ".spec.template.spec.containers[name=\"nginx\"].args",
            ".spec.template.spec.containers[name=\"nginx\"].image",
            ".spec.template.spec.containers[name=\"nginx\"].name",
        ]
    );
}

#[test]
fn fields_v1_round_trips_in_the_kubernetes_form() {
    let cfg = json!({"metadata": {"name": "c"}, "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x"}]}}}});
    let set = FieldSet::of_config("Deployment", &cfg);
    let v1 = set.to_fields_v1();
    assert_eq!(
        v1,
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
            "k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
    );
    assert_eq!(FieldSet::from_fields_v1(&v1), set);
    // What other servers write (and our own older objects' `{}`) reads without harm.
    assert!(FieldSet::from_fields_v1(&json!({})).paths.is_empty());
    assert!(FieldSet::from_fields_v1(&json!("junk")).paths.is_empty());
}

#[test]
fn reapplying_without_a_field_removes_it() {
    let first =
        json!({"metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "one", "j": "x"}});
    let second = json!({"metadata": {"name": "c"}, "data": {"k": "one"}});
    let current = first.clone();
    let plan = plan_apply(
        "ConfigMap",
        &current,
        &second,
        "kubectl",
        &owners(&[("kubectl", &first, "ConfigMap")]),
    );
    assert!(plan.conflicts.is_empty());
    let mut obj = current.clone();
    for p in &plan.removed {
        remove_at(&mut obj, p);
    }
    assert_eq!(
        obj,
        json!({"metadata": {"name": "c", "labels": {}}, "data": {"k": "one"}})
    );
}

#[test]
fn a_field_another_applier_owns_is_kept_and_a_dropped_container_goes() {
    let mine = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
    let theirs =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
    let now =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
    let current = mine.clone();
    let owners = owners(&[("me", &mine, "Deployment"), ("them", &theirs, "Deployment")]);
    let plan = plan_apply("Deployment", &current, &now, "me", &owners);
    let mut obj = current.clone();
    for p in &plan.removed {
        remove_at(&mut obj, p);
    }
    assert_eq!(obj, now);
    // Dropping "a" too keeps it: "them" still sets it.
    let none = json!({"spec": {"template": {"spec": {"containers": []}}}});
    let plan = plan_apply(
        "Deployment",
        &now,
        &json!({"spec": {"replicas": 1}}),
        "me",
        &owners,
    );
    let mut obj = now.clone();
    for p in &plan.removed {
        remove_at(&mut obj, p);
    }
    assert_eq!(obj, now, "{none}");
}

#[test]
fn a_different_value_for_another_appliers_field_conflicts() {
    let alice = json!({"data": {"k": "one"}});
    let bob = json!({"data": {"k": "two"}});
    let current = alice.clone();
    let owners = owners(&[("alice", &alice, "ConfigMap")]);
    let plan = plan_apply("ConfigMap", &current, &bob, "bob", &owners);
    assert_eq!(
        plan.conflicts,
        vec![Conflict {
            manager: "alice".into(),
            path: vec![Step::Field("data".into()), Step::Field("k".into())]
        }]
    );
    // The same value is shared ownership, not a conflict.
    let plan = plan_apply("ConfigMap", &current, &alice, "bob", &owners);
    assert!(plan.conflicts.is_empty());
}
