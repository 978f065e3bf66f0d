//! Pod volumes, planned without touching the host: where each one lives (emptyDir under
//! the pod directory or on tmpfs, Secrets and anything holding them always on tmpfs,
//! hostPath as given), which files configMap/secret/downwardAPI/projected volumes hold,
//! and the bind mounts each container gets. `volume_setup` does the IO.

use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, DownwardAPIVolumeFile, KeyToPath, Pod, Volume};
use tutti_runtime::Mount;

use super::downward::{self, PodFacts};
use super::env::Env;
use super::sources::{Data, Objects};

/// The default mode of configMap/secret/downwardAPI/projected files (0644).
const DEFAULT_MODE: u32 = 0o644;

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    EmptyDir,
    HostPath {
        type_: String,
    },
    /// Files rendered from ConfigMaps, Secrets and the downward API.
    Files(Vec<FileSource>),
    /// A volume type tutti cannot provide (`persistentVolumeClaim`, `nfs`...).
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FileSource {
    ConfigMap {
        name: String,
        items: Vec<KeyToPath>,
        optional: bool,
    },
    Secret {
        name: String,
        items: Vec<KeyToPath>,
        optional: bool,
    },
    Downward {
        items: Vec<DownwardAPIVolumeFile>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub name: String,
    pub path: PathBuf,
    pub kind: Kind,
    pub default_mode: u32,
}

/// A file to write inside a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Relative to the volume's directory.
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Where each of the pod's volumes lives. `pod_dir` is on disk, `shm_dir` on tmpfs.
pub fn plan(pod: &Pod, pod_dir: &Path, shm_dir: &Path) -> Vec<Planned> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.map(|v| plan_one(v, pod_dir, shm_dir)).collect()
}

fn mode(m: Option<i32>) -> u32 {
    m.map(|m| (m as u32) & 0o7777).unwrap_or(DEFAULT_MODE)
}

fn plan_one(v: &Volume, pod_dir: &Path, shm_dir: &Path) -> Planned {
    let name = v.name.clone();
    let on_disk = |kind: &str| pod_dir.join("volumes").join(kind).join(&name);
    let planned = |path, kind, default_mode| Planned {
        name: name.clone(),
        path,
        kind,
        default_mode,
    };
    if let Some(e) = &v.empty_dir {
        let path = if e.medium.as_deref() == Some("Memory") {
            shm_dir.join("volumes").join("empty-dir").join(&name)
        } else {
            on_disk("empty-dir")
        };
        return planned(path, Kind::EmptyDir, 0o777);
    }
    if let Some(h) = &v.host_path {
        let kind = Kind::HostPath {
            type_: h.type_.clone().unwrap_or_default(),
        };
        return planned(PathBuf::from(&h.path), kind, 0o755);
    }
    if let Some(cm) = &v.config_map {
        let source = FileSource::ConfigMap {
            name: cm.name.clone(),
            items: cm.items.clone().unwrap_or_default(),
            optional: cm.optional == Some(true),
        };
        return planned(
            on_disk("configmap"),
            Kind::Files(vec![source]),
            mode(cm.default_mode),
        );
    }
    if let Some(s) = &v.secret {
        let source = FileSource::Secret {
            name: s.secret_name.clone().unwrap_or_default(),
            items: s.items.clone().unwrap_or_default(),
            optional: s.optional == Some(true),
        };
        return planned(
            shm_dir.join("secrets").join(&name),
            Kind::Files(vec![source]),
            mode(s.default_mode),
        );
    }
    if let Some(d) = &v.downward_api {
        let source = FileSource::Downward {
            items: d.items.clone().unwrap_or_default(),
        };
        return planned(
            on_disk("downward-api"),
            Kind::Files(vec![source]),
            mode(d.default_mode),
        );
    }
    if let Some(p) = &v.projected {
        let mut sources = Vec::new();
        let mut unsupported = Vec::new();
        for s in p.sources.iter().flatten() {
            if let Some(cm) = &s.config_map {
                sources.push(FileSource::ConfigMap {
                    name: cm.name.clone(),
                    items: cm.items.clone().unwrap_or_default(),
                    optional: cm.optional == Some(true),
                });
            } else if let Some(sec) = &s.secret {
                sources.push(FileSource::Secret {
                    name: sec.name.clone(),
                    items: sec.items.clone().unwrap_or_default(),
                    optional: sec.optional == Some(true),
                });
            } else if let Some(d) = &s.downward_api {
                sources.push(FileSource::Downward {
                    items: d.items.clone().unwrap_or_default(),
                });
            } else {
                unsupported.push(if s.service_account_token.is_some() {
                    "projected.serviceAccountToken"
                } else {
                    "projected source"
                });
            }
        }
        if let Some(first) = unsupported.first() {
            return planned(
                on_disk("projected"),
                Kind::Unsupported(first.to_string()),
                0,
            );
        }
        let secret = sources
            .iter()
            .any(|s| matches!(s, FileSource::Secret { .. }));
        let path = if secret {
            shm_dir.join("projected").join(&name)
        } else {
            on_disk("projected")
        };
        return planned(path, Kind::Files(sources), mode(p.default_mode));
    }
    planned(on_disk("unsupported"), Kind::Unsupported(volume_type(v)), 0)
}

