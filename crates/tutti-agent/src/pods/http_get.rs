//! A minimal HTTP/1.1 GET for httpGet probes and lifecycle hooks: connect, send one
//! request with `Connection: close`, read the status line. Errors read like kubelet's
//! (`Get "http://10.0.0.5:8080/healthz": dial tcp 10.0.0.5:8080: connection refused`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `host:port`, with IPv6 addresses in brackets.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// GET `http://host:port/path`; returns the response's status code.
pub async fn get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<u16, String> {
    let authority = authority(host, port);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let url = format!("http://{authority}{path}");
    let exchange = async {
        let mut stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("dial tcp {authority}: {e}"))?;
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        if !has("host") {
            req.push_str(&format!("Host: {authority}\r\n"));
        }
        if !has("user-agent") {
            req.push_str("User-Agent: kube-probe/1.33\r\n");
        }
        if !has("accept") {
            req.push_str("Accept: */*\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 8192 {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        parse_status_line(&buf).ok_or_else(|| "malformed HTTP response".to_string())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(format!("Get \"{url}\": {e}")),
        Err(_) => Err(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

/// `HTTP/1.1 204 No Content` → 204.
fn parse_status_line(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Busy\r\nx"), Some(503));
        assert_eq!(parse_status_line(b"garbage"), None);
        assert_eq!(authority("::1", 80), "[::1]:80");
    }

    #[tokio::test]
    async fn gets_a_status_and_sends_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let headers = vec![("X-Probe".to_string(), "yes".to_string())];
        let code = get(
            "127.0.0.1",
            port,
            "healthz",
            &headers,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(code, Ok(418));
        let req = server.await.unwrap();
        assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("X-Probe: yes\r\n"), "{req}");
    }

    #[tokio::test]
    async fn refused_connection_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = get("127.0.0.1", port, "/", &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("Get \"http://127.0.0.1:{port}/\": dial tcp")),
            "{err}"
        );
    }
}
