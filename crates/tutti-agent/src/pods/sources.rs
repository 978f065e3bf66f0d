//! The ConfigMaps and Secrets a pod refers to (env, envFrom, volumes): which ones (pure),
//! and fetching them from the API before its containers start.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::api::Api;

/// Fetched objects by name; `None`: it does not exist.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    pub secrets: BTreeMap<String, Option<Secret>>,
}

/// Key → bytes of one ConfigMap or Secret.
pub type Data = BTreeMap<String, Vec<u8>>;

impl Objects {
    /// The ConfigMap's `data` and `binaryData`, if it exists.
    pub fn config_map(&self, name: &str) -> Option<Data> {
        let cm = self.config_maps.get(name)?.as_ref()?;
        let mut out: Data = cm
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        for (k, v) in cm.binary_data.iter().flatten() {
            out.insert(k.clone(), v.0.clone());
        }
        Some(out)
    }

    /// The Secret's `data` (and `stringData`, should the API have left it), if it exists.
    pub fn secret(&self, name: &str) -> Option<Data> {
        let s = self.secrets.get(name)?.as_ref()?;
        let mut out: Data = s
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        for (k, v) in s.string_data.iter().flatten() {
            out.insert(k.clone(), v.clone().into_bytes());
        }
        Some(out)
    }
}

/// Names of the ConfigMaps and Secrets the pod refers to.
pub fn references(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = pod.spec.as_ref() else {
        return (cms, secrets);
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        container_references(c, &mut cms, &mut secrets);
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            cms.insert(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.insert(s);
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &src.config_map {
                cms.insert(cm.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.insert(s.name.clone());
            }
        }
    }
    (cms, secrets)
}

fn container_references(c: &Container, cms: &mut BTreeSet<String>, secrets: &mut BTreeSet<String>) {
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            cms.insert(r.name.clone());
        }
        if let Some(r) = &from.secret_ref {
            secrets.insert(r.name.clone());
        }
    }
    for v in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        if let Some(r) = &v.config_map_key_ref {
            cms.insert(r.name.clone());
        }
        if let Some(r) = &v.secret_key_ref {
            secrets.insert(r.name.clone());
        }
    }
}

/// Fetch every ConfigMap and Secret the pod refers to.
pub async fn fetch(client: &kube::Client, pod: &Pod) -> Result<Objects, kube::Error> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let (cm_names, secret_names) = references(pod);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = Objects::default();
    for name in cm_names {
        let found = cms.get_opt(&name).await?;
        out.config_maps.insert(name, found);
    }
    for name in secret_names {
        let found = secrets.get_opt(&name).await?;
        out.secrets.insert(name, found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_reference() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init-cm"}}]}],
                "containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm1", "key": "k"}}}
                ], "envFrom": [{"secretRef": {"name": "s2"}}]}],
                "volumes": [
                    {"name": "v1", "configMap": {"name": "cm2"}},
                    {"name": "v2", "secret": {"secretName": "s3"}},
                    {"name": "v3", "projected": {"sources": [
                        {"configMap": {"name": "cm3"}}, {"secret": {"name": "s4"}}]}}
                ]
            }
        }))
        .unwrap();
        let (cms, secrets) = references(&pod);
        assert_eq!(
            cms.into_iter().collect::<Vec<_>>(),
            ["cm1", "cm2", "cm3", "init-cm"]
        );
        assert_eq!(
            secrets.into_iter().collect::<Vec<_>>(),
            ["s1", "s2", "s3", "s4"]
        );
    }
}
