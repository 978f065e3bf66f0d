//! What the agent changes in its node's network stack, through the same tools an operator
//! would type (`ip`, `iptables`), so every change can be read back and undone by hand:
//!
//! - `net.ipv4.ip_forward = 1`: the node routes between its pod bridge and its peers.
//! - The whole service range is local (`ip route replace local 10.96.0.0/12 dev lo table
//!   local`, Linux's "AnyIP"): the proxy and the DNS server can bind any service address
//!   without one interface address per service, and a VIP nobody listens on refuses at once.
//! - Routes to the other nodes' pod CIDRs, tagged with our own route protocol number
//!   ([`ROUTE_PROTO`]) so stale ones can be found and removed without touching anyone else's.
//! - iptables: chain `TUTTI-FORWARD` (jumped to first from `FORWARD`) accepts traffic from
//!   and to the cluster's pod range — Docker's FORWARD policy is DROP and it would otherwise
//!   drop pod traffic arriving from another node; chain `TUTTI-POSTROUTING` (nat) masquerades
//!   pod traffic that leaves the cluster range (Docker's own masquerading is off for the pod
//!   bridge, so pod-to-pod traffic keeps its source address).
//!
//! We shell out instead of speaking netlink: a handful of idempotent commands at start and
//! one batched `ip -batch` per routing change do not justify a netlink stack, and the
//! commands are exactly what `ip route` / `iptables -S` show when someone debugs a node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::{debug, info};

use crate::NetError;

/// The route protocol number our peer routes carry (`ip route ... proto 116`): unassigned
/// in `/etc/iproute2/rt_protos`, ours by convention.
pub const ROUTE_PROTO: u8 = 116;

