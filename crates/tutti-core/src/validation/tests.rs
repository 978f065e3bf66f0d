use serde_json::{Value, json};

use super::{validate, validate_update};
use crate::defaults::apply_defaults;

fn check(kind: &str, mut obj: Value) -> Vec<String> {
    apply_defaults(kind, &mut obj);
    validate(kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

#[test]
fn pods_need_containers_with_unique_names() {
    assert_eq!(
        check("Pod", pod(json!({"containers": []}))),
        ["spec.containers: Required value"]
    );
    let errs = check(
        "Pod",
        pod(json!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]})),
    );
    assert_eq!(errs, ["spec.containers[1].name: Duplicate value: \"a\""]);
    let errs = check(
        "Pod",
        pod(
            json!({"initContainers": [{"name": "a", "image": "x"}], "containers": [{"name": "a", "image": "y"}]}),
        ),
    );
    assert_eq!(errs, ["spec.containers[0].name: Duplicate value: \"a\""]);
}

#[test]
fn pod_policies_and_ports() {
    let errs = check(
        "Pod",
        pod(
            json!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x",
        "ports": [{"containerPort": 80, "name": "http", "protocol": "HTTP"}, {"containerPort": 81, "name": "http"}]}]}),
        ),
    );
    assert_eq!(
        errs,
        [
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ]
    );
    let errs = check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "name": "1234"}]}]}),
        ),
    );
    assert_eq!(
        errs,
        [
            "spec.containers[0].ports[0].name: Invalid value: \"1234\": must contain at least one letter (a-z)"
        ]
    );
}

#[test]
fn env_and_volumes() {
    let errs = check(
        "Pod",
        pod(json!({
        "containers": [{"name": "a", "image": "x",
            "env": [{"name": "A=B"}, {"name": "C", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "cfg", "mountPath": "/etc/cfg"}]}],
        "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "cfg", "emptyDir": {}},
                    {"name": "two", "emptyDir": {}, "configMap": {"name": "c"}}]})),
    );
    assert_eq!(
        errs,
        [
            "spec.volumes[1].name: Duplicate value: \"cfg\"",
            "spec.volumes[2].emptyDir: Forbidden: may not specify more than 1 volume type",
            "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/etc/cfg\": must be unique",
        ]
    );
}

#[test]
fn probes() {
    let errs = check(
        "Pod",
        pod(json!({"containers": [{"name": "a", "image": "x",
        "livenessProbe": {"successThreshold": 2, "httpGet": {"port": 0}},
        "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": "http"}}}]})),
    );
    assert_eq!(
        errs,
        [
            "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
        ]
    );
    let errs = check(
        "Pod",
        pod(
            json!({"containers": [{"name": "a", "image": "x", "startupProbe": {"periodSeconds": -1}}]}),
        ),
    );
    assert_eq!(
        errs,
        [
            "spec.containers[0].startupProbe: Required value: must specify a handler type",
            "spec.containers[0].startupProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        ]
    );
}

#[test]
fn resources() {
    let ok = check(
        "Pod",
        pod(json!({"containers": [{"name": "a", "image": "x",
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": 1, "memory": "1Gi", "example.com/gpu": 1}}}]})),
    );
    assert!(ok.is_empty(), "{ok:?}");
    // On a template (a Pod would also copy the limits into the requests).
    let errs = check(
        "Deployment",
        deployment(json!({"template": {"spec": {"containers": [{"name": "web",
        "resources": {"limits": {"cpu": "-1", "gpu": "1", "memory": "1Mb"}}}]}}})),
    );
    assert_eq!(
        errs,
        [
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            "spec.template.spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
            "spec.template.spec.containers[0].resources.limits[memory]: Invalid value: \"1Mb\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ]
    );
}

fn deployment(spec_patch: Value) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    json_patch::merge(&mut d["spec"], &spec_patch);
    d
}

#[test]
fn deployment_rules() {
    assert!(check("Deployment", deployment(json!({}))).is_empty());
    let errs = check(
        "Deployment",
        deployment(json!({"selector": {"matchLabels": null}})),
    );
    assert_eq!(
        errs,
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ]
    );
    let errs = check(
        "Deployment",
        deployment(json!({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}})),
    );
    assert_eq!(
        errs,
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
        ]
    );
    let errs = check(
        "Deployment",
        deployment(json!({"strategy": {"type": "BlueGreen"}})),
    );
    assert_eq!(
        errs,
        [
            "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\""
        ]
    );
    let errs = check(
        "Deployment",
        deployment(json!({"strategy": {"rollingUpdate": {"maxUnavailable": "150%"}}})),
    );
    assert_eq!(
        errs,
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        ]
    );
    let errs = check(
        "Deployment",
        deployment(json!({"template": {"spec": {"restartPolicy": "Never"}}})),
    );
    assert_eq!(
        errs,
        [
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ]
    );
    let errs = check(
        "Deployment",
        deployment(json!({"selector": {"matchExpressions": [{"key": "tier", "operator": "In"}]}})),
    );
    assert_eq!(
        errs[0],
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
    );
}

#[test]
fn other_workloads() {
    let tpl = json!({"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:15"}]}});
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": tpl.clone()}});
    assert!(check("StatefulSet", sts.clone()).is_empty());
    let mut bad = sts;
    bad["spec"]["podManagementPolicy"] = json!("Random");
    assert_eq!(
        check("StatefulSet", bad),
        [
            "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"
        ]
    );

    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": tpl.clone(),
            "updateStrategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}});
    assert_eq!(
        check("DaemonSet", ds),
        [
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
        ]
    );

    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "db-abc"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "template": tpl}});
    assert!(check("ReplicaSet", rs).is_empty());
}

