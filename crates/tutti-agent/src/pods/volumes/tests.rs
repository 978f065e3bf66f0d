//! Volume planning and rendering, without touching the host.

use super::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::json;

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"}},
        "spec": {
            "containers": [{"name": "c", "image": "x", "volumeMounts": [
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "cache", "mountPath": "/cache", "subPath": "sub"},
                {"name": "cfg", "mountPath": "/etc/cfg"},
                {"name": "creds", "mountPath": "/etc/creds", "readOnly": false},
                {"name": "host", "mountPath": "/host", "readOnly": true},
            ]}],
            "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "cache", "emptyDir": {"medium": "Memory"}},
                {"name": "cfg", "configMap": {"name": "app-config", "items": [{"key": "a", "path": "conf/a.txt", "mode": 0o600}]}},
                {"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "mixed", "projected": {"sources": [{"configMap": {"name": "app-config"}}, {"secret": {"name": "db"}}]}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
            ]
        }
    }))
    .unwrap()
}

fn planned() -> Vec<Planned> {
    plan(
        &pod(),
        Path::new("/data/pods/u-1"),
        Path::new("/dev/shm/tutti/u-1"),
    )
}

fn objects() -> Objects {
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "app-config"}, "data": {"a": "A", "b": "B"}}),
    )
    .unwrap();
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "db"}, "data": {"password": "c2VjcmV0"}}),
    )
    .unwrap();
    let mut o = Objects::default();
    o.config_maps.insert("app-config".into(), Some(cm));
    o.secrets.insert("db".into(), Some(secret));
    o
}

fn facts(pod: &Pod) -> PodFacts<'_> {
    PodFacts {
        pod,
        pod_ip: "10.0.0.1",
        host_ip: "192.168.0.1",
        node_cpu_millis: 1000,
        node_memory_bytes: 1 << 30,
    }
}

#[test]
fn paths() {
    let paths: Vec<(String, String)> = planned()
        .into_iter()
        .map(|p| (p.name, p.path.display().to_string()))
        .collect();
    let want = [
        ("scratch", "/data/pods/u-1/volumes/empty-dir/scratch"),
        ("cache", "/dev/shm/tutti/u-1/volumes/empty-dir/cache"),
        ("cfg", "/data/pods/u-1/volumes/configmap/cfg"),
        ("creds", "/dev/shm/tutti/u-1/secrets/creds"),
        ("host", "/var/log"),
        ("info", "/data/pods/u-1/volumes/downward-api/info"),
        ("mixed", "/dev/shm/tutti/u-1/projected/mixed"),
        ("claim", "/data/pods/u-1/volumes/unsupported/claim"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(paths, want);
    assert_eq!(
        planned()[7].kind,
        Kind::Unsupported("persistentVolumeClaim".into())
    );
}

#[test]
fn files() {
    let p = pod();
    let f = facts(&p);
    let plan = planned();
    let o = objects();
    assert_eq!(
        render(&plan[2], &o, &f),
        Ok(vec![File {
            path: "conf/a.txt".into(),
            data: b"A".to_vec(),
            mode: 0o600
        }])
    );
    assert_eq!(
        render(&plan[3], &o, &f),
        Ok(vec![File {
            path: "password".into(),
            data: b"secret".to_vec(),
            mode: 0o400
        }])
    );
    assert_eq!(
        render(&plan[5], &o, &f),
        Ok(vec![File {
            path: "labels".into(),
            data: b"app=\"web\"\n".to_vec(),
            mode: 0o644
        }])
    );
    let mixed: Vec<String> = render(&plan[6], &o, &f)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(mixed, ["a", "b", "password"]);
    assert_eq!(render(&plan[0], &o, &f), Ok(vec![]));
}

#[test]
fn missing_objects() {
    let p = pod();
    let f = facts(&p);
    let plan = planned();
    let mut o = objects();
    o.config_maps.insert("app-config".into(), None);
    assert_eq!(
        render(&plan[2], &o, &f),
        Err("configmap \"app-config\" not found".into())
    );
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "app-config"}, "data": {"b": "B"}}))
            .unwrap();
    o.config_maps.insert("app-config".into(), Some(cm));
    assert_eq!(
        render(&plan[2], &o, &f),
        Err("configmap references non-existent config key: a".into())
    );
}

#[test]
fn container_mounts() {
    let p = pod();
    let c = &p.spec.as_ref().unwrap().containers[0];
    let m = mounts(c, &planned(), &Env::default()).unwrap();
    let view: Vec<(String, &str, bool)> = m
        .iter()
        .map(|m| {
            (
                m.host_path.display().to_string(),
                m.container_path.as_str(),
                m.read_only,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (
                "/data/pods/u-1/volumes/empty-dir/scratch".to_string(),
                "/scratch",
                false
            ),
            (
                "/dev/shm/tutti/u-1/volumes/empty-dir/cache/sub".to_string(),
                "/cache",
                false
            ),
            (
                "/data/pods/u-1/volumes/configmap/cfg".to_string(),
                "/etc/cfg",
                true
            ),
            (
                "/dev/shm/tutti/u-1/secrets/creds".to_string(),
                "/etc/creds",
                true
            ),
            ("/var/log".to_string(), "/host", true),
        ]
    );
}

#[test]
fn unsafe_paths() {
    assert!(safe_relative("a/b.txt"));
    assert!(!safe_relative("../etc/passwd"));
    assert!(!safe_relative("/etc/passwd"));
    assert!(!safe_relative("a/../../b"));
    assert!(!safe_relative(""));
}
