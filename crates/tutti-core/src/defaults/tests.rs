use serde_json::{Value, json};

use super::apply_defaults;

fn defaulted(kind: &str, mut obj: Value) -> Value {
    apply_defaults(kind, &mut obj);
    obj
}

fn nginx_deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}})
}

#[test]
fn deployment_looks_like_a_cluster_shows_it() {
    let d = defaulted("Deployment", nginx_deployment());
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 3, "a given value is kept");
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["enableServiceLinks"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["resources"], json!({}));
    assert_eq!(c["ports"][0]["protocol"], "TCP");
}

#[test]
fn defaulting_is_idempotent_and_keeps_user_values() {
    let mut d = nginx_deployment();
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    let once = defaulted("Deployment", d);
    assert_eq!(once["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(
        once["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Never"
    );
    assert_eq!(defaulted("Deployment", once.clone()), once);
}

#[test]
fn pods_get_requests_from_limits_but_templates_do_not() {
    let pod = json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.36",
        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}}}]}});
    let p = defaulted("Pod", pod.clone());
    let c = &p["spec"]["containers"][0];
    assert_eq!(
        c["resources"]["requests"],
        json!({"memory": "64Mi", "cpu": "500m"})
    );
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");

    let rs = defaulted("ReplicaSet", json!({"spec": {"template": pod}}));
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(
        rs["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"],
        json!({"memory": "64Mi"})
    );
}

#[test]
fn probes_volumes_and_env_are_defaulted() {
    let pod = json!({"spec": {"containers": [{"name": "c", "image": "x",
        "livenessProbe": {"httpGet": {"port": 80}},
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}],
        "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]}});
    let p = defaulted("Pod", pod);
    let probe = &p["spec"]["containers"][0]["livenessProbe"];
    assert_eq!(
        *probe,
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        p["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
        "v1"
    );
    assert_eq!(
        p["spec"]["volumes"][0],
        json!({"name": "scratch", "emptyDir": {}})
    );
    assert_eq!(p["spec"]["volumes"][1]["configMap"]["defaultMode"], 420);
}

#[test]
fn workloads_get_their_strategies() {
    let ds = defaulted(
        "DaemonSet",
        json!({"spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);

    let sts = defaulted(
        "StatefulSet",
        json!({"spec": {"template": {"spec": {"containers": []}}}}),
    );
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let on_delete = defaulted(
        "StatefulSet",
        json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
    );
    assert_eq!(
        on_delete["spec"]["updateStrategy"],
        json!({"type": "OnDelete"})
    );
}

#[test]
fn jobs_and_cron_jobs() {
    let job = defaulted(
        "Job",
        json!({"metadata": {"name": "pi"}, "spec": {"template": {"metadata": {"labels": {"app": "pi"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}}}),
    );
    let spec = &job["spec"];
    assert_eq!(
        (
            &spec["parallelism"],
            &spec["completions"],
            &spec["backoffLimit"]
        ),
        (&json!(1), &json!(1), &json!(6))
    );
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(job["metadata"]["labels"], json!({"app": "pi"}));

    let parallel = defaulted("Job", json!({"spec": {"parallelism": 3}}));
    assert!(
        parallel["spec"].get("completions").is_none(),
        "work-queue jobs keep completions unset"
    );

    let cj = defaulted(
        "CronJob",
        json!({"spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox:1.28"}]}}}}}}),
    );
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    assert_eq!(
        spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
}

#[test]
fn services() {
    let svc = defaulted(
        "Service",
        json!({"spec": {"ports": [{"port": 6379}], "selector": {"app": "redis"}}}),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(
        spec["ports"][0],
        json!({"port": 6379, "protocol": "TCP", "targetPort": 6379})
    );
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert!(spec.get("externalTrafficPolicy").is_none());

    let np = defaulted(
        "Service",
        json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}}),
    );
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(np["spec"]["ports"][0]["targetPort"], "http");

    let ext = defaulted(
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
    );
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());

    let fixed = defaulted(
        "Service",
        json!({"spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}}),
    );
    assert_eq!(fixed["spec"]["clusterIPs"], json!(["10.96.0.10"]));

    let sticky = defaulted("Service", json!({"spec": {"sessionAffinity": "ClientIP"}}));
    assert_eq!(
        sticky["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
}

#[test]
fn secrets_namespaces_endpoints_nodes() {
    let s = defaulted(
        "Secret",
        json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"password": "aHVudGVyMg=="}));
    assert!(s.get("stringData").is_none());

    let ns = defaulted("Namespace", json!({"metadata": {"name": "dev"}}));
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "dev"
    );

    let ep = defaulted("Endpoints", json!({"subsets": [{"ports": [{"port": 80}]}]}));
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");

    let node = defaulted("Node", json!({"status": {"capacity": {"cpu": "2"}}}));
    assert_eq!(node["status"]["allocatable"], json!({"cpu": "2"}));
}

#[test]
fn pod_disruption_budget_status_counts_show_as_zero() {
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"}, "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1}});
    let d = defaulted("PodDisruptionBudget", pdb);
    assert_eq!(
        d["status"],
        json!({"disruptionsAllowed": 1, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
    );
    assert_eq!(
        d["spec"],
        json!({"minAvailable": 2}),
        "the spec is left alone"
    );
    let bare = defaulted(
        "PodDisruptionBudget",
        json!({"kind": "PodDisruptionBudget", "metadata": {"name": "x"}}),
    );
    assert!(bare.get("status").is_none(), "no status is invented");
}

#[test]
fn endpoint_slice_ports_get_a_name_and_a_protocol() {
    let slice = defaulted(
        "EndpointSlice",
        json!({"addressType": "IPv4", "endpoints": [],
            "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
    );
    assert_eq!(
        slice["ports"],
        json!([{"port": 80, "name": "", "protocol": "TCP"},
               {"name": "dns", "port": 53, "protocol": "UDP"}])
    );
    let placeholder = defaulted(
        "EndpointSlice",
        json!({"addressType": "IPv4", "endpoints": null}),
    );
    assert!(
        placeholder.get("ports").is_none(),
        "absent ports stay absent"
    );
}
