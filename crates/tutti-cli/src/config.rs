//! Which cluster the commands talk to: `--kubeconfig`, else `$KUBECONFIG`, else the kubeconfig
//! `tutti dev` writes, else kube's usual inference (`~/.kube/config`, in-cluster).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where `tutti dev` writes its kubeconfig, relative to `$HOME`.
pub const DEV_KUBECONFIG: &str = ".local/share/tutti/dev/kubeconfig.yaml";

/// A client for the chosen cluster and the namespace its context selects.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    /// The context's namespace, or `default`.
    pub namespace: String,
    /// The API server's URL, for messages.
    pub server: String,
}

/// The kubeconfig that wins, by precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--kubeconfig PATH`.
    Flag(PathBuf),
    /// `$KUBECONFIG` (may list several files).
    Env,
    /// The file `tutti dev` wrote.
    Dev(PathBuf),
    /// kube's inference: `~/.kube/config`, then in-cluster.
    Infer,
}

/// Picks the kubeconfig source; `dev_exists` says whether a path exists (a parameter for tests).
pub fn choose(
    flag: Option<PathBuf>,
    env: Option<OsString>,
    home: Option<PathBuf>,
    dev_exists: impl Fn(&Path) -> bool,
) -> Source {
    if let Some(path) = flag {
        return Source::Flag(path);
    }
    if env.is_some_and(|v| !v.is_empty()) {
        return Source::Env;
    }
    match home.map(|h| h.join(DEV_KUBECONFIG)) {
        Some(dev) if dev_exists(&dev) => Source::Dev(dev),
        _ => Source::Infer,
    }
}

/// Builds the client for the kubeconfig chosen by [`choose`].
pub async fn connect(flag: Option<PathBuf>) -> Result<Context> {
    let source = choose(
        flag,
        std::env::var_os("KUBECONFIG"),
        std::env::var_os("HOME").map(PathBuf::from),
        |p| p.is_file(),
    );
    let options = KubeConfigOptions::default();
    let config = match &source {
        Source::Flag(path) | Source::Dev(path) => {
            let kc = Kubeconfig::read_from(path).with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .with_context(|| format!("kubeconfig {} is not usable", path.display()))?
        }
        Source::Env => {
            let kc = Kubeconfig::from_env()
                .context("cannot read the kubeconfig named by $KUBECONFIG")?
                .ok_or_else(|| anyhow!("$KUBECONFIG names no kubeconfig file"))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .context("the kubeconfig named by $KUBECONFIG is not usable")?
        }
        Source::Infer => kube::Config::infer().await.map_err(|e| {
            anyhow!(
                "no cluster configured: start one with `tutti dev`, or pass --kubeconfig or set $KUBECONFIG ({e})"
            )
        })?,
    };
    let namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).context("cannot build the API client")?;
    Ok(Context {
        client,
        namespace,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_flag_env_dev_then_inference() {
        let home = Some(PathBuf::from("/home/u"));
        let dev = PathBuf::from("/home/u/.local/share/tutti/dev/kubeconfig.yaml");
        let yes = |_: &Path| true;
        let no = |_: &Path| false;
        let flag = Some(PathBuf::from("/tmp/kc"));
        assert_eq!(
            choose(flag, Some("/x".into()), home.clone(), yes),
            Source::Flag("/tmp/kc".into())
        );
        assert_eq!(
            choose(None, Some("/x".into()), home.clone(), yes),
            Source::Env
        );
        assert_eq!(
            choose(None, Some("".into()), home.clone(), yes),
            Source::Dev(dev)
        );
        assert_eq!(choose(None, None, home, no), Source::Infer);
        assert_eq!(choose(None, None, None, yes), Source::Infer);
    }
}
