//! The container and volume sections shared by pod and pod-template descriptions: image,
//! ports, command, resources, environment, mounts, and (for pods) state, readiness, restarts.

use serde_json::Value;

use super::writer::{NONE, Writer, array, int, pairs, scalar, text};
use crate::output::age::rfc1123;

/// Where container sections sit: a pod's list names containers one level below the heading; a
/// pod template's (kubectl's quirk) one space in, at the heading's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Pod,
    Template,
}

/// Writes `Containers:` (or `Init Containers:`) for `containers` at `level`; `statuses` are the
/// pod's `containerStatuses` (empty for a template).
pub fn containers(
    w: &mut Writer,
    level: usize,
    title: &str,
    containers: &[Value],
    statuses: &[Value],
    layout: Layout,
) {
    if containers.is_empty() {
        return;
    }
    w.heading(level, title);
    for c in containers {
        let name = text(c, "/name");
        let l = match layout {
            Layout::Pod => {
                w.line(level + 1, format!("{name}:"));
                level + 2
            }
            Layout::Template => {
                w.line(level, format!(" {name}:"));
                level + 1
            }
        };
        let status = statuses.iter().find(|s| text(s, "/name") == name);
        if let Some(s) = status {
            w.field(l, "Container ID", text(s, "/containerID"));
        }
        w.field(l, "Image", text(c, "/image"));
        if let Some(s) = status {
            w.field(l, "Image ID", text(s, "/imageID"));
        }
        ports(w, l, c);
        list(w, l, "Command", array(c, "/command"));
        list(w, l, "Args", array(c, "/args"));
        if let Some(s) = status {
            state(w, l, "State", s.get("state"));
            if s.pointer("/lastState")
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                state(w, l, "Last State", s.get("lastState"));
            }
            w.field(
                l,
                "Ready",
                if s.get("ready").and_then(Value::as_bool) == Some(true) {
                    "True"
                } else {
                    "False"
                },
            );
            w.field(l, "Restart Count", int(s, "/restartCount", 0));
        }
        resources(w, l, "Limits", c.pointer("/resources/limits"));
        resources(w, l, "Requests", c.pointer("/resources/requests"));
        environment(w, l, array(c, "/env"));
        mounts(w, l, array(c, "/volumeMounts"));
    }
}

fn ports(w: &mut Writer, level: usize, c: &Value) {
    let ports = array(c, "/ports");
    let show = |key: &str| -> String {
        let parts: Vec<String> = ports
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    int(p, key, 0),
                    p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                )
            })
            .collect();
        if parts.is_empty() {
            NONE.to_string()
        } else {
            parts.join(", ")
        }
    };
    let label = if ports.len() > 1 { "Ports" } else { "Port" };
    w.field(level, label, show("/containerPort"));
    w.field(level, &format!("Host {label}"), show("/hostPort"));
}

fn list(w: &mut Writer, level: usize, label: &str, items: &[Value]) {
    if items.is_empty() {
        return;
    }
    w.heading(level, label);
    for item in items {
        w.line(level + 1, scalar(item));
    }
}

fn resources(w: &mut Writer, level: usize, label: &str, map: Option<&Value>) {
    let entries = pairs(map, ":\t");
    if entries.is_empty() {
        return;
    }
    w.heading(level, label);
    for e in entries {
        w.line(level + 1, e);
    }
}

/// `State:\tRunning` with its details beneath, as in kubectl.
fn state(w: &mut Writer, level: usize, label: &str, state: Option<&Value>) {
    let Some(state) = state.and_then(Value::as_object) else {
        w.field(level, label, "Waiting");
        return;
    };
    if let Some(running) = state.get("running") {
        w.field(level, label, "Running");
        w.field(level + 1, "Started", rfc1123(text(running, "/startedAt")));
    } else if let Some(waiting) = state.get("waiting") {
        w.field(level, label, "Waiting");
        w.field(level + 1, "Reason", text(waiting, "/reason"));
        let message = text(waiting, "/message");
        if !message.is_empty() {
            w.field(level + 1, "Message", message);
        }
    } else if let Some(t) = state.get("terminated") {
        w.field(level, label, "Terminated");
        w.field(level + 1, "Reason", text(t, "/reason"));
        let message = text(t, "/message");
        if !message.is_empty() {
            w.field(level + 1, "Message", message);
        }
        w.field(level + 1, "Exit Code", int(t, "/exitCode", 0));
        w.field(level + 1, "Started", rfc1123(text(t, "/startedAt")));
        w.field(level + 1, "Finished", rfc1123(text(t, "/finishedAt")));
    } else {
        w.field(level, label, "Waiting");
    }
}

