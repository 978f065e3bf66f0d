//! Response content negotiation: plain JSON, server-side printed `Table`, or
//! `PartialObjectMetadata`, as the client's Accept header asks.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
    PartialMetadata,
}

/// The first acceptable format in the Accept list (clients list their preference first and
/// always end with plain `application/json`).
pub fn format(headers: &HeaderMap) -> Format {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in accept.split(',') {
        let part = part.trim();
        if part.contains("as=Table") {
            return Format::Table;
        }
        if part.contains("as=PartialObjectMetadata") {
            return Format::PartialMetadata;
        }
        if part.starts_with("application/json") || part.starts_with("*/*") || part.is_empty() {
            return Format::Json;
        }
    }
    Format::Json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_table_accept_is_honoured() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert_eq!(format(&h), Format::Table);
        h.insert(
            ACCEPT,
            "application/vnd.kubernetes.protobuf,application/json"
                .parse()
                .unwrap(),
        );
        assert_eq!(format(&h), Format::Json);
        assert_eq!(format(&HeaderMap::new()), Format::Json);
    }
}
