//! An in-memory RuntimeDriver for the agent's tests. A container's command says what it
//! does: `exit N` exits at once with N, `run MS N` exits with N after MS milliseconds,
//! anything else runs until stopped. `check FLAG` execs succeed while FLAG is set.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tutti_runtime::*;

#[derive(Clone, Debug)]
pub struct Started {
    pub spec: ContainerSpec,
    pub at: SystemTime,
}

#[derive(Default)]
struct State {
    next: u64,
    containers: BTreeMap<String, (ContainerInfo, Option<(SystemTime, i32)>)>,
    sandboxes: BTreeMap<String, SandboxInfo>,
    flags: HashSet<String>,
    starts: Vec<Started>,
    stops: Vec<(String, Duration)>,
    removed: Vec<String>,
    feeds: Vec<futures::channel::mpsc::UnboundedSender<Result<ContainerExit, RuntimeError>>>,
}

#[derive(Default)]
pub struct FakeDriver {
    state: Mutex<State>,
}

impl FakeDriver {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn set_flag(&self, flag: &str, on: bool) {
        self.with(|s| {
            if on {
                s.flags.insert(flag.to_string());
            } else {
                s.flags.remove(flag);
            }
        });
    }

    /// Every start, in order.
    pub fn starts(&self) -> Vec<Started> {
        self.with(|s| s.starts.clone())
    }

    pub fn starts_of(&self, pod: &str, container: &str) -> Vec<Started> {
        self.starts()
            .into_iter()
            .filter(|s| s.spec.pod_name == pod && s.spec.name == container)
            .collect()
    }

    /// The container dies (as if SIGKILLed from outside the agent) and every exit feed
    /// hears of it.
    pub fn kill(&self, id: &str) {
        self.with(|s| {
            let Some(entry) = s.containers.get_mut(id) else {
                return;
            };
            Self::exit(entry, 137);
            let exit = ContainerExit {
                id: id.to_string(),
                pod_uid: entry.0.pod_uid.clone(),
            };
            s.feeds
                .retain(|feed| feed.unbounded_send(Ok(exit.clone())).is_ok());
        });
    }

    pub fn stops(&self) -> Vec<(String, Duration)> {
        self.with(|s| s.stops.clone())
    }

    pub fn exists(&self, id: &str) -> bool {
        self.with(|s| s.containers.contains_key(id))
    }

    pub fn has_sandbox(&self, uid: &str) -> bool {
        self.with(|s| s.sandboxes.contains_key(uid))
    }

    /// Containers of a pod the driver still has.
    pub fn containers_of(&self, uid: &str) -> Vec<ContainerInfo> {
        self.with(|s| {
            s.containers
                .values()
                .filter(|(c, _)| c.pod_uid == uid)
                .map(|(c, _)| c.clone())
                .collect()
        })
    }

    /// A running container exits now with `code` (a signal from outside); else no change.
    fn exit(entry: &mut (ContainerInfo, Option<(SystemTime, i32)>), code: i32) {
        if let ContainerState::Running { started_at } = Self::observe(entry).state {
            entry.0.state = ContainerState::Exited {
                exit_code: code,
                reason: Some("Error".into()),
                started_at: Some(started_at),
                finished_at: SystemTime::now(),
            };
        }
    }

    fn observe(entry: &mut (ContainerInfo, Option<(SystemTime, i32)>)) -> ContainerInfo {
        if let (ContainerState::Running { started_at }, Some((at, code))) =
            (&entry.0.state, entry.1)
            && SystemTime::now() >= at
        {
            entry.0.state = ContainerState::Exited {
                exit_code: code,
                reason: None,
                started_at: Some(*started_at),
                finished_at: at,
            };
        }
        entry.0.clone()
    }
}

fn not_found(id: &str) -> RuntimeError {
    RuntimeError::NotFound { id: id.to_string() }
}