const FORWARD_CHAIN: &str = "TUTTI-FORWARD";
const NAT_CHAIN: &str = "TUTTI-POSTROUTING";

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// Parse `10.244.1.0/24`; the address is masked to the network.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        Some(Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// The `n`th address of the network (1: the usual gateway).
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(n))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, NetError> {
    let what = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::Host {
        what: what.clone(),
        detail: format!("cannot run {program}: {e} (is it installed?)"),
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|e| NetError::Host {
                what: what.clone(),
                detail: e.to_string(),
            })?;
    }
    let out = child.wait_with_output().await.map_err(|e| NetError::Host {
        what: what.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(NetError::Host {
            what,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    debug!(command = %what, "host network command ran");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Turn on IPv4 forwarding (a no-op when Docker already did).
pub async fn enable_forwarding() -> Result<(), NetError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    let now = tokio::fs::read_to_string(path).await.unwrap_or_default();
    if now.trim() == "1" {
        return Ok(());
    }
    tokio::fs::write(path, "1\n")
        .await
        .map_err(|e| NetError::Host {
            what: format!("writing 1 to {path}"),
            detail: e.to_string(),
        })?;
    info!("enabled IPv4 forwarding");
    Ok(())
}

/// Make every address of `range` local to this node (the service VIPs).
pub async fn make_local(range: Cidr) -> Result<(), NetError> {
    let cidr = range.to_string();
    run(
        "ip",
        &[
            "-4", "route", "replace", "local", &cidr, "dev", "lo", "table", "local",
        ],
        None,
    )
    .await?;
    info!(range = %cidr, "service addresses are local to this node");
    Ok(())
}

/// Our peer routes as they are now: pod CIDR → next hop.
pub async fn current_routes() -> Result<BTreeMap<Cidr, Ipv4Addr>, NetError> {
    let proto = ROUTE_PROTO.to_string();
    let out = run("ip", &["-4", "route", "show", "proto", &proto], None).await?;
    Ok(parse_routes(&out))
}

/// `10.244.2.0/24 via 10.77.0.12 dev eth0` lines → map.
fn parse_routes(text: &str) -> BTreeMap<Cidr, Ipv4Addr> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(dst) = words.first().and_then(|w| Cidr::parse(w)) else {
            continue;
        };
        let via = words
            .windows(2)
            .find(|w| w[0] == "via")
            .and_then(|w| w[1].parse().ok());
        if let Some(via) = via {
            out.insert(dst, via);
        }
    }
    out
}

/// The `ip -batch` lines that turn `current` into `desired`.
pub fn route_changes(
    current: &BTreeMap<Cidr, Ipv4Addr>,
    desired: &BTreeMap<Cidr, Ipv4Addr>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (dst, via) in current {
        if desired.get(dst) != Some(via) && !desired.contains_key(dst) {
            lines.push(format!("route del {dst} via {via} proto {ROUTE_PROTO}"));
        }
    }
    for (dst, via) in desired {
        if current.get(dst) != Some(via) {
            lines.push(format!("route replace {dst} via {via} proto {ROUTE_PROTO}"));
        }
    }
    lines
}

/// Bring our peer routes to `desired` (pod CIDR → that node's address). Returns how many
/// changes were applied.
pub async fn sync_routes(desired: &BTreeMap<Cidr, Ipv4Addr>) -> Result<usize, NetError> {
    let current = current_routes().await?;
    let lines = route_changes(&current, desired);
    if lines.is_empty() {
        return Ok(0);
    }
    let mut batch = lines.join("\n");
    batch.push('\n');
    run("ip", &["-4", "-batch", "-"], Some(&batch)).await?;
    for line in &lines {
        info!(change = %line, "pod network route");
    }
    Ok(lines.len())
}

async fn iptables(args: &[&str]) -> Result<String, NetError> {
    let mut all = vec!["-w", "5"];
    all.extend_from_slice(args);
    run("iptables", &all, None).await
}

/// Create `chain` in `table` if missing (and empty it), and make `parent` jump to it first.
async fn own_chain(table: &str, parent: &str, chain: &str) -> Result<(), NetError> {
    if iptables(&["-t", table, "-N", chain]).await.is_err() {
        iptables(&["-t", table, "-F", chain]).await?;
    }
    let jump = ["-t", table, "-C", parent, "-j", chain];
    if iptables(&jump).await.is_err() {
        iptables(&["-t", table, "-I", parent, "1", "-j", chain]).await?;
    }
    Ok(())
}

/// Install the forwarding and masquerading rules of a node whose pods live in `pod_cidr`,
/// inside the cluster range `cluster_cidr`. Idempotent: rebuilds our chains each time.
pub async fn install_rules(cluster_cidr: Cidr, pod_cidr: Option<Cidr>) -> Result<(), NetError> {
    let cluster = cluster_cidr.to_string();
    own_chain("filter", "FORWARD", FORWARD_CHAIN).await?;
    iptables(&["-A", FORWARD_CHAIN, "-s", &cluster, "-j", "ACCEPT"]).await?;
    iptables(&["-A", FORWARD_CHAIN, "-d", &cluster, "-j", "ACCEPT"]).await?;
    own_chain("nat", "POSTROUTING", NAT_CHAIN).await?;
    if let Some(pods) = pod_cidr {
        let pods = pods.to_string();
        iptables(&[
            "-t",
            "nat",
            "-A",
            NAT_CHAIN,
            "-s",
            &pods,
            "!",
            "-d",
            &cluster,
            "-j",
            "MASQUERADE",
        ])
        .await?;
    }
    info!(cluster = %cluster, pods = ?pod_cidr.map(|c| c.to_string()), "pod network firewall rules installed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or(Cidr {
            addr: Ipv4Addr::UNSPECIFIED,
            prefix: 99,
        })
    }

    #[test]
    fn cidrs_parse_mask_and_contain() {
        let c = cidr("10.244.1.7/24");
        assert_eq!(c.to_string(), "10.244.1.0/24");
        assert!(c.contains("10.244.1.200".parse().unwrap_or(Ipv4Addr::UNSPECIFIED)));
        assert!(!c.contains("10.244.2.1".parse().unwrap_or(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(c.nth(1).to_string(), "10.244.1.1");
        assert_eq!(cidr("10.96.0.0/12").nth(10).to_string(), "10.96.0.10");
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }

    #[test]
    fn routes_are_read_back_from_ip_route() {
        let text = "10.244.2.0/24 via 10.77.0.12 dev eth0 proto 116 \n\
                    10.244.3.0/24 via 10.77.0.13 dev eth0 proto 116 onlink\n\
                    garbage line\n";
        let routes = parse_routes(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(
            routes.get(&cidr("10.244.3.0/24")).map(|v| v.to_string()),
            Some("10.77.0.13".to_string())
        );
    }

    #[test]
    fn route_changes_add_move_and_remove() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let current = BTreeMap::from([
            (cidr("10.244.2.0/24"), ip("10.77.0.12")),
            (cidr("10.244.3.0/24"), ip("10.77.0.13")),
            (cidr("10.244.4.0/24"), ip("10.77.0.14")),
        ]);
        let desired = BTreeMap::from([
            (cidr("10.244.2.0/24"), ip("10.77.0.12")),
            (cidr("10.244.3.0/24"), ip("10.77.0.23")),
            (cidr("10.244.5.0/24"), ip("10.77.0.15")),
        ]);
        assert_eq!(
            route_changes(&current, &desired),
            vec![
                "route del 10.244.4.0/24 via 10.77.0.14 proto 116",
                "route replace 10.244.3.0/24 via 10.77.0.23 proto 116",
                "route replace 10.244.5.0/24 via 10.77.0.15 proto 116",
            ]
        );
        assert!(route_changes(&desired, &desired).is_empty());
    }
}
