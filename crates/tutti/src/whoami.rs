//! `tutti whoami`: a tiny HTTP server that answers every request with who served it (pod
//! name, namespace, IP, hostname). Run as a pod (the process driver needs no image) it shows
//! which replica a Service sent a request to — the load-balancing tests use it.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;

#[derive(clap::Args)]
pub struct WhoamiArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
}

/// Who this server is, read once at start from the environment (downward API) and the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub pod: String,
    pub namespace: String,
    pub ip: String,
    pub hostname: String,
}

impl Identity {
    fn from_env() -> Identity {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_string();
        Identity {
            pod: Some(var("POD_NAME"))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| hostname.clone()),
            namespace: var("POD_NAMESPACE"),
            ip: var("POD_IP"),
            hostname,
        }
    }

    fn answer(&self, client: Option<SocketAddr>) -> String {
        let client = client.map(|c| c.to_string()).unwrap_or_default();
        format!(
            "pod: {}\nnamespace: {}\nip: {}\nhostname: {}\nclient: {client}\n",
            self.pod, self.namespace, self.ip, self.hostname
        )
    }
}

pub fn router(me: Identity) -> Router {
    let health = || async { "ok" };
    let answer = move |req: axum::extract::Request| {
        let me = me.clone();
        async move {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(p)| *p);
            me.answer(peer)
        }
    };
    Router::new()
        .route("/healthz", get(health))
        .fallback(answer)
}

pub async fn run(args: WhoamiArgs) -> anyhow::Result<()> {
    let me = Identity::from_env();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!(
        "tutti whoami: {} answering on {}",
        me.pod,
        listener.local_addr()?
    );
    let app = router(me).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn answers_with_who_served_the_request() {
        let me = Identity {
            pod: "web-1".into(),
            namespace: "default".into(),
            ip: "10.244.0.7".into(),
            hostname: "h".into(),
        };
        let resp = router(me)
            .oneshot(
                axum::http::Request::get("/anything")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains("pod: web-1\n") && text.contains("ip: 10.244.0.7\n"),
            "{text}"
        );
    }
}
