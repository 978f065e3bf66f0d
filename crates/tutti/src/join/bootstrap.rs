//! The joining node's side of the join protocol, over HTTPS to a manager:
//!
//! 1. `GET /join/v1/ca` without verifying the server (we do not know the CA yet), then
//!    compare the SHA-256 of what came back with the digest in the join token: a mismatch
//!    ends the join before anything secret was sent (no trust on first use without the pin).
//! 2. With that CA as the only root, `POST /join/v1/node` with the token and a CSR for a key
//!    made here; the answer is the node's certificate.
//! 3. Later, with the node's certificate as client identity, `POST /join/v1/renew`.

use anyhow::{Context, bail};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tutti_pki::{Issued, JoinRequest, JoinToken, RenewRequest};

/// A client to `server` trusting only `ca_pem` (or nothing is verified when None: only for
/// fetching the CA, whose digest is checked before use).
fn client(server: &str, ca_pem: Option<&str>) -> anyhow::Result<kube::Client> {
    let uri: http::Uri = server
        .parse()
        .with_context(|| format!("{server} is not a valid manager address"))?;
    let mut config = kube::Config::new(uri);
    match ca_pem {
        Some(pem) => {
            let der = CertificateDer::from_pem_slice(pem.as_bytes())
                .context("the cluster CA is not a PEM certificate")?;
            config.root_cert = Some(vec![der.to_vec()]);
        }
        None => config.accept_invalid_certs = true,
    }
    Ok(kube::Client::try_from(config)?)
}

/// What a manager's refusal or an unreachable manager means, for a person.
fn explain(e: kube::Error, server: &str, what: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow::anyhow!("the manager refused {what}: {}", s.message),
        other => anyhow::anyhow!("cannot reach the manager at {server} ({what}): {other}"),
    }
}

/// Step 1: the manager's CA, checked against the token's pin.
pub async fn fetch_pinned_ca(server: &str, token: &JoinToken) -> anyhow::Result<String> {
    let req = http::Request::get("/join/v1/ca").body(Vec::new())?;
    let ca_pem = client(server, None)?
        .request_text(req)
        .await
        .map_err(|e| explain(e, server, "to hand out its CA"))?;
    let matches = token
        .pins(&ca_pem)
        .context("the manager sent something that is not a CA certificate")?;
    if !matches {
        let got = tutti_pki::ca_digest(&ca_pem).unwrap_or_default();
        bail!(
            "the manager's CA does not match the token: refusing to join \
             (the token pins sha256 {}, the manager at {server} presented {got})",
            token.ca_digest
        );
    }
    Ok(ca_pem)
}

/// Step 2: ask for a certificate with the token, trusting only the pinned CA.
pub async fn request_certificate(
    server: &str,
    ca_pem: &str,
    req: &JoinRequest,
) -> anyhow::Result<Issued> {
    let body = serde_json::to_vec(req)?;
    let http_req = http::Request::post("/join/v1/node")
        .header("Content-Type", "application/json")
        .body(body)?;
    let text = client(server, Some(ca_pem))?
        .request_text(http_req)
        .await
        .map_err(|e| explain(e, server, "to let this node join"))?;
    let issued: Issued =
        serde_json::from_str(&text).context("the manager's answer is not a certificate")?;
    if issued.ca.trim() != ca_pem.trim() {
        bail!("the manager answered with a CA other than the one the token pins");
    }
    Ok(issued)
}

/// Step 3: renew with the current certificate (`client` authenticates with it).
pub async fn renew(
    client: &kube::Client,
    server: &str,
    req: &RenewRequest,
) -> anyhow::Result<Issued> {
    let body = serde_json::to_vec(req)?;
    let http_req = http::Request::post("/join/v1/renew")
        .header("Content-Type", "application/json")
        .body(body)?;
    let text = client
        .request_text(http_req)
        .await
        .map_err(|e| explain(e, server, "to renew this node's certificate"))?;
    serde_json::from_str(&text).context("the manager's answer is not a certificate")
}
