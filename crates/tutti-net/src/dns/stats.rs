//! Query counters: how many questions the DNS server answered itself, answered with NXDOMAIN,
//! relayed from upstream, or failed. Relaxed atomics, cheap to bump on every query.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared between the server and whoever reads them.
#[derive(Debug, Clone, Default)]
pub struct DnsCounters {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    answered: AtomicU64,
    nxdomain: AtomicU64,
    forwarded: AtomicU64,
    failed: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Answered from the catalog with NOERROR (including empty NODATA answers).
    pub answered: u64,
    /// Names inside the cluster domain that do not exist.
    pub nxdomain: u64,
    /// Answers relayed from an upstream resolver, whatever their response code.
    pub forwarded: u64,
    /// Questions that got SERVFAIL, REFUSED, FORMERR or NOTIMP from this server, or whose
    /// answer could not be sent.
    pub failed: u64,
}

/// Which counter a finished query bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answered,
    NxDomain,
    Forwarded,
    Failed,
}

impl DnsCounters {
    pub(crate) fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Answered => &self.inner.answered,
            Outcome::NxDomain => &self.inner.nxdomain,
            Outcome::Forwarded => &self.inner.forwarded,
            Outcome::Failed => &self.inner.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads all counters (each one atomically; together they are not one instant).
    pub fn snapshot(&self) -> DnsStats {
        DnsStats {
            answered: self.inner.answered.load(Ordering::Relaxed),
            nxdomain: self.inner.nxdomain.load(Ordering::Relaxed),
            forwarded: self.inner.forwarded.load(Ordering::Relaxed),
            failed: self.inner.failed.load(Ordering::Relaxed),
        }
    }
}
