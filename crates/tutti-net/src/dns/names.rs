//! Where a queried name falls: a place inside the cluster domain (service, endpoint, named
//! port, pod, or one of their parents), a reverse (`in-addr.arpa`) name, or somewhere else.
//!
//! Pure parsing over lowercase labels; nothing here looks at the catalog.

use std::net::Ipv4Addr;

use hickory_proto::rr::Name;

/// The cluster domain as lowercase labels, e.g. `["cluster", "local"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Domain {
    labels: Vec<String>,
}

impl Domain {
    /// Parses `cluster.local` (a trailing dot is allowed). Errors name what is wrong.
    pub(crate) fn parse(text: &str) -> Result<Domain, String> {
        let trimmed = text.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err("must not be empty".to_string());
        }
        let name = Name::from_ascii(trimmed).map_err(|e| e.to_string())?;
        Ok(Domain {
            labels: lower_labels(&name),
        })
    }

    /// The domain as an absolute name (`cluster.local.`).
    pub(crate) fn name(&self) -> Name {
        absolute(self.labels.iter().map(String::as_str))
    }

    /// `<labels...>.<domain>.` as an absolute name.
    pub(crate) fn child<'a>(&'a self, labels: impl IntoIterator<Item = &'a str>) -> Name {
        absolute(
            labels
                .into_iter()
                .chain(self.labels.iter().map(String::as_str)),
        )
    }
}

/// Builds an absolute name from labels that came from valid DNS names or Kubernetes object
/// names. A label that cannot be encoded (over 63 bytes) yields the root name, which never
/// matches anything; it cannot happen for names Kubernetes accepts.
fn absolute<'a>(labels: impl IntoIterator<Item = &'a str>) -> Name {
    let mut name = Name::from_labels(labels.into_iter().map(str::as_bytes)).unwrap_or_default();
    name.set_fqdn(true);
    name
}

/// Lowercase labels of a name, most specific first.
pub(crate) fn lower_labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect()
}

/// A queried name relative to the cluster domain. Labels are lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterName {
    /// `<domain>` itself.
    Apex,
    /// `svc.<domain>`.
    Services,
    /// `<ns>.svc.<domain>`.
    Namespace { ns: String },
    /// `<svc>.<ns>.svc.<domain>`.
    Service { ns: String, svc: String },
    /// `<endpoint>.<svc>.<ns>.svc.<domain>`: an endpoint's hostname, or its IP with dashes.
    Endpoint {
        ns: String,
        svc: String,
        endpoint: String,
    },
    /// `_<proto>.<svc>.<ns>.svc.<domain>`: the parent of a named port's SRV name.
    Protocol {
        ns: String,
        svc: String,
        proto: String,
    },
    /// `_<port>._<proto>.<svc>.<ns>.svc.<domain>`: a named port's SRV name.
    Port {
        ns: String,
        svc: String,
        port: String,
        proto: String,
    },
    /// `pod.<domain>` or `<ns>.pod.<domain>`.
    Pods,
    /// `<a-b-c-d>.<ns>.pod.<domain>`.
    Pod { ip: Ipv4Addr },
    /// Inside the domain but matching no scheme: it does not exist.
    Unknown,
}

/// Where a queried name belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// Inside the cluster domain; this server is authoritative.
    Cluster(ClusterName),
    /// `d.c.b.a.in-addr.arpa`: answered here if the address is a service's or an endpoint's.
    Reverse(Ipv4Addr),
    /// Anything else: forwarded upstream.
    Outside,
}

/// Places a queried name.
pub(crate) fn place(name: &Name, domain: &Domain) -> Place {
    let labels = lower_labels(name);
    if let Some(relative) = strip_suffix(&labels, &domain.labels) {
        return Place::Cluster(cluster_name(relative));
    }
    match reverse_v4(&labels) {
        Some(ip) => Place::Reverse(ip),
        None => Place::Outside,
    }
}

fn strip_suffix<'a>(labels: &'a [String], suffix: &[String]) -> Option<&'a [String]> {
    let cut = labels.len().checked_sub(suffix.len())?;
    (labels[cut..] == *suffix).then_some(&labels[..cut])
}

fn cluster_name(relative: &[String]) -> ClusterName {
    let Some((kind, rest)) = relative.split_last() else {
        return ClusterName::Apex;
    };
    match kind.as_str() {
        "svc" => service_name(rest),
        "pod" => pod_name(rest),
        _ => ClusterName::Unknown,
    }
}

fn service_name(rest: &[String]) -> ClusterName {
    let own = |s: &String| s.clone();
    match rest {
        [] => ClusterName::Services,
        [ns] => ClusterName::Namespace { ns: own(ns) },
        [svc, ns] => ClusterName::Service {
            ns: own(ns),
            svc: own(svc),
        },
        [first, svc, ns] => match first.strip_prefix('_') {
            Some(proto) => ClusterName::Protocol {
                ns: own(ns),
                svc: own(svc),
                proto: proto.to_string(),
            },
            None => ClusterName::Endpoint {
                ns: own(ns),
                svc: own(svc),
                endpoint: own(first),
            },
        },
        [port, proto, svc, ns] => match (port.strip_prefix('_'), proto.strip_prefix('_')) {
            (Some(port), Some(proto)) => ClusterName::Port {
                ns: own(ns),
                svc: own(svc),
                port: port.to_string(),
                proto: proto.to_string(),
            },
            _ => ClusterName::Unknown,
        },
        _ => ClusterName::Unknown,
    }
}

