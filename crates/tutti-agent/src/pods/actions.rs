//! Running one probe or lifecycle-hook action against a container: `exec` through the
//! driver, `httpGet` and `tcpSocket` over the pod's network. `grpc` probes and `HTTPS`
//! httpGet are checked as a TCP connection (no HTTP/2 or TLS client here); the pod's
//! `tutti.dev/Unsupported` condition says so.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpStream;
use tutti_runtime::RuntimeDriver;

use super::http_get;

/// The container an action runs against.
#[derive(Clone)]
pub struct Target {
    pub driver: Arc<dyn RuntimeDriver>,
    pub container_id: String,
    pub pod_ip: String,
    pub ports: Vec<ContainerPort>,
}

/// A port number, or a named container port.
pub fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(s) => {
            if let Ok(n) = s.parse::<u16>() {
                return Ok(n);
            }
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port {s:?} in the container's ports"))
        }
    }
}

/// Run `command` in the container; a non-zero exit is a failure carrying its output.
pub async fn exec(t: &Target, command: &[String], timeout: Duration) -> Result<(), String> {
    let res = t
        .driver
        .exec(&t.container_id, command, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if res.exit_code == 0 {
        return Ok(());
    }
    let output = res.output.trim();
    if output.is_empty() {
        Err(format!("command {command:?} exited with {}", res.exit_code))
    } else {
        Err(output.to_string())
    }
}

/// GET the action's URL; 200–399 is success.
pub async fn http(t: &Target, a: &HTTPGetAction, timeout: Duration) -> Result<(), String> {
    let port = resolve_port(&a.port, &t.ports)?;
    let host = a
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(&t.pod_ip);
    if a.scheme.as_deref() == Some("HTTPS") {
        return tcp(host, port, timeout).await;
    }
    let headers: Vec<(String, String)> = a
        .http_headers
        .iter()
        .flatten()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    let path = a.path.as_deref().unwrap_or("/");
    let code = http_get::get(host, port, path, &headers, timeout).await?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// Open (and close) a TCP connection.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addr = http_get::authority(host, port);
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("dial tcp {addr}: {e}")),
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// Run a probe's action once.
pub async fn probe(t: &Target, p: &Probe, timeout: Duration) -> Result<(), String> {
    if let Some(e) = &p.exec {
        return exec(t, e.command.as_deref().unwrap_or_default(), timeout).await;
    }
    if let Some(h) = &p.http_get {
        return http(t, h, timeout).await;
    }
    if let Some(s) = &p.tcp_socket {
        let port = resolve_port(&s.port, &t.ports)?;
        let host = s
            .host
            .as_deref()
            .filter(|h| !h.is_empty())
            .unwrap_or(&t.pod_ip);
        return tcp(host, port, timeout).await;
    }
    if let Some(g) = &p.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port {}", g.port))?;
        return tcp(&t.pod_ip, port, timeout).await;
    }
    Err("probe has no action".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        let ports = vec![ContainerPort {
            name: Some("http".into()),
            container_port: 8080,
            ..Default::default()
        }];
        assert_eq!(resolve_port(&IntOrString::Int(80), &ports), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &ports),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9000".into()), &ports),
            Ok(9000)
        );
        assert!(resolve_port(&IntOrString::String("grpc".into()), &ports).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &ports).is_err());
    }
}
