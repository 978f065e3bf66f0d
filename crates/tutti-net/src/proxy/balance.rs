//! Which endpoint a new connection goes to.
//!
//! Round-robin per service port: a counter shared by every socket of the port picks where
//! the rotation starts, and the connection tries the ready endpoints in rotation order from
//! there until one accepts. We chose round-robin over power-of-two-choices on active
//! connections because service traffic here is mostly short requests, where both spread
//! the same, and round-robin is exact (N connections over k endpoints give each N/k), costs
//! one atomic add, and keeps a failed endpoint's share on its successor only.
//!
//! With `sessionAffinity: ClientIP`, a client address that connected recently goes back to
//! the endpoint it reached last, as long as that endpoint is still a candidate and the
//! entry is younger than the timeout; each use refreshes it.
//!
//! The clock is an argument, so all of this is tested without sleeping.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Affinity tables are pruned of expired entries when they reach this size (and then
/// when they double from what is left).
const PRUNE_FROM: usize = 1024;
/// A table at this size after pruning takes no new clients (they are still served, only
/// not pinned).
const MAX_PINNED_CLIENTS: usize = 65_536;

#[derive(Debug, Default)]
pub(crate) struct Balancer {
    next: AtomicUsize,
    pins: Mutex<Pins>,
}

#[derive(Debug)]
struct Pins {
    by_client: HashMap<IpAddr, Pin>,
    prune_at: usize,
}

impl Default for Pins {
    fn default() -> Self {
        Pins {
            by_client: HashMap::new(),
            prune_at: PRUNE_FROM,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pin {
    endpoint: SocketAddr,
    used: Instant,
}

impl Balancer {
    /// The endpoints a new connection from `client` tries, in order: every candidate once.
    /// Empty when there are no candidates.
    pub fn order(
        &self,
        client: IpAddr,
        candidates: &[SocketAddr],
        affinity: Option<Duration>,
        now: Instant,
    ) -> Vec<SocketAddr> {
        if candidates.is_empty() {
            return Vec::new();
        }
        let pinned = affinity.and_then(|timeout| {
            let pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
            let pin = pins.by_client.get(&client)?;
            if now.saturating_duration_since(pin.used) >= timeout {
                return None;
            }
            candidates.iter().position(|c| *c == pin.endpoint)
        });
        let start =
            pinned.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % candidates.len());
        let mut order = Vec::with_capacity(candidates.len());
        order.extend_from_slice(&candidates[start..]);
        order.extend_from_slice(&candidates[..start]);
        order
    }

    /// `client` reached `endpoint`: pin it there when the service has affinity.
    pub fn connected(
        &self,
        client: IpAddr,
        endpoint: SocketAddr,
        affinity: Option<Duration>,
        now: Instant,
    ) {
        let Some(timeout) = affinity else {
            return;
        };
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        if !pins.by_client.contains_key(&client) && pins.by_client.len() >= pins.prune_at {
            pins.by_client
                .retain(|_, p| now.saturating_duration_since(p.used) < timeout);
            pins.prune_at = (pins.by_client.len() * 2).max(PRUNE_FROM);
            if pins.by_client.len() >= MAX_PINNED_CLIENTS {
                return;
            }
        }
        pins.by_client.insert(
            client,
            Pin {
                endpoint,
                used: now,
            },
        );
    }

    /// How many clients are pinned (for tests).
    #[cfg(test)]
    fn pinned(&self) -> usize {
        self.pins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_client
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: u8) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([10, 0, 0, i], 8080)))
            .collect()
    }

    fn client(i: u8) -> IpAddr {
        IpAddr::from([192, 168, 0, i])
    }

    #[test]
    fn round_robin_is_exact_and_orders_every_candidate() {
        let b = Balancer::default();
        let eps = addrs(3);
        let now = Instant::now();
        let mut hits = HashMap::new();
        for _ in 0..300 {
            let order = b.order(client(1), &eps, None, now);
            assert_eq!(order.len(), 3);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, eps, "each candidate exactly once");
            *hits.entry(order[0]).or_insert(0) += 1;
        }
        assert!(hits.values().all(|n| *n == 100), "{hits:?}");
        assert!(b.order(client(1), &[], None, now).is_empty());
    }

    #[test]
    fn affinity_pins_refreshes_and_expires() {
        let b = Balancer::default();
        let eps = addrs(3);
        let ttl = Some(Duration::from_secs(10));
        let t0 = Instant::now();
        let first = b.order(client(1), &eps, ttl, t0)[0];
        b.connected(client(1), first, ttl, t0);
        for s in 1..20 {
            let now = t0 + Duration::from_secs(s * 5);
            let got = b.order(client(1), &eps, ttl, now)[0];
            assert_eq!(got, first, "pinned while used within the timeout");
            b.connected(client(1), got, ttl, now);
        }
        let later = t0 + Duration::from_secs(19 * 5 + 10);
        let mut moved = false;
        for _ in 0..3 {
            moved |= b.order(client(1), &eps, ttl, later)[0] != first;
        }
        assert!(moved, "an expired pin no longer decides");
    }

    #[test]
    fn a_pin_to_an_endpoint_that_left_is_ignored() {
        let b = Balancer::default();
        let eps = addrs(3);
        let ttl = Some(Duration::from_secs(10));
        let now = Instant::now();
        b.connected(client(1), eps[1], ttl, now);
        assert_eq!(b.order(client(1), &eps, ttl, now)[0], eps[1]);
        let rest = vec![eps[0], eps[2]];
        let got = b.order(client(1), &rest, ttl, now);
        assert_eq!(got.len(), 2);
        assert!(!got.contains(&eps[1]));
        // Without affinity on the service, pins are neither used nor recorded.
        let plain = Balancer::default();
        plain.connected(client(1), eps[1], None, now);
        assert_eq!(plain.pinned(), 0);
    }

    #[test]
    fn pin_table_prunes_expired_clients() {
        let b = Balancer::default();
        let eps = addrs(2);
        let ttl = Some(Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..PRUNE_FROM {
            let ip = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
            b.connected(ip, eps[0], ttl, t0);
        }
        assert_eq!(b.pinned(), PRUNE_FROM);
        b.connected(client(1), eps[1], ttl, t0 + Duration::from_secs(5));
        assert_eq!(b.pinned(), 1, "the expired ones were dropped");
    }
}