fn environment(w: &mut Writer, level: usize, env: &[Value]) {
    if env.is_empty() {
        w.field(level, "Environment", NONE);
        return;
    }
    w.heading(level, "Environment");
    for e in env {
        let name = text(e, "/name");
        let value = if let Some(v) = e.get("value") {
            scalar(v)
        } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
            format!(
                "<set to the key '{}' in secret '{}'>",
                text(r, "/key"),
                text(r, "/name")
            )
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            format!(
                "<set to the key '{}' of config map '{}'>",
                text(r, "/key"),
                text(r, "/name")
            )
        } else if let Some(r) = e.pointer("/valueFrom/fieldRef") {
            format!(" ({}:{})", text(r, "/apiVersion"), text(r, "/fieldPath"))
        } else {
            String::new()
        };
        w.field(level + 1, name, value);
    }
}

fn mounts(w: &mut Writer, level: usize, mounts: &[Value]) {
    if mounts.is_empty() {
        w.field(level, "Mounts", NONE);
        return;
    }
    w.heading(level, "Mounts");
    for m in mounts {
        let ro = if m.get("readOnly").and_then(Value::as_bool) == Some(true) {
            "ro"
        } else {
            "rw"
        };
        w.line(
            level + 1,
            format!("{} from {} ({ro})", text(m, "/mountPath"), text(m, "/name")),
        );
    }
}

/// `Volumes:` with each volume's source.
pub fn volumes(w: &mut Writer, level: usize, volumes: &[Value]) {
    if volumes.is_empty() {
        w.field(level, "Volumes", NONE);
        return;
    }
    w.heading(level, "Volumes");
    for v in volumes {
        w.line(level + 1, format!("{}:", text(v, "/name")));
        let l = level + 2;
        let Some((kind, source)) = v
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() != "name"))
        else {
            continue;
        };
        match kind.as_str() {
            "emptyDir" => {
                w.field(
                    l,
                    "Type",
                    "EmptyDir (a temporary directory that shares a pod's lifetime)",
                );
                w.field(l, "Medium", text(source, "/medium"));
            }
            "configMap" => {
                w.field(l, "Type", "ConfigMap (a volume populated by a ConfigMap)");
                w.field(l, "Name", text(source, "/name"));
            }
            "secret" => {
                w.field(l, "Type", "Secret (a volume populated by a Secret)");
                w.field(l, "SecretName", text(source, "/secretName"));
            }
            "hostPath" => {
                w.field(l, "Type", "HostPath (bare host directory volume)");
                w.field(l, "Path", text(source, "/path"));
            }
            "persistentVolumeClaim" => {
                w.field(l, "Type", "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)");
                w.field(l, "ClaimName", text(source, "/claimName"));
            }
            other => w.field(l, "Type", other),
        }
    }
}

/// `Pod Template:` of a workload: labels, containers and volumes.
pub fn pod_template(w: &mut Writer, level: usize, template: Option<&Value>) {
    let empty = Value::Null;
    let t = template.unwrap_or(&empty);
    w.heading(level, "Pod Template");
    w.labels(level + 1, "Labels", t.pointer("/metadata/labels"));
    let annotations = t.pointer("/metadata/annotations");
    if annotations
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
    {
        w.annotations(level + 1, "Annotations", annotations);
    }
    let sa = text(t, "/spec/serviceAccountName");
    if !sa.is_empty() {
        w.field(level + 1, "Service Account", sa);
    }
    containers(
        w,
        level + 1,
        "Init Containers",
        array(t, "/spec/initContainers"),
        &[],
        Layout::Template,
    );
    containers(
        w,
        level + 1,
        "Containers",
        array(t, "/spec/containers"),
        &[],
        Layout::Template,
    );
    volumes(w, level + 1, array(t, "/spec/volumes"));
}
