//! A container's environment as kubelet builds it — `envFrom` (ConfigMaps/Secrets, with
//! prefix) then `env` in order, each value `$(VAR)`-expanded against the variables before
//! it — and its command and args expanded against the result.

use k8s_openapi::api::core::v1::{Container, EnvVar};

use super::downward::{self, PodFacts};
use super::expand::expand;
use super::sources::Objects;

/// An ordered environment where a later definition replaces an earlier one in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn expand(&self, s: &str) -> String {
        expand(s, |name| self.get(name))
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Names an environment can hold: anything printable without `=` (Kubernetes 1.33).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('=') && name.chars().all(|c| (' '..='~').contains(&c))
}

/// Build `c`'s environment. Errors are the `CreateContainerConfigError` messages kubelet
/// gives (`configmap "x" not found`, `couldn't find key k in Secret ns/x`).
pub fn container_env(c: &Container, facts: &PodFacts, objects: &Objects) -> Result<Env, String> {
    let ns = facts.pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env = Env::default();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let data = if let Some(r) = &from.config_map_ref {
            let data = objects.config_map(&r.name);
            if data.is_none() && r.optional != Some(true) {
                return Err(format!("configmap \"{}\" not found", r.name));
            }
            data
        } else if let Some(r) = &from.secret_ref {
            let data = objects.secret(&r.name);
            if data.is_none() && r.optional != Some(true) {
                return Err(format!("secret \"{}\" not found", r.name));
            }
            data
        } else {
            continue;
        };
        for (k, v) in data.into_iter().flatten() {
            let name = format!("{prefix}{k}");
            if valid_name(&name) {
                env.set(&name, String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    for var in c.env.iter().flatten() {
        if let Some(value) = env_value(var, c, facts, objects, &env, ns)? {
            env.set(&var.name, value);
        }
    }
    Ok(env)
}

/// One `env` entry's value; `None` when an optional source is missing (the variable is
/// then not set at all).
fn env_value(
    var: &EnvVar,
    c: &Container,
    facts: &PodFacts,
    objects: &Objects,
    env: &Env,
    ns: &str,
) -> Result<Option<String>, String> {
    let Some(from) = &var.value_from else {
        return Ok(Some(env.expand(var.value.as_deref().unwrap_or(""))));
    };
    if let Some(r) = &from.config_map_key_ref {
        let optional = r.optional == Some(true);
        let Some(data) = objects.config_map(&r.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(format!("configmap \"{}\" not found", r.name))
            };
        };
        return match data.get(&r.key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {} in ConfigMap {ns}/{}",
                r.key, r.name
            )),
        };
    }
    if let Some(r) = &from.secret_key_ref {
        let optional = r.optional == Some(true);
        let Some(data) = objects.secret(&r.name) else {
            return if optional {
                Ok(None)
            } else {
                Err(format!("secret \"{}\" not found", r.name))
            };
        };
        return match data.get(&r.key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {} in Secret {ns}/{}",
                r.key, r.name
            )),
        };
    }
    if let Some(f) = &from.field_ref {
        return downward::field_value(&f.field_path, facts).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        return downward::resource_value(r, c, facts).map(Some);
    }
    Ok(Some(String::new()))
}

/// `command` and `args` with `$(VAR)` expanded against the container's environment.
pub fn command_and_args(c: &Container, env: &Env) -> (Vec<String>, Vec<String>) {
    let all = |list: &Option<Vec<String>>| -> Vec<String> {
        list.iter().flatten().map(|s| env.expand(s)).collect()
    };
    (all(&c.command), all(&c.args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}
        }))
        .unwrap()
    }

    fn objects() -> Objects {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg"}, "data": {"LEVEL": "debug", "bad=name": "x", "PORT": "80"}
        }))
        .unwrap();
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "creds"}, "data": {"password": "aHVudGVyMg=="}
        }))
        .unwrap();
        let mut o = Objects::default();
        o.config_maps.insert("cfg".into(), Some(cm));
        o.secrets.insert("creds".into(), Some(secret));
        o.config_maps.insert("gone".into(), None);
        o
    }

    fn build(container: serde_json::Value) -> Result<Vec<(String, String)>, String> {
        let p = pod();
        let facts = PodFacts {
            pod: &p,
            pod_ip: "10.0.0.9",
            host_ip: "192.168.0.1",
            node_cpu_millis: 2000,
            node_memory_bytes: 1 << 30,
        };
        let c: Container = serde_json::from_value(container).unwrap();
        container_env(&c, &facts, &objects()).map(Env::into_vec)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_refer_to_earlier_variables() {
        let env = build(json!({"name": "c", "env": [
            {"name": "HOST", "value": "db"},
            {"name": "URL", "value": "pg://$(HOST):$(PORT)/$(LATER)"},
            {"name": "LATER", "value": "x"},
            {"name": "ESC", "value": "$$(HOST)"},
        ]}));
        assert_eq!(
            env,
            Ok(pairs(&[
                ("HOST", "db"),
                ("URL", "pg://db:$(PORT)/$(LATER)"),
                ("LATER", "x"),
                ("ESC", "$(HOST)"),
            ]))
        );
    }

    #[test]
    fn sources() {
        let env = build(json!({"name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}],
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP_LEVEL", "value": "info"},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        ]}));
        assert_eq!(
            env,
            Ok(pairs(&[
                ("APP_LEVEL", "info"),
                ("APP_PORT", "80"),
                ("PW", "hunter2"),
                ("NAME", "web"),
                ("IP", "10.0.0.9"),
                ("MEM", "1024"),
            ]))
        );
    }

    #[test]
    fn missing_sources_are_config_errors() {
        let err = |c| build(c).err().unwrap_or_default();
        assert_eq!(
            err(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "nope"}}]})),
            "configmap \"nope\" not found"
        );
        assert_eq!(
            err(
                json!({"name": "c", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]})
            ),
            "secret \"nope\" not found"
        );
        assert_eq!(
            err(
                json!({"name": "c", "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey"}}}]})
            ),
            "couldn't find key nokey in ConfigMap prod/cfg"
        );
        assert_eq!(
            build(
                json!({"name": "c", "envFrom": [{"secretRef": {"name": "nope", "optional": true}}]})
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn command_and_args_expand() {
        let mut env = Env::default();
        env.set("MSG", "hi".into());
        let c: Container = serde_json::from_value(json!({"name": "c",
            "command": ["sh", "-c", "echo $(MSG) $$(MSG) $(NOPE)"], "args": ["$(MSG)"]}))
        .unwrap();
        let (cmd, args) = command_and_args(&c, &env);
        assert_eq!(cmd, ["sh", "-c", "echo hi $(MSG) $(NOPE)"]);
        assert_eq!(args, ["hi"]);
    }
}
