//! Real manifests (copied from /work/shared/examples into tests/fixtures) must pass decode,
//! defaulting and validation unchanged; broken ones must fail at the field a user would fix.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tutti_core::decode::{decode_typed, unknown_fields};
use tutti_core::defaults::{apply_defaults, default_seed_deployment};
use tutti_core::validation::validate;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

fn load(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn kind(doc: &Value) -> String {
    doc["kind"].as_str().unwrap().to_string()
}

/// What the API server does on create: decode, default, validate.
fn admit(doc: &Value) -> Result<Value, Vec<String>> {
    let kind = kind(doc);
    decode_typed(&kind, doc)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut obj = doc.clone();
    apply_defaults(&kind, &mut obj);
    let errs = validate(&kind, &obj);
    if errs.is_empty() {
        Ok(obj)
    } else {
        Err(errs.iter().map(ToString::to_string).collect())
    }
}

fn errors(doc: Value) -> Vec<String> {
    admit(&doc).expect_err("expected the manifest to be rejected")
}

#[test]
fn every_example_manifest_is_accepted_unchanged() {
    let mut files = Vec::new();
    yaml_files(&fixtures(), &mut files);
    files.sort();
    assert!(files.len() >= 12, "fixtures missing: {files:?}");
    let mut checked = 0;
    for file in files.iter().filter(|f| !f.ends_with("seed-demo.yaml")) {
        for doc in load(file) {
            let k = kind(&doc);
            assert_eq!(
                unknown_fields(&k, &doc),
                Vec::<String>::new(),
                "{}",
                file.display()
            );
            let defaulted =
                admit(&doc).unwrap_or_else(|e| panic!("{}: {k} rejected: {e:#?}", file.display()));
            assert_eq!(
                decode_typed(&k, &defaulted),
                Ok(()),
                "defaults must stay typed-valid"
            );
            let mut again = defaulted.clone();
            apply_defaults(&k, &mut again);
            assert_eq!(again, defaulted, "defaulting is idempotent");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 18,
        "2 nginx + 1 docs + 6 guestbook + 9 voting app documents"
    );
}

#[test]
fn the_seed_demo_is_accepted_with_warnings() {
    let docs = load(&fixtures().join("seed-demo.yaml"));
    let deployment = docs[0].clone();
    // As kubectl would send it, it is invalid: no selector.
    let errs = errors(deployment.clone());
    assert_eq!(errs[0], "spec.selector: Required value");
    assert_eq!(
        errs[1],
        "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`"
    );
    let mut fixed = deployment;
    let warnings = default_seed_deployment(&mut fixed);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let out = admit(&fixed).unwrap();
    assert_eq!(out["apiVersion"], "apps/v1");
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "nginx"}})
    );

    let mut service = docs[1].clone();
    assert_eq!(
        default_seed_deployment(&mut service),
        vec!["Service \"nginx-service\": no apiVersion given; assuming v1"]
    );
    assert!(admit(&service).is_ok());
}

fn nginx() -> Value {
    load(&fixtures().join("nginx.yaml"))[0].clone()
}

fn container(d: &mut Value) -> &mut Value {
    &mut d["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn missing_image() {
    let mut d = nginx();
    container(&mut d).as_object_mut().unwrap().remove("image");
    assert_eq!(
        errors(d),
        ["spec.template.spec.containers[0].image: Required value"]
    );
}

#[test]
fn bad_name() {
    let mut d = nginx();
    d["metadata"]["name"] = json!("Foo_Bar");
    assert_eq!(
        errors(d),
        [
            "metadata.name: Invalid value: \"Foo_Bar\": a lowercase RFC 1123 subdomain must consist of lower case \
          alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. \
          'example.com', regex used for validation is \
          '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ]
    );
}

#[test]
fn selector_not_matching_template_labels() {
    let mut d = nginx();
    d["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
    assert_eq!(
        errors(d),
        [
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
        ]
    );
}

#[test]
fn replicas_of_the_wrong_type() {
    let mut d = nginx();
    d["spec"]["replicas"] = json!("three");
    assert_eq!(
        errors(d),
        ["spec.replicas: Invalid value: \"three\": expected i32"]
    );
}

#[test]
fn port_out_of_range() {
    let mut d = nginx();
    container(&mut d)["ports"][0]["containerPort"] = json!(70000);
    assert_eq!(
        errors(d),
        [
            "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
        ]
    );
}

#[test]
fn unknown_field_is_reported_but_not_fatal() {
    let mut d = nginx();
    container(&mut d)["imagePullPolicyy"] = json!("Always");
    assert_eq!(
        unknown_fields("Deployment", &d),
        ["spec.template.spec.containers[0].imagePullPolicyy"]
    );
    assert!(admit(&d).is_ok());
}

#[test]
fn several_problems_are_reported_together() {
    let mut d = nginx();
    d["spec"]["replicas"] = json!(-1);
    container(&mut d)["name"] = json!("Web_1");
    container(&mut d)["resources"] =
        json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1", "memory": "lots"}});
    container(&mut d)["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    let errs = errors(d);
    let fields: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "spec.replicas",
            "spec.template.spec.containers[0].name",
            "spec.template.spec.containers[0].resources.limits[memory]",
            "spec.template.spec.containers[0].resources.requests",
            "spec.template.spec.containers[0].volumeMounts[0].name",
        ],
        "{errs:#?}"
    );
    assert!(
        errs[3].ends_with("must be less than or equal to cpu limit of 1"),
        "{}",
        errs[3]
    );
    assert!(errs[4].ends_with("Not found: \"data\""), "{}", errs[4]);
}

#[test]
fn broken_services() {
    let svc = load(&fixtures().join("nginx.yaml"))[1].clone();
    let mut bad = svc.clone();
    bad["metadata"]["name"] = json!("1nginx");
    bad["spec"]["ports"] =
        json!([{"port": 70000}, {"port": 81, "name": "http", "nodePort": 40000}]);
    bad["spec"]["type"] = json!("NodePort");
    let errs = errors(bad);
    let fields: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "spec.ports[0].name",
            "spec.ports[0].port",
            "spec.ports[0].targetPort",
            "spec.ports[1].nodePort"
        ],
        "{errs:#?}"
    );
    assert!(
        errs[0].contains("a DNS-1035 label must consist of"),
        "{}",
        errs[0]
    );
    assert!(
        errs[4].ends_with("The range of valid ports is 30000-32767"),
        "{}",
        errs[4]
    );

    let mut bad = svc;
    bad["spec"]["type"] = json!("Ingress");
    bad["spec"]["clusterIP"] = json!("10.0.0.300");
    let errs = errors(bad);
    assert!(errs.contains(&"spec.type: Unsupported value: \"Ingress\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string()), "{errs:#?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("spec.clusterIPs[0]: Invalid value: \"10.0.0.300\"")),
        "{errs:#?}"
    );
}

#[test]
fn broken_jobs_and_cron_jobs() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}}});
    assert_eq!(
        errors(job),
        [
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ]
    );
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
        "spec": {"schedule": "* * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "hello", "image": "busybox:1.28"}]}}}}}});
    assert_eq!(
        errors(cron),
        ["spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"]
    );
}