#[async_trait::async_trait]
impl RuntimeDriver for FakeDriver {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            images: true,
            pod_network: true,
            mounts: true,
            resource_limits: true,
            security_context: true,
            exec: true,
        }
    }

    async fn version(&self) -> Result<String, RuntimeError> {
        Ok("fake://1.0".into())
    }

    async fn ensure_image(
        &self,
        image: &str,
        policy: PullPolicy,
    ) -> Result<ImageInfo, RuntimeError> {
        if image.starts_with("missing") {
            return Err(match policy {
                PullPolicy::Never => RuntimeError::ImageNeverPull {
                    image: image.into(),
                },
                _ => RuntimeError::ImagePull {
                    image: image.into(),
                    detail: "no registry reachable".into(),
                },
            });
        }
        Ok(ImageInfo {
            image: image.into(),
            image_id: format!("sha256:{image}"),
        })
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<SandboxInfo, RuntimeError> {
        Ok(self.with(|s| {
            let n = s.sandboxes.len() + 2;
            s.sandboxes
                .entry(spec.pod_uid.clone())
                .or_insert_with(|| SandboxInfo {
                    pod_uid: spec.pod_uid.clone(),
                    id: format!("sandbox-{n}"),
                    ip: format!("10.88.0.{n}"),
                    running: true,
                })
                .clone()
        }))
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        self.with(|s| s.sandboxes.remove(pod_uid));
        Ok(())
    }

    async fn start_container(
        &self,
        _sb: &SandboxInfo,
        spec: &ContainerSpec,
    ) -> Result<ContainerInfo, RuntimeError> {
        let now = SystemTime::now();
        let words: Vec<&str> = spec
            .command
            .iter()
            .chain(spec.args.iter())
            .map(String::as_str)
            .collect();
        let exit = match words.as_slice() {
            ["exit", code] => Some((now, code.parse().unwrap_or(1))),
            ["run", ms, code] => Some((
                now + Duration::from_millis(ms.parse().unwrap_or(0)),
                code.parse().unwrap_or(1),
            )),
            _ => None,
        };
        Ok(self.with(|s| {
            s.next += 1;
            let info = ContainerInfo {
                id: format!("c{}", s.next),
                pod_uid: spec.pod_uid.clone(),
                name: spec.name.clone(),
                attempt: spec.attempt,
                image: spec.image.clone(),
                image_id: String::new(),
                state: ContainerState::Running { started_at: now },
            };
            s.starts.push(Started {
                spec: spec.clone(),
                at: now,
            });
            s.containers.insert(info.id.clone(), (info.clone(), exit));
            info
        }))
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.with(|s| {
            s.stops.push((id.to_string(), grace));
            let entry = s.containers.get_mut(id).ok_or_else(|| not_found(id))?;
            Self::exit(entry, if grace.is_zero() { 137 } else { 143 });
            Ok(())
        })
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.with(|s| {
            s.containers.remove(id);
            s.removed.push(id.to_string());
        });
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        self.with(|s| {
            s.containers
                .get_mut(id)
                .map(Self::observe)
                .ok_or_else(|| not_found(id))
        })
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        Ok(self.with(|s| s.containers.values_mut().map(Self::observe).collect()))
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>, RuntimeError> {
        Ok(self.with(|s| s.sandboxes.values().cloned().collect()))
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        _timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        self.with(|s| {
            if !s.containers.contains_key(id) {
                return Err(not_found(id));
            }
            let words: Vec<&str> = command.iter().map(String::as_str).collect();
            Ok(match words.as_slice() {
                ["check", flag] if s.flags.contains(*flag) => ExecResult::default(),
                ["check", flag] => ExecResult {
                    exit_code: 1,
                    output: format!("{flag} is not set"),
                },
                ["true"] => ExecResult::default(),
                _ => ExecResult {
                    exit_code: 127,
                    output: "unknown command".into(),
                },
            })
        })
    }

    async fn exits(&self) -> Result<ExitStream, RuntimeError> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        self.with(|s| s.feeds.push(tx));
        Ok(rx.boxed())
    }

    async fn logs(&self, id: &str, _opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        let info = self
            .with(|s| s.containers.get(id).map(|c| c.0.clone()))
            .ok_or_else(|| not_found(id))?;
        let line = format!("hello from {} attempt {}\n", info.name, info.attempt);
        Ok(futures::stream::iter(vec![Ok(bytes::Bytes::from(line))]).boxed())
    }
}