fn pod_name(rest: &[String]) -> ClusterName {
    match rest {
        [] | [_] => ClusterName::Pods,
        [ip, _ns] => match dashed_ip(ip) {
            Some(ip) => ClusterName::Pod { ip },
            None => ClusterName::Unknown,
        },
        _ => ClusterName::Unknown,
    }
}

/// `10-1-2-3` → 10.1.2.3.
pub(crate) fn dashed_ip(label: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = label.split('-');
    for octet in &mut octets {
        *octet = parse_octet(parts.next()?)?;
    }
    match parts.next() {
        Some(_) => None,
        None => Some(Ipv4Addr::from(octets)),
    }
}

/// 10.1.2.3 → `10-1-2-3`.
pub(crate) fn ip_dashed(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a}-{b}-{c}-{d}")
}

/// A decimal octet without sign or leading zeros (`010` is not 10, as in kube-dns).
fn parse_octet(s: &str) -> Option<u8> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !canonical || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// `d.c.b.a.in-addr.arpa` → a.b.c.d; None for anything else (partial reverse zones too).
fn reverse_v4(labels: &[String]) -> Option<Ipv4Addr> {
    let [d, c, b, a, in_addr, arpa] = labels else {
        return None;
    };
    if in_addr != "in-addr" || arpa != "arpa" {
        return None;
    }
    Some(Ipv4Addr::new(
        parse_octet(a)?,
        parse_octet(b)?,
        parse_octet(c)?,
        parse_octet(d)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain::parse("cluster.local").unwrap()
    }

    fn at(name: &str) -> Place {
        place(&Name::from_ascii(name).unwrap(), &domain())
    }

    fn cluster(name: &str) -> ClusterName {
        match at(name) {
            Place::Cluster(c) => c,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn service_names_with_and_without_trailing_dot_and_any_case() {
        let want = ClusterName::Service {
            ns: "default".into(),
            svc: "web".into(),
        };
        assert_eq!(cluster("web.default.svc.cluster.local."), want);
        assert_eq!(cluster("web.default.svc.cluster.local"), want);
        assert_eq!(cluster("WEB.Default.SVC.Cluster.Local."), want);
    }

    #[test]
    fn parents_endpoints_and_ports() {
        assert_eq!(cluster("cluster.local."), ClusterName::Apex);
        assert_eq!(cluster("svc.cluster.local."), ClusterName::Services);
        assert_eq!(
            cluster("default.svc.cluster.local."),
            ClusterName::Namespace {
                ns: "default".into()
            }
        );
        assert_eq!(
            cluster("db-0.db.default.svc.cluster.local."),
            ClusterName::Endpoint {
                ns: "default".into(),
                svc: "db".into(),
                endpoint: "db-0".into()
            }
        );
        assert_eq!(
            cluster("_tcp.db.default.svc.cluster.local."),
            ClusterName::Protocol {
                ns: "default".into(),
                svc: "db".into(),
                proto: "tcp".into()
            }
        );
        assert_eq!(
            cluster("_HTTP._TCP.db.default.svc.cluster.local."),
            ClusterName::Port {
                ns: "default".into(),
                svc: "db".into(),
                port: "http".into(),
                proto: "tcp".into()
            }
        );
        assert_eq!(
            cluster("http.tcp.db.default.svc.cluster.local."),
            ClusterName::Unknown
        );
        assert_eq!(
            cluster("a.b.c.d.e.svc.cluster.local."),
            ClusterName::Unknown
        );
        assert_eq!(cluster("foo.cluster.local."), ClusterName::Unknown);
    }

    #[test]
    fn pod_names() {
        assert_eq!(
            cluster("10-244-1-7.default.pod.cluster.local."),
            ClusterName::Pod {
                ip: Ipv4Addr::new(10, 244, 1, 7)
            }
        );
        assert_eq!(cluster("default.pod.cluster.local."), ClusterName::Pods);
        assert_eq!(cluster("pod.cluster.local."), ClusterName::Pods);
        for bad in [
            "10-244-1",
            "10-244-1-7-1",
            "10-244-1-256",
            "10-244-01-7",
            "a-b-c-d",
        ] {
            assert_eq!(
                cluster(&format!("{bad}.default.pod.cluster.local.")),
                ClusterName::Unknown,
                "{bad}"
            );
        }
    }

    #[test]
    fn reverse_and_outside() {
        assert_eq!(
            at("1.0.96.10.in-addr.arpa."),
            Place::Reverse(Ipv4Addr::new(10, 96, 0, 1))
        );
        assert_eq!(at("0.96.10.in-addr.arpa."), Place::Outside);
        assert_eq!(at("example.com."), Place::Outside);
        // A name merely ending in the same last label is not inside the domain.
        assert_eq!(at("web.default.svc.local."), Place::Outside);
        assert_eq!(at("notcluster.local."), Place::Outside);
    }

    #[test]
    fn dashed_round_trip() {
        let ip = Ipv4Addr::new(10, 0, 12, 255);
        assert_eq!(dashed_ip(&ip_dashed(ip)), Some(ip));
    }

    #[test]
    fn domain_parsing() {
        assert_eq!(
            Domain::parse("Cluster.Local.").unwrap().name().to_ascii(),
            "cluster.local."
        );
        assert!(Domain::parse("").is_err());
        assert!(Domain::parse(".").is_err());
    }
}
