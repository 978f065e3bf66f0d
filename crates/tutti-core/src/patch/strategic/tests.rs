use proptest::prelude::*;
use serde_json::{Value, json};

use crate::patch::{PatchError, merge_patch, strategic_merge_patch};

/// The nginx Deployment as stored (defaulted), with a sidecar to show what must be kept.
fn nginx() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"},
                     "finalizers": ["example.com/a", "example.com/b"]},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.14.2", "imagePullPolicy": "IfNotPresent",
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "3600"]}
                    ],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "restartPolicy": "Always"
                }
            }
        }
    })
}

fn smp(original: &Value, patch: Value) -> Value {
    strategic_merge_patch("Deployment", original, &patch).unwrap()
}

fn containers(d: &Value) -> &Vec<Value> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
}

fn no_directives(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .all(|(k, v)| !k.starts_with('$') && no_directives(v)),
        Value::Array(a) => a.iter().all(no_directives),
        _ => true,
    }
}

#[test]
fn set_image_changes_only_that_container() {
    // What `kubectl set image deployment/nginx nginx=nginx:1.16.1` sends.
    let out = smp(
        &nginx(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.16.1"}]}}}}),
    );
    let mut expected = nginx();
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.16.1");
    assert_eq!(out, expected);
}

#[test]
fn kubectl_apply_patch_with_element_order() {
    // What client-side `kubectl apply` sends after the image was edited in the manifest.
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.16.1", "name": "nginx"}]
        }}}
    });
    let out = smp(&nginx(), patch);
    assert_eq!(containers(&out)[0]["image"], "nginx:1.16.1");
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        containers(&out)[1],
        nginx()["spec"]["template"]["spec"]["containers"][1]
    );
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{...}"
    );
    assert!(no_directives(&out));
}

#[test]
fn element_order_reorders_and_deletes() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}],
        "containers": [{"name": "nginx", "$setElementOrder/env": [{"name": "B"}],
                        "env": [{"$patch": "delete", "name": "A"}]}]
    }}}});
    let out = smp(&nginx(), patch);
    let names: Vec<&str> = containers(&out)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecar", "nginx"]);
    assert_eq!(
        containers(&out)[1]["env"],
        json!([{"name": "B", "value": "2"}])
    );
    assert!(no_directives(&out));
}

#[test]
fn removing_a_container_with_a_delete_directive() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}]
    }}}});
    let out = smp(&nginx(), patch);
    assert_eq!(containers(&out).len(), 1);
    assert_eq!(containers(&out)[0]["name"], "nginx");
}

#[test]
fn new_list_items_come_first_like_kubernetes() {
    let out = smp(
        &nginx(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "logger", "image": "fluentd"}]}}}}),
    );
    let names: Vec<&str> = containers(&out)
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["logger", "nginx", "sidecar"]);
}

#[test]
fn ports_merge_by_container_port_and_env_by_name() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx",
        "ports": [{"containerPort": 443, "protocol": "TCP"}],
        "env": [{"name": "B", "value": "two"}]}]}}}});
    let out = smp(&nginx(), patch);
    let c = &containers(&out)[0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 443, "protocol": "TCP"}, {"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(
        c["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "two"}])
    );
}

#[test]
fn lists_without_merge_key_are_replaced() {
    let out = smp(
        &nginx(),
        json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "containers": [{"name": "sidecar", "args": ["sleep", "10"]}]}}}}),
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(containers(&out)[1]["args"], json!(["sleep", "10"]));
}

#[test]
fn list_replace_directive() {
    let out = smp(
        &nginx(),
        json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "alpine"}]}}}}),
    );
    assert_eq!(
        *containers(&out),
        vec![json!({"name": "only", "image": "alpine"})]
    );
}

#[test]
fn map_directives_and_nulls() {
    let out = smp(
        &nginx(),
        json!({"metadata": {"labels": {"$patch": "replace", "tier": "web"}},
        "spec": {"strategy": {"$patch": "delete"}, "replicas": null}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"tier": "web"}));
    assert!(out["spec"].get("strategy").is_none());
    assert!(out["spec"].get("replicas").is_none());
    let merged = smp(
        &nginx(),
        json!({"metadata": {"labels": {"$patch": "merge", "tier": "web"}}}),
    );
    assert_eq!(
        merged["metadata"]["labels"],
        json!({"app": "nginx", "tier": "web"})
    );
}

#[test]
fn retain_keys_switches_strategy() {
    // `kubectl apply` after changing the strategy to Recreate.
    let out = smp(
        &nginx(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
    );
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let err = strategic_merge_patch(
        "Deployment",
        &nginx(),
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::RetainKeys { .. }), "{err}");
}

#[test]
fn primitive_lists_union_and_delete() {
    let out = smp(
        &nginx(),
        json!({"metadata": {"finalizers": ["example.com/c", "example.com/a"]}}),
    );
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/c", "example.com/a", "example.com/b"])
    );
    let out = smp(
        &nginx(),
        json!({"metadata": {
        "$setElementOrder/finalizers": ["example.com/a", "example.com/c"],
        "$deleteFromPrimitiveList/finalizers": ["example.com/b"],
        "finalizers": ["example.com/c"]}}),
    );
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/c"])
    );
}

