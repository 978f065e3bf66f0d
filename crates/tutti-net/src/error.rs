//! Errors of the node's network parts.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A listening socket could not be opened (address in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// A host network change (link, address, route, firewall rule) failed.
    #[error("{what}: {detail}")]
    Host { what: String, detail: String },
    /// The DNS server's configuration cannot be used.
    #[error("dns config `{field}`: {detail}")]
    DnsConfig { field: &'static str, detail: String },
    /// The DNS server stopped because one of its sockets failed.
    #[error("dns server stopped: {detail}")]
    DnsServer { detail: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
