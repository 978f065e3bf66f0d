//! `GET pods/<name>/log`: `kubectl logs` is answered by the node agent that runs the pod.
//! The API server looks up the pod's node, connects to its agent over mutual TLS (its own
//! client certificate, the agent's serving certificate checked against the cluster CA) and
//! streams the agent's answer back.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio_rustls::TlsConnector;
use tutti_core::registry;

use super::Req;
use super::write::current;
use crate::error::{ApiError, ApiResult};
use crate::objects::from_kv;

/// Query parameters passed through to the agent.
const PASSED: &[&str] = &[
    "follow",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "timestamps",
    "previous",
    "limitBytes",
];

pub async fn log(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let name = t.name()?;
    let ns = t.ns().unwrap_or("default");
    let pod = from_kv(&current(&req.api, t.info, t.ns(), name).await?)?;
    let containers: Vec<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|f| {
            pod.pointer(&format!("/spec/{f}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let container = match req.params.get("container") {
        Some(c) if !containers.iter().any(|x| x == c) => {
            return Err(ApiError::BadRequest(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: the pod is not scheduled to a node yet"
        )));
    }
    let nodes = registry::find_by_plural("", "nodes").ok_or(ApiError::NoSuchResource)?;
    let node = from_kv(&current(&req.api, nodes, None, node_name).await?)?;
    let (host, port) = agent_address(&node).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "node {node_name} does not publish an agent endpoint"
        ))
    })?;
    let tls = req.api.config.agent_tls.clone().ok_or_else(|| {
        ApiError::Unavailable("this API server has no credentials for node agents".into())
    })?;
    let mut query: Vec<String> = PASSED
        .iter()
        .filter_map(|k| req.params.get(k).map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    query.sort();
    let path = format!("/containerLogs/{ns}/{name}/{container}?{}", query.join("&"));
    fetch(tls, &host, port, &path).await
}

/// The agent's InternalIP (else its first address) and its advertised port.
fn agent_address(node: &Value) -> Option<(String, u16)> {
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)?;
    let addrs = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    let pick = addrs
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addrs.first())?;
    Some((
        pick.get("address")?.as_str()?.to_string(),
        u16::try_from(port).ok()?,
    ))
}

fn urlencode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// One HTTPS GET to the agent, streaming its body back.
async fn fetch(
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
) -> ApiResult<Response> {
    let unreachable = |e: &dyn std::fmt::Display| {
        ApiError::Unavailable(format!("cannot reach the node agent at {host}:{port}: {e}"))
    };
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| unreachable(&e))?;
    let server_name = ServerName::try_from(host.to_string()).map_err(|e| unreachable(&e))?;
    let stream = TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = axum::http::Request::get(path)
        .header(header::HOST, format!("{host}:{port}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = String::from_utf8_lossy(&body).trim().to_string();
        return Err(match status {
            StatusCode::NOT_FOUND => ApiError::BadRequest(message),
            StatusCode::BAD_REQUEST => ApiError::BadRequest(message),
            _ => ApiError::Unavailable(message),
        });
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::new(resp.into_body()))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A rustls client config for talking to node agents: our client certificate, the cluster
/// CA as the only root.
pub fn agent_client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}