#[test]
fn scale_label_and_annotate_patches() {
    let out = smp(&nginx(), json!({"spec": {"replicas": 5}}));
    assert_eq!(out["spec"]["replicas"], 5);
    let out = smp(
        &nginx(),
        json!({"metadata": {"labels": {"env": "prod"}, "annotations": {"note": "x"}}}),
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "nginx", "env": "prod"})
    );
    assert_eq!(out["metadata"]["annotations"], json!({"note": "x"}));
    assert_eq!(out["spec"], nginx()["spec"]);
}

#[test]
fn service_ports_merge_by_port_and_pod_paths_work() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": "web"}}});
    let out = strategic_merge_patch(
        "Service",
        &svc,
        &json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}])
    );

    let pod =
        json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
    let out = strategic_merge_patch(
        "Pod",
        &pod,
        &json!({"spec": {"containers": [{"name": "b", "image": "z"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}])
    );
}

#[test]
fn directives_inside_new_values_do_not_leak() {
    let out = smp(
        &nginx(),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "x",
        "env": [{"name": "A", "value": "1"}, {"$patch": "delete", "name": "B"}],
        "resources": {"$patch": "replace", "limits": {"cpu": "1", "memory": null}}}]}}}}),
    );
    let c = &containers(&out)[0];
    assert_eq!(c["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(c["resources"], json!({"limits": {"cpu": "1"}}));
    assert!(no_directives(&out));
}

#[test]
fn errors_are_clear() {
    let err = strategic_merge_patch("Deployment", &nginx(), &json!([1])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a strategic merge patch must be a JSON object, got a list"
    );
    let err = strategic_merge_patch(
        "Deployment",
        &nginx(),
        &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "list item {\"image\":\"x\"} at spec.template.spec.containers does not contain its merge key \"name\""
    );
    let err = strategic_merge_patch(
        "Deployment",
        &nginx(),
        &json!({"spec": {"$patch": "frobnicate"}}),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown patch directive $patch: \"frobnicate\""),
        "{err}"
    );
    let err = strategic_merge_patch(
        "Deployment",
        &nginx(),
        &json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}],
        "containers": [{"name": "nginx", "image": "a"}]}}}}),
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::SetElementOrder { .. }), "{err}");
    let err = strategic_merge_patch("Deployment", &nginx(), &json!({"$bogus": 1})).unwrap_err();
    assert!(matches!(err, PatchError::UnknownDirective { .. }), "{err}");
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(|n| json!(n)),
        "[a-c]{0,2}".prop_map(Value::String),
    ]
}

/// JSON without lists of maps and without `$` keys.
fn doc() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(
                leaf().prop_filter("no nulls in lists", |v| !v.is_null()),
                0..3
            )
            .prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", doc(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn container_list() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::btree_map("[a-e]", ("[a-c]", 0u8..3), 0..5).prop_map(|m| {
        m.into_iter()
            .map(|(name, (image, port))| json!({"name": name, "image": image, "ports": [{"containerPort": 80 + u32::from(port)}]}))
            .collect()
    })
}

fn deployment(containers: Vec<Value>) -> Value {
    json!({"spec": {"template": {"spec": {"containers": containers}}}})
}

proptest! {
    #[test]
    fn without_merge_lists_it_is_a_json_merge_patch(target in object(), patch in object()) {
        let strategic = strategic_merge_patch("ConfigMap", &target, &patch).unwrap();
        prop_assert_eq!(strategic, merge_patch(&target, &patch));
    }

    #[test]
    fn applying_a_patch_twice_changes_nothing_more(original in container_list(), patched in container_list()) {
        let target = deployment(original);
        let patch = deployment(patched);
        let once = strategic_merge_patch("Deployment", &target, &patch).unwrap();
        let twice = strategic_merge_patch("Deployment", &once, &patch).unwrap();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn patching_one_container_keeps_the_others(original in container_list(), pick in any::<prop::sample::Index>(), image in "[x-z]") {
        prop_assume!(!original.is_empty());
        let target = deployment(original.clone());
        let i = pick.index(original.len());
        let name = original[i]["name"].clone();
        let patch = deployment(vec![json!({"name": name, "image": image})]);
        let out = strategic_merge_patch("Deployment", &target, &patch).unwrap();
        let list = out["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        prop_assert_eq!(list.len(), original.len());
        for (j, (before, after)) in original.iter().zip(list).enumerate() {
            if j == i {
                prop_assert_eq!(&after["image"], &json!(image));
                prop_assert_eq!(&after["ports"], &before["ports"]);
            } else {
                prop_assert_eq!(before, after);
            }
        }
    }

    #[test]
    fn element_order_is_honoured(original in container_list(), seed in any::<u64>()) {
        let mut order: Vec<Value> = original.iter().map(|c| json!({"name": c["name"]})).collect();
        // A deterministic shuffle from the seed.
        let n = order.len();
        for i in (1..n).rev() {
            let j = usize::try_from(seed.rotate_left(u32::try_from(i).unwrap()) % (i as u64 + 1)).unwrap();
            order.swap(i, j);
        }
        let patch = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": order.clone()}}}});
        let out = strategic_merge_patch("Deployment", &deployment(original), &patch).unwrap();
        let names: Vec<Value> = out["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().map(|c| json!({"name": c["name"]})).collect();
        prop_assert_eq!(names, order);
    }
}
