//! The socket table: opens and closes the proxy's sockets to match each new snapshot, and
//! retries the ones that could not be opened. It is the only owner of the serving tasks;
//! a socket closes when its task is stopped here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};

use super::backend::Backend;
use super::plan::{Frontend, ListenKey, Origin, Plan, Planned, plan};
use super::stats::ServiceStats;
use super::task::TaskGuard;
use super::{ListenerState, ListenerStatus, ProxyConfig, Shared, lock, tcp, udp};
use crate::catalog::{Protocol, Snapshot};

pub(crate) struct Table {
    config: Arc<ProxyConfig>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    shared: Arc<Shared>,
    plan: Plan,
    running: BTreeMap<ListenKey, Running>,
    failed: BTreeMap<ListenKey, Failed>,
    backends: HashMap<Frontend, Arc<Backend>>,
    /// Conflicts and unsupported ports already reported, so each is logged once.
    reported: BTreeSet<(Option<ListenKey>, Frontend)>,
}

struct Running {
    frontend: Frontend,
    task: TaskGuard,
}

struct Failed {
    planned: Planned,
    kind: io::ErrorKind,
    message: String,
}

impl Table {
    pub fn new(
        config: Arc<ProxyConfig>,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        shared: Arc<Shared>,
    ) -> Table {
        Table {
            config,
            snapshots,
            shared,
            plan: Plan::default(),
            running: BTreeMap::new(),
            failed: BTreeMap::new(),
            backends: HashMap::new(),
            reported: BTreeSet::new(),
        }
    }