/// The name of the volume source field that is set (`persistentVolumeClaim`, ...).
fn volume_type(v: &Volume) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| {
            j.as_object()
                .and_then(|o| o.keys().find(|k| *k != "name").cloned())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The files a `Files` volume holds. Errors are kubelet's mount failure messages.
pub fn render(p: &Planned, objects: &Objects, facts: &PodFacts) -> Result<Vec<File>, String> {
    let Kind::Files(sources) = &p.kind else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for source in sources {
        match source {
            FileSource::ConfigMap {
                name,
                items,
                optional,
            } => match objects.config_map(name) {
                Some(data) => {
                    files.extend(key_files(&data, items, *optional, p.default_mode, |k| {
                        format!("configmap references non-existent config key: {k}")
                    })?)
                }
                None if *optional => {}
                None => return Err(format!("configmap \"{name}\" not found")),
            },
            FileSource::Secret {
                name,
                items,
                optional,
            } => match objects.secret(name) {
                Some(data) => {
                    files.extend(key_files(&data, items, *optional, p.default_mode, |k| {
                        format!("references non-existent secret key: {k}")
                    })?)
                }
                None if *optional => {}
                None => return Err(format!("secret \"{name}\" not found")),
            },
            FileSource::Downward { items } => {
                for item in items {
                    let data = downward_item(item, facts)?;
                    files.push(File {
                        path: item.path.clone(),
                        data: data.into_bytes(),
                        mode: item.mode.map(|m| mode(Some(m))).unwrap_or(p.default_mode),
                    });
                }
            }
        }
    }
    for f in &files {
        if !safe_relative(&f.path) {
            return Err(format!(
                "invalid file path {:?} in volume {:?}",
                f.path, p.name
            ));
        }
    }
    Ok(files)
}

fn key_files(
    data: &Data,
    items: &[KeyToPath],
    optional: bool,
    default_mode: u32,
    missing: impl Fn(&str) -> String,
) -> Result<Vec<File>, String> {
    if items.is_empty() {
        return Ok(data
            .iter()
            .map(|(k, v)| File {
                path: k.clone(),
                data: v.clone(),
                mode: default_mode,
            })
            .collect());
    }
    let mut files = Vec::new();
    for item in items {
        match data.get(&item.key) {
            Some(v) => files.push(File {
                path: item.path.clone(),
                data: v.clone(),
                mode: item.mode.map(|m| mode(Some(m))).unwrap_or(default_mode),
            }),
            None if optional => {}
            None => return Err(missing(&item.key)),
        }
    }
    Ok(files)
}

fn downward_item(item: &DownwardAPIVolumeFile, facts: &PodFacts) -> Result<String, String> {
    if let Some(f) = &item.field_ref {
        return downward::field_value(&f.field_path, facts);
    }
    if let Some(r) = &item.resource_field_ref {
        let first = facts
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .cloned()
            .unwrap_or_default();
        return downward::resource_value(r, &first, facts);
    }
    Ok(String::new())
}

/// A relative path that stays inside its directory.
pub fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// The bind mounts of `c`: each volumeMount's volume directory (plus subPath).
/// Content volumes (configMap, secret, downwardAPI, projected) are always read-only.
pub fn mounts(c: &Container, planned: &[Planned], env: &Env) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let v = planned
            .iter()
            .find(|p| p.name == m.name)
            .ok_or_else(|| format!("volume {:?} not found for mount {:?}", m.name, m.mount_path))?;
        let sub = match (&m.sub_path, &m.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => Some(env.expand(e)),
            _ => None,
        };
        let host_path = match sub {
            Some(s) if !safe_relative(&s) => {
                return Err(format!("invalid subPath {s:?} for volume {:?}", m.name));
            }
            Some(s) => v.path.join(s),
            None => v.path.clone(),
        };
        out.push(Mount {
            host_path,
            container_path: m.mount_path.clone(),
            read_only: m.read_only == Some(true) || matches!(v.kind, Kind::Files(_)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