#[test]
fn cron_jobs() {
    let cj = |schedule: &str| {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
        "spec": {"schedule": schedule, "concurrencyPolicy": "Sometimes", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox:1.28"}]}}}}}})
    };
    assert_eq!(
        check("CronJob", cj("@hourly")),
        [
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""
        ]
    );
    let errs = check("CronJob", cj("61 * * * *"));
    assert_eq!(
        errs[0],
        "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"
    );
    let errs = check("CronJob", cj("CRON_TZ=UTC 0 * * * *"));
    assert!(
        errs.iter().any(
            |e| e.ends_with("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        ),
        "{errs:?}"
    );
}

#[test]
fn services() {
    let svc = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec});
    assert_eq!(
        check("Service", svc(json!({"selector": {"app": "web"}}))),
        ["spec.ports: Required value"]
    );
    assert!(
        check(
            "Service",
            svc(json!({"clusterIP": "None", "selector": {"app": "web"}}))
        )
        .is_empty()
    );
    assert!(
        check(
            "Service",
            svc(json!({"type": "ExternalName", "externalName": "example.com"}))
        )
        .is_empty()
    );
    assert_eq!(
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "nodePort": 30080}]}))
        ),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
    assert_eq!(
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "name": "http"}, {"port": 80, "name": "web"}]}))
        ),
        ["spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}"]
    );
    assert_eq!(
        check(
            "Service",
            svc(json!({"ports": [{"port": 80, "targetPort": "HTTP"}]}))
        ),
        [
            "spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
        ]
    );
    assert_eq!(
        check(
            "Service",
            svc(json!({"clusterIP": "None", "type": "NodePort", "ports": [{"port": 80}]}))
        ),
        [
            "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"
        ]
    );
}

#[test]
fn config_maps_and_secrets() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"bad/key": "x", "ok.key": "y"}});
    let errs = check("ConfigMap", cm);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters"));
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "x".repeat(super::MAX_SECRET_SIZE + 1)}});
    assert_eq!(
        check("ConfigMap", big),
        ["data: Too long: may not be more than 1048576 bytes"]
    );
    let tls = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}});
    assert_eq!(check("Secret", tls), ["data[tls.key]: Required value"]);
}

#[test]
fn cluster_kinds() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "my.ns"}});
    assert!(
        check("Namespace", ns)[0]
            .starts_with("metadata.name: Invalid value: \"my.ns\": a lowercase RFC 1123 label")
    );
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"podCIDRs": ["10.244.1.0/24"], "taints": [{"key": "k", "effect": "Sometimes"}]}});
    assert_eq!(
        check("Node", node),
        [
            "spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        ]
    );
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 0}});
    assert_eq!(
        check("Lease", lease),
        ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    );
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Pod"}});
    assert_eq!(
        check("Binding", binding),
        [
            "target.kind: Unsupported value: \"Pod\": supported values: \"Node\", \"<empty>\"",
            "target.name: Required value"
        ]
    );
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": -2}});
    assert_eq!(
        check("Scale", scale),
        ["spec.replicas: Invalid value: -2: must be greater than or equal to 0"]
    );
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}, "reason": "Started"});
    assert_eq!(
        check("Event", event),
        ["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
    );
    assert!(check("Widget", json!({}))[0].starts_with("kind: Unsupported value: \"Widget\""));
}

#[test]
fn selectors_are_immutable() {
    let old = deployment(json!({}));
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(5);
    assert!(validate_update("Deployment", &old, &new).is_empty());
    new["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
    let errs = validate_update("Deployment", &old, &new);
    assert_eq!(
        errs[0].to_string(),
        "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web2\"}}: field is immutable"
    );
}

#[test]
fn cluster_ips_may_not_change() {
    let old = json!({"spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 53}]}});
    let mut new = old.clone();
    new["spec"]["ports"] = json!([{"port": 5353}]);
    assert!(validate_update("Service", &old, &new).is_empty());
    new["spec"]["clusterIP"] = json!("10.96.0.11");
    new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
    let errs = validate_update("Service", &old, &new);
    assert_eq!(
        errs[0].to_string(),
        "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
    );
}

#[test]
fn pod_updates_are_limited() {
    let old = pod(
        json!({"containers": [{"name": "a", "image": "x"}], "tolerations": [{"key": "k", "operator": "Exists"}]}),
    );
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("y");
    new["spec"]["tolerations"] =
        json!([{"key": "k", "operator": "Exists"}, {"key": "j", "operator": "Exists"}]);
    new["metadata"]["labels"] = json!({"a": "b"});
    assert!(validate_update("Pod", &old, &new).is_empty());
    new["spec"]["restartPolicy"] = json!("Never");
    let errs = validate_update("Pod", &old, &new);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.starts_with(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    ));
    assert!(
        errs[0].message.ends_with("changed: spec.restartPolicy"),
        "{}",
        errs[0].message
    );
    new["metadata"]["name"] = json!("other");
    assert_eq!(
        validate_update("Pod", &old, &new)[0].to_string(),
        "metadata.name: Invalid value: \"other\": field is immutable"
    );
}

#[test]
fn job_templates_and_immutable_config() {
    let old =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
    assert_eq!(validate_update("Job", &old, &new)[0].field, "spec.template");
    let mut suspended = old.clone();
    suspended["spec"]["suspend"] = json!(true);
    let mut moved = suspended.clone();
    moved["spec"]["template"]["spec"]["nodeSelector"] = json!({"zone": "a"});
    assert!(validate_update("Job", &suspended, &moved).is_empty());

    let old = json!({"immutable": true, "data": {"a": "1"}});
    let new = json!({"immutable": true, "data": {"a": "2"}});
    assert_eq!(
        validate_update("ConfigMap", &old, &new)[0].to_string(),
        "data: Forbidden: field is immutable when `immutable` is set"
    );
}
