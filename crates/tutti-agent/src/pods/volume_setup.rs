//! Preparing a pod's planned volumes on the host — directories, files with their modes,
//! hostPath type checks — and removing a pod's volume directories when it goes.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tutti_runtime::Mount;

use super::volumes::{File, Kind, Planned};

/// Create every volume and write its files. Errors are `FailedMount` messages.
pub async fn prepare(volumes: Vec<(Planned, Vec<File>)>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        for (v, files) in &volumes {
            prepare_one(v, files)
                .map_err(|e| format!("MountVolume.SetUp failed for volume {:?} : {e}", v.name))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("volume setup task failed: {e}"))?
}

fn prepare_one(v: &Planned, files: &[File]) -> Result<(), String> {
    let io = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    match &v.kind {
        Kind::EmptyDir => {
            fs::create_dir_all(&v.path).map_err(|e| io(&v.path, e))?;
            set_mode(&v.path, 0o777).map_err(|e| io(&v.path, e))?;
        }
        Kind::HostPath { type_ } => host_path(&v.path, type_)?,
        Kind::Files(_) => {
            fs::create_dir_all(&v.path).map_err(|e| io(&v.path, e))?;
            for f in files {
                let path = v.path.join(&f.path);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                }
                fs::write(&path, &f.data).map_err(|e| io(&path, e))?;
                set_mode(&path, f.mode).map_err(|e| io(&path, e))?;
            }
        }
        Kind::Unsupported(kind) => {
            return Err(format!("volume type {kind} is not supported by tutti"));
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// kubelet's hostPath `type` checks (creating the path for the `...OrCreate` types).
fn host_path(path: &Path, type_: &str) -> Result<(), String> {
    let shown = path.display();
    let meta = fs::metadata(path);
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "hostPath type check failed: {shown} is not a {what}"
            ))
        }
    };
    match type_ {
        "DirectoryOrCreate" => match meta {
            Ok(m) => check(m.is_dir(), "directory"),
            Err(_) => {
                fs::create_dir_all(path).map_err(|e| format!("{shown}: {e}"))?;
                set_mode(path, 0o755).map_err(|e| format!("{shown}: {e}"))
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) => check(m.is_file(), "file"),
            Err(_) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| format!("{shown}: {e}"))?;
                }
                fs::write(path, b"").map_err(|e| format!("{shown}: {e}"))?;
                set_mode(path, 0o644).map_err(|e| format!("{shown}: {e}"))
            }
        },
        "Directory" => check(meta.is_ok_and(|m| m.is_dir()), "directory"),
        "File" => check(meta.is_ok_and(|m| m.is_file()), "file"),
        "Socket" => check(meta.is_ok_and(|m| m.file_type().is_socket()), "socket"),
        "CharDevice" => check(
            meta.is_ok_and(|m| m.file_type().is_char_device()),
            "character device",
        ),
        "BlockDevice" => check(
            meta.is_ok_and(|m| m.file_type().is_block_device()),
            "block device",
        ),
        _ => Ok(()),
    }
}

/// Create the missing source directories of bind mounts (subPaths of emptyDirs).
pub async fn ensure_mount_sources(mounts: &[Mount]) -> Result<(), String> {
    let paths: Vec<PathBuf> = mounts.iter().map(|m| m.host_path.clone()).collect();
    tokio::task::spawn_blocking(move || {
        for p in paths.iter().filter(|p| !p.exists()) {
            fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("volume setup task failed: {e}"))?
}

/// Remove a pod's directories (on disk and on tmpfs). Missing ones are fine.
pub async fn remove(dirs: Vec<PathBuf>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        for d in &dirs {
            match fs::remove_dir_all(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", d.display())),
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("volume cleanup task failed: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_files_with_modes_and_checks_host_paths() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Planned {
            name: "cfg".into(),
            path: dir.path().join("cfg"),
            kind: Kind::Files(vec![]),
            default_mode: 0o644,
        };
        let files = vec![File {
            path: "nested/a.txt".into(),
            data: b"A".to_vec(),
            mode: 0o600,
        }];
        let missing = Planned {
            name: "host".into(),
            path: dir.path().join("nope"),
            kind: Kind::HostPath {
                type_: "Directory".into(),
            },
            default_mode: 0,
        };
        let created = Planned {
            name: "made".into(),
            path: dir.path().join("made"),
            kind: Kind::HostPath {
                type_: "DirectoryOrCreate".into(),
            },
            default_mode: 0,
        };
        prepare(vec![(cfg, files), (created, vec![])])
            .await
            .unwrap();
        let a = dir.path().join("cfg/nested/a.txt");
        assert_eq!(fs::read(&a).unwrap(), b"A");
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.path().join("made").is_dir());
        let err = prepare(vec![(missing, vec![])]).await.unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
        remove(vec![dir.path().join("cfg"), dir.path().join("never")])
            .await
            .unwrap();
        assert!(!dir.path().join("cfg").exists());
    }
}
