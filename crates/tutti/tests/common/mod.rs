//! Starting the real `tutti` binary as a child process and talking to it with kube-rs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dev {
    pub child: Child,
    pub kubeconfig: PathBuf,
    pub ready_after: Duration,
}

impl Dev {
    /// Start `tutti dev` on a free port with `data_dir`; returns once it printed its
    /// kubeconfig line (the API is ready then).
    pub fn start(data_dir: &Path) -> Dev {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tutti"))
            .args(["dev", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .env("TUTTI_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tutti dev");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let kubeconfig = loop {
            let line = lines
                .next()
                .expect("tutti dev exited before it was ready")
                .expect("read stdout");
            if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                break PathBuf::from(path);
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Dev {
            child,
            kubeconfig,
            ready_after: started.elapsed(),
        }
    }

    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(config).expect("client")
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.kill9();
    }
}
