//! Tests for manifest reading: documents, line numbers, directories, JSON, Lists, errors and
//! the seed example.

use std::path::PathBuf;

use serde_json::json;

use tutti_core::defaults::default_seed_deployment as default_seed;

use super::*;

fn ok(entries: Vec<Entry>) -> Vec<Document> {
    entries
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("unexpected error: {e:#}")))
        .collect()
}

const MULTI: &str = "\
# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: one
---
---
# only a comment: not a document
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: two
--- # a comment on the separator
apiVersion: v1
kind: Service
metadata:
  name: three
";

#[test]
fn multi_document_yaml_keeps_numbers_and_lines() {
    let docs = ok(parse("multi.yaml", MULTI));
    let got: Vec<(usize, usize, &str, &str)> = docs
        .iter()
        .map(|d| (d.index, d.line, d.kind(), d.name()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2, "ConfigMap", "one"),
            (2, 10, "ConfigMap", "two"),
            (3, 15, "Service", "three")
        ]
    );
    assert_eq!(
        docs[1].location().to_string(),
        "multi.yaml: document 2 (line 10)"
    );
    assert_eq!(docs[2].title(), "Service \"three\"");
}

#[test]
fn yaml_syntax_errors_name_file_document_and_position() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\nkind: Service\nmetadata:\n  name: [unclosed\n---\nkind: Secret\nmetadata:\n  name: after\n";
    let entries = parse("bad.yaml", text);
    assert_eq!(
        entries.len(),
        3,
        "the documents around the bad one are still read"
    );
    let err = match &entries[1] {
        Err(e) => e.to_string(),
        Ok(d) => panic!("expected an error, got {d:?}"),
    };
    // The position is the file's, not the document's, and is not repeated in the message.
    assert_eq!(
        err,
        "bad.yaml: document 2 (line 6): YAML syntax error at line 8, column 9: unclosed bracket '['"
    );
    assert_eq!(entries[2].as_ref().map(Document::name).ok(), Some("after"));
}

#[test]
fn json_objects_and_lists_expand_to_documents() {
    let text = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}
  ]
}
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}
"#;
    let docs = ok(parse("list.json", text));
    let got: Vec<(usize, usize, Option<usize>, &str)> = docs
        .iter()
        .map(|d| (d.index, d.line, d.item, d.name()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, Some(1), "a"),
            (1, 1, Some(2), "b"),
            (2, 9, None, "c")
        ]
    );
    assert_eq!(
        docs[1].location().to_string(),
        "list.json: document 1 (line 1) item 2"
    );
}

#[test]
fn json_syntax_errors_give_the_position() {
    let entries = parse(
        "bad.json",
        "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": }\n}\n",
    );
    let err = entries
        .into_iter()
        .find_map(Result::err)
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("bad.json: document 1 (line 1): JSON syntax error at line 3, column "),
        "{err}"
    );
}

#[test]
fn yaml_lists_expand_too() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: x\n";
    let docs = ok(parse("l.yaml", text));
    assert_eq!(docs.len(), 1);
    assert_eq!((docs[0].item, docs[0].name()), (Some(1), "x"));
}

#[test]
fn a_scalar_document_is_an_error() {
    let entries = parse("s.yaml", "just a string\n");
    let err = entries
        .into_iter()
        .find_map(Result::err)
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("s.yaml: document 1 (line 1): expected an object"),
        "{err}"
    );
}

#[test]
fn a_directory_reads_its_manifests_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("b.yml", "kind: ConfigMap\nmetadata:\n  name: second\n");
    write("a.yaml", "kind: ConfigMap\nmetadata:\n  name: first\n");
    write(
        "c.json",
        r#"{"kind": "ConfigMap", "metadata": {"name": "third"}}"#,
    );
    write("notes.txt", "not a manifest");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/d.yaml"),
        "kind: ConfigMap\nmetadata:\n  name: nested\n",
    )
    .unwrap();

    let flat = ok(read_all(&[dir.path().to_path_buf()], false));
    let names: Vec<&str> = flat.iter().map(Document::name).collect();
    assert_eq!(names, vec!["first", "second", "third"]);
    assert!(flat[0].source.ends_with("a.yaml"));

    let deep = ok(read_all(&[dir.path().to_path_buf()], true));
    assert_eq!(deep.last().map(Document::name), Some("nested"));
}

#[test]
fn a_missing_file_is_an_error_entry() {
    let entries = read_all(&[PathBuf::from("/nonexistent/x.yaml")], false);
    let err = entries
        .into_iter()
        .find_map(Result::err)
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("/nonexistent/x.yaml"), "{err}");
}

/// The seed talk's manifest, verbatim from the shared `examples/seed-demo.yaml`.
const SEED_DEMO: &str = r#"# The demo from the seed talk "An Intro to Container Orchestrators", as written there:
# no apiVersion and no spec.selector (pre-apps/v1 style). `tutti apply` should accept it
# with the obvious defaults and a warning; kubectl rejects it client-side (no apiVersion).
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 3
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
---
kind: Service
metadata:
  name: nginx-service
  labels:
    name: nginx-service
spec:
  ports:
  - port: 80
    targetPort: 80
    protocol: TCP
  selector:
    app: nginx
  type: ClusterIP
"#;

#[test]
fn the_seed_demo_gets_defaults_with_warnings() {
    let mut docs = ok(parse("seed-demo.yaml", SEED_DEMO));
    assert_eq!(docs.len(), 2);
    assert_eq!((docs[0].index, docs[0].line), (1, 4));
    let deploy = default_seed(&mut docs[0].value);
    assert_eq!(deploy.len(), 2, "{deploy:?}");
    assert!(
        deploy[0].contains("apps/v1") && deploy[1].contains("app=nginx"),
        "{deploy:?}"
    );
    assert_eq!(docs[0].value["apiVersion"], "apps/v1");
    assert_eq!(
        docs[0].value["spec"]["selector"],
        json!({"matchLabels": {"app": "nginx"}})
    );
    let svc = default_seed(&mut docs[1].value);
    assert_eq!(svc.len(), 1, "{svc:?}");
    assert!(svc[0].contains("v1"), "{svc:?}");
    assert_eq!(
        docs[1].value["spec"]["selector"],
        json!({"app": "nginx"}),
        "a Service's selector is untouched"
    );
}