    /// Follow the snapshots until `stop` fires (or its sender is dropped), then close
    /// every socket.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut retry = tokio::time::interval(self.config.rebind_interval);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.reset();
        let mut watching = true;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                changed = self.snapshots.changed(), if watching => match changed {
                    Ok(()) => self.apply_latest().await,
                    Err(_) => {
                        info!("service catalog closed; the proxy keeps its last sockets");
                        watching = false;
                    }
                },
                _ = retry.tick(), if !self.failed.is_empty() => self.open_missing().await,
            }
        }
        self.close_all().await;
    }

    /// Bring the sockets in line with the snapshot published last.
    pub async fn apply_latest(&mut self) {
        let snapshot = self.snapshots.borrow_and_update().clone();
        self.plan = plan(&snapshot, &self.config.node_ips, &self.config.skip_ips);

        // Close sockets no longer wanted, or now claimed by another service port, and wait
        // until they are closed so that their addresses can be opened again below.
        let stale: Vec<ListenKey> = self
            .running
            .iter()
            .filter(|(key, r)| {
                self.plan
                    .listeners
                    .get(key)
                    .is_none_or(|p| p.frontend != r.frontend)
            })
            .map(|(key, _)| *key)
            .collect();
        let mut stopping = Vec::with_capacity(stale.len());
        for key in stale {
            if let Some(r) = self.running.remove(&key) {
                debug!(addr = %key.addr, protocol = key.protocol.as_str(), service = %r.frontend.service.name, "closing service socket");
                stopping.push(r.task.stop());
            }
        }
        join_all(stopping).await;
        let plan = &self.plan;
        self.failed
            .retain(|key, f| plan.listeners.get(key) == Some(&f.planned));

        // Counters live as long as the service; balancers as long as the service port.
        {
            let mut stats = lock(&self.shared.stats);
            stats.retain(|key, _| snapshot.services.contains_key(key));
            for key in snapshot.services.keys() {
                stats.entry(key.clone()).or_default();
            }
        }
        self.backends
            .retain(|frontend, _| plan.listeners.values().any(|p| &p.frontend == frontend));

        self.open_missing().await;
        self.report_plan_problems();
        self.shared.applied.send_replace(snapshot);
    }

    /// Try to open every wanted socket that is not open.
    async fn open_missing(&mut self) {
        let missing: Vec<(ListenKey, Planned)> = self
            .plan
            .listeners
            .iter()
            .filter(|(key, _)| !self.running.contains_key(key))
            .map(|(key, p)| (*key, p.clone()))
            .collect();
        for (key, planned) in missing {
            self.open(key, planned).await;
        }
        self.publish_status();
    }

    async fn open(&mut self, key: ListenKey, planned: Planned) {
        let backend = self.backend(&planned.frontend);
        let opened = match key.protocol {
            Protocol::Tcp => {
                tcp::bind(key.addr).map(|listener| TaskGuard::spawn(tcp::serve(listener, backend)))
            }
            Protocol::Udp => udp::bind(key.addr)
                .await
                .map(|socket| TaskGuard::spawn(udp::serve(socket, backend))),
            // The plan never asks for these (reported as unsupported instead).
            Protocol::Sctp => return,
        };
        let service = &planned.frontend.service;
        match opened {
            Ok(task) => {
                if self.failed.remove(&key).is_some() {
                    info!(addr = %key.addr, protocol = key.protocol.as_str(), service = %service.name, namespace = %service.namespace, "service socket open after earlier failure");
                } else {
                    debug!(addr = %key.addr, protocol = key.protocol.as_str(), service = %service.name, namespace = %service.namespace, "service socket open");
                }
                let frontend = planned.frontend;
                self.running.insert(key, Running { frontend, task });
            }
            Err(e) => {
                let known = self
                    .failed
                    .get(&key)
                    .is_some_and(|f| f.kind == e.kind() && f.planned == planned);
                if !known {
                    // An external address is often another node's: not being able to
                    // bind it is normal. Anything else means the service does not work
                    // on this node.
                    let expected = planned.origin == Origin::ExternalIp
                        && e.kind() == io::ErrorKind::AddrNotAvailable;
                    if expected {
                        debug!(addr = %key.addr, protocol = key.protocol.as_str(), service = %service.name, namespace = %service.namespace, error = %e, "external address is not local; not serving it here");
                    } else {
                        warn!(addr = %key.addr, protocol = key.protocol.as_str(), service = %service.name, namespace = %service.namespace, origin = ?planned.origin, error = %e, "cannot open service socket; will retry");
                    }
                }
                let failed = Failed {
                    planned,
                    kind: e.kind(),
                    message: e.to_string(),
                };
                self.failed.insert(key, failed);
            }
        }
    }

    fn backend(&mut self, frontend: &Frontend) -> Arc<Backend> {
        if let Some(b) = self.backends.get(frontend) {
            return b.clone();
        }
        let stats = lock(&self.shared.stats)
            .entry(frontend.service.clone())
            .or_insert_with(|| Arc::new(ServiceStats::default()))
            .clone();
        let backend = Arc::new(Backend::new(
            frontend.clone(),
            stats,
            self.config.clone(),
            self.snapshots.clone(),
        ));
        self.backends.insert(frontend.clone(), backend.clone());
        backend
    }

    fn report_plan_problems(&mut self) {
        for (key, frontend) in &self.plan.conflicts {
            if self.reported.insert((Some(*key), frontend.clone())) {
                let owner = self.plan.listeners.get(key).map(|p| &p.frontend.service);
                warn!(addr = %key.addr, protocol = key.protocol.as_str(), service = %frontend.service.name, namespace = %frontend.service.namespace, owner = ?owner, "address and port already used by another service; ignoring it for this one");
            }
        }
        for frontend in &self.plan.unsupported {
            if self.reported.insert((None, frontend.clone())) {
                warn!(service = %frontend.service.name, namespace = %frontend.service.namespace, port = %frontend.port_name, "SCTP service ports are not proxied");
            }
        }
        let plan = &self.plan;
        self.reported.retain(|(key, frontend)| match key {
            Some(key) => plan
                .conflicts
                .iter()
                .any(|(k, f)| k == key && f == frontend),
            None => plan.unsupported.contains(frontend),
        });
    }

    fn publish_status(&self) {
        let mut status: Vec<ListenerStatus> = self
            .plan
            .listeners
            .iter()
            .filter_map(|(key, planned)| {
                let state = if self.running.contains_key(key) {
                    ListenerState::Listening
                } else {
                    ListenerState::Failed(self.failed.get(key)?.message.clone())
                };
                Some(ListenerStatus {
                    addr: key.addr,
                    protocol: key.protocol,
                    service: planned.frontend.service.clone(),
                    port_name: planned.frontend.port_name.clone(),
                    state,
                })
            })
            .collect();
        status.sort_by_key(|s| (s.addr, s.protocol));
        *lock(&self.shared.listeners) = status;
    }

    async fn close_all(&mut self) {
        let running = std::mem::take(&mut self.running);
        join_all(running.into_values().map(|r| r.task.stop())).await;
        self.failed.clear();
        self.plan = Plan::default();
        self.publish_status();
        info!("service proxy stopped");
    }
}
