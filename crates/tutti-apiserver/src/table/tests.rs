use serde_json::json;

use super::fixtures::{ago, now};
use super::*;

const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "Service",
    "Endpoints",
    "EndpointSlice",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Namespace",
    "Node",
    "Lease",
    "Event",
    "Widget",
];

fn names(kind: &str, priority: i64) -> Vec<String> {
    columns(kind)
        .iter()
        .filter(|c| c["priority"] == priority)
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect()
}

#[test]
fn headers_kubectl_shows_by_default_and_with_wide() {
    assert_eq!(
        names("Pod", 0),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        names("Pod", 1),
        ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    );
    assert_eq!(
        names("Deployment", 0),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(names("Deployment", 1), ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(
        names("DaemonSet", 0),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ]
    );
    assert_eq!(names("StatefulSet", 1), ["CONTAINERS", "IMAGES"]);
    assert_eq!(
        names("Job", 0),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(
        names("CronJob", 0),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    assert_eq!(
        names("Service", 0),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(names("Service", 1), ["SELECTOR"]);
    assert_eq!(
        names("Node", 0),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(
        names("Node", 1),
        [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert_eq!(
        names("Event", 0),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        names("Event", 1),
        ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"]
    );
    assert_eq!(names("Secret", 0), ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(names("Widget", 0), ["NAME", "AGE"]);
}

#[test]
fn every_kind_fills_every_column_even_for_an_empty_object() {
    for kind in KINDS {
        let cols = columns(kind);
        assert_eq!(cells(kind, &json!({}), now()).len(), cols.len(), "{kind}");
        assert_eq!(cells(kind, &json!(null), now()).len(), cols.len(), "{kind}");
        for col in &cols {
            let fields: Vec<&str> = col
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                fields,
                ["name", "type", "format", "description", "priority"],
                "{kind}"
            );
        }
    }
    assert_eq!(columns("Pod")[0]["format"], "name");
    assert_eq!(columns("Pod")[1]["format"], "");
}

#[test]
fn table_with_metadata_objects_and_list_meta() {
    let pods = [
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "default", "resourceVersion": "41", "creationTimestamp": ago(60)},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "default"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Succeeded"}}),
    ];
    let t = table(
        "Pod",
        &pods,
        json!({"resourceVersion": "42", "continue": "", "remainingItemCount": null}),
        IncludeObject::Metadata,
        now(),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
    assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
    assert_eq!(
        t["rows"][0]["cells"].as_array().unwrap()[..5],
        [
            json!("a"),
            json!("0/1"),
            json!("Running"),
            json!("0"),
            json!("60s")
        ]
    );
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "a", "namespace": "default", "resourceVersion": "41", "creationTimestamp": ago(60)}})
    );
    assert!(t["rows"][0].get("conditions").is_none());
    assert_eq!(t["rows"][1]["conditions"][0]["type"], "Completed");
}

#[test]
fn table_object_modes_and_paging() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    let none = table(
        "ConfigMap",
        std::slice::from_ref(&cm),
        json!({"resourceVersion": "7", "continue": "tok", "remainingItemCount": 3}),
        IncludeObject::None,
        now(),
    );
    assert!(none["rows"][0].get("object").is_none());
    assert_eq!(
        none["metadata"],
        json!({"resourceVersion": "7", "continue": "tok", "remainingItemCount": 3})
    );
    let full = table(
        "ConfigMap",
        std::slice::from_ref(&cm),
        json!(null),
        IncludeObject::Object,
        now(),
    );
    assert_eq!(full["rows"][0]["object"], cm);
    assert_eq!(full["metadata"], json!({}));
    let empty = table("ConfigMap", &[], json!({}), IncludeObject::Metadata, now());
    assert_eq!(empty["rows"], json!([]));
}

#[test]
fn unknown_kinds_print_name_and_age() {
    let obj = json!({"metadata": {"name": "w", "creationTimestamp": ago(3 * 3600)}});
    assert_eq!(cells("Widget", &obj, now()), [json!("w"), json!("3h")]);
}

#[test]
fn include_object_parses_like_kube() {
    assert_eq!("".parse(), Ok(IncludeObject::Metadata));
    assert_eq!("Metadata".parse(), Ok(IncludeObject::Metadata));
    assert_eq!("None".parse(), Ok(IncludeObject::None));
    assert_eq!("Object".parse(), Ok(IncludeObject::Object));
    assert_eq!(IncludeObject::default(), IncludeObject::Metadata);
    assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
    assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
    assert_eq!(IncludeObject::parse(Some("bogus")), IncludeObject::Metadata);
    let err = "object".parse::<IncludeObject>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "includeObject: Invalid value: \"object\": must be 'Metadata', 'Object', 'None', or empty"
    );
}
