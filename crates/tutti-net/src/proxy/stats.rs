//! Per-service counters of the proxy: relaxed atomics bumped on the data path, read as a
//! plain [`ServiceCounters`] value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the proxy did for one service since the service appeared (summed over its ports
/// and protocols). For UDP, a "connection" is a session: the datagrams of one client
/// address to one endpoint until it goes idle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceCounters {
    /// Connections accepted (TCP) and sessions opened (UDP).
    pub connections_total: u64,
    /// Connections and sessions open now.
    pub connections_active: u64,
    /// Connections that reached an endpoint only after another one failed.
    pub failed_over: u64,
    /// Connection attempts to an endpoint that failed (refused, unreachable, timed out).
    pub endpoint_errors: u64,
    /// Connections reset and datagrams dropped because no endpoint was ready or reachable
    /// (or the UDP session table was full).
    pub rejected: u64,
    /// Bytes from clients to endpoints.
    pub bytes_in: u64,
    /// Bytes from endpoints to clients.
    pub bytes_out: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceStats {
    connections_total: AtomicU64,
    connections_active: AtomicU64,
    failed_over: AtomicU64,
    endpoint_errors: AtomicU64,
    rejected: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl ServiceStats {
    /// A new connection or session; it counts as active until the guard drops.
    pub fn open(self: &Arc<Self>) -> ActiveGuard {
        bump(&self.connections_total, 1);
        bump(&self.connections_active, 1);
        ActiveGuard(self.clone())
    }

    pub fn failed_over(&self) {
        bump(&self.failed_over, 1);
    }

    pub fn endpoint_error(&self) {
        bump(&self.endpoint_errors, 1);
    }

    pub fn rejected(&self) {
        bump(&self.rejected, 1);
    }

    pub fn bytes_in(&self, n: u64) {
        bump(&self.bytes_in, n);
    }

    pub fn bytes_out(&self, n: u64) {
        bump(&self.bytes_out, n);
    }

    pub fn read(&self) -> ServiceCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServiceCounters {
            connections_total: get(&self.connections_total),
            connections_active: get(&self.connections_active),
            failed_over: get(&self.failed_over),
            endpoint_errors: get(&self.endpoint_errors),
            rejected: get(&self.rejected),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
        }
    }
}

/// Holds one unit of `connections_active`.
#[derive(Debug)]
pub(crate) struct ActiveGuard(Arc<ServiceStats>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Ordering::Relaxed);
    }
}
