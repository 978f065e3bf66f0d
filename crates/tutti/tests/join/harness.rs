//! Real `tutti` processes for the join tests: a manager (`tutti server`) with its data
//! directory and join token, nodes joining it, and clients with their certificates.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

pub const BIN: &str = env!("CARGO_BIN_EXE_tutti");

/// A child process whose stdout and stderr lines arrive on channels; killed on drop.
pub struct Proc {
    pub child: Child,
    pub stdout: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env("TUTTI_LOG", "info,openraft=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tutti");
        let pipe = |r: Box<dyn Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stdout = pipe(Box::new(child.stdout.take().unwrap()));
        let stderr = pipe(Box::new(child.stderr.take().unwrap()));
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    /// The first stdout line starting with `prefix` (the rest of it), within a minute.
    pub fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].to_string(),
                Ok(_) => {}
                Err(_) => panic!("no stdout line starting with {prefix:?}"),
            }
        }
    }

    /// Wait for a stderr line containing `text`, within `within`.
    pub fn logged(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) if l.contains(text) => return l,
                Ok(_) => {}
                Err(_) => panic!("nothing logged containing {text:?}"),
            }
        }
    }

    /// Exit status and stderr of a process expected to stop by itself.
    pub fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let so_far: Vec<String> = self.stderr.try_iter().collect();
                panic!(
                    "the process is still running after 60 s; it logged:\n{}",
                    so_far.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status.success(), stderr.join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kill every process group led by a process whose command line names a path under `dir`:
/// the containers of the process runtime, which outlive an agent killed with SIGKILL (as
/// Docker's outlive a killed kubelet) and would otherwise run on after the test.
fn kill_containers_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if pid == std::process::id() || !String::from_utf8_lossy(&cmdline).contains(&needle) {
            continue;
        }
        // Field 5 of /proc/PID/stat (after the parenthesised name) is the process group.
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let group = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        let target = match group {
            Some(g) if g == pid => format!("-{pid}"),
            _ => pid.to_string(),
        };
        let _ = Command::new("kill")
            .args(["-KILL", "--", &target])
            .stderr(Stdio::null())
            .status();
    }
}

pub struct Server {
    pub _proc: Proc,
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub token: String,
    pub extra: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        kill_containers_under(self.dir.path());
    }
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("manager");
        let mut args = vec!["server", "--listen", "127.0.0.1:0", "--data-dir"];
        args.push(data.to_str().unwrap());
        args.extend_from_slice(extra);
        let proc = Proc::spawn(&args);
        let join = proc.line("tutti: join workers with: tutti join ");
        let (addr, token) = join.split_once(" --token ").expect("join line");
        proc.line("export KUBECONFIG=");
        Server {
            addr: addr.to_string(),
            token: token.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _proc: proc,
            dir,
        }
    }

    /// Stop the manager and start it again on the same address: every connection to it is
    /// made anew.
    pub fn restart(&mut self) {
        let _ = self._proc.child.kill();
        let _ = self._proc.child.wait();
        let data = self.data();
        let mut args = vec!["server", "--listen", &self.addr, "--data-dir"];
        args.push(data.to_str().unwrap());
        args.extend(self.extra.iter().map(String::as_str));
        let proc = Proc::spawn(&args);
        proc.line("export KUBECONFIG=");
        self._proc = proc;
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("manager")
    }

    pub async fn admin(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.data().join("kubeconfig.yaml")).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    pub fn join(&self, name: &str, token: Option<&str>, extra: &[&str]) -> Proc {
        let data = self.dir.path().join(name);
        let mut args = vec![
            "join",
            &self.addr,
            "--node-name",
            name,
            "--runtime",
            "process",
        ];
        args.extend_from_slice(&["--log-port", "0", "--data-dir", data.to_str().unwrap()]);
        if let Some(t) = token {
            args.extend_from_slice(&["--token", t]);
        }
        args.extend_from_slice(extra);
        Proc::spawn(&args)
    }

    /// Join with a token the manager must refuse; the error `tutti join` printed.
    pub fn refused(&self, name: &str, token: Option<&str>, extra: &[&str]) -> String {
        let (ok, stderr) = self.join(name, token, extra).finish();
        assert!(!ok, "{name}: the join should have been refused:\n{stderr}");
        assert!(
            !self.dir.path().join(name).join("pki/node.crt").exists(),
            "{name}: a refused join left a certificate"
        );
        stderr
    }

    pub fn tutti(&self, args: &[&str]) -> String {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

/// A client with the certificate a joined node keeps in its data directory.
pub async fn node_client(data: &Path, server: &str) -> kube::Client {
    let read = |f: &str| std::fs::read_to_string(data.join("pki").join(f)).unwrap();
    let yaml = tutti_pki::kubeconfig_yaml(
        "n",
        &format!("https://{server}"),
        &read("ca.crt"),
        &read("node.crt"),
        &read("node.key"),
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn node_ready(client: &kube::Client, name: &str) -> bool {
    let nodes: Api<Node> = Api::all(client.clone());
    let Ok(Some(node)) = nodes.get_opt(name).await else {
        return false;
    };
    node.status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}
