//! Test harness: a real API server (TLS on 127.0.0.1:0, cluster CA, admin client
//! certificate) over a given store, with kube-rs clients built from a kubeconfig.
#![allow(dead_code)]

use std::sync::Arc;

use tutti_apiserver::{ApiConfig, ApiServer, Authenticator};
use tutti_pki::{ClusterCa, Lifetime};
use tutti_store::Store;
use tutti_store::memory::MemoryStore;

pub struct TestServer {
    pub api: Arc<ApiServer>,
    pub store: Arc<dyn Store>,
    pub url: String,
    pub token: String,
    pub ca_pem: String,
    pub kubeconfig: String,
    pub ca: ClusterCa,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with_store(Arc::new(MemoryStore::new())).await
    }

    pub async fn with_store(store: Arc<dyn Store>) -> TestServer {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path()).unwrap();
        let serving = ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                Lifetime::default(),
            )
            .unwrap();
        let admin = ca
            .issue_client("admin", &["system:masters"], Lifetime::default())
            .unwrap();
        let token = tutti_pki::random_token();
        let own = ca
            .issue_client("system:apiserver", &["system:masters"], Lifetime::default())
            .unwrap();
        let agent_tls = tutti_apiserver::handlers::log::agent_client_config(
            ca.cert_pem(),
            &own.cert_pem,
            &own.key_pem,
        )
        .unwrap();
        let config = ApiConfig {
            agent_tls: Some(agent_tls),
            ..ApiConfig::default()
        };
        let api = ApiServer::new(
            store.clone(),
            config,
            Authenticator {
                admin_token: Some(token.clone()),
            },
        );
        api.start().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let tls =
            tutti_apiserver::serve::tls_config(ca.cert_pem(), &serving.cert_pem, &serving.key_pem)
                .unwrap();
        tokio::spawn(tutti_apiserver::serve::serve_tls(
            listener,
            tls,
            api.router(),
        ));
        let kubeconfig = tutti_pki::kubeconfig_yaml(
            "test",
            &url,
            ca.cert_pem(),
            &admin.cert_pem,
            &admin.key_pem,
        );
        TestServer {
            api,
            store,
            url,
            token,
            ca_pem: ca.cert_pem().to_string(),
            kubeconfig,
            ca,
            _dir: dir,
        }
    }

    /// A kube-rs client authenticating with the admin client certificate.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Raw HTTP: (status, body as JSON) for a request with the admin bearer token.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let client = self.client().await;
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Content-Type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap();
        match client.request_text(req).await {
            Ok(text) => (
                200,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            ),
            Err(kube::Error::Api(s)) => (s.code, serde_json::to_value(&*s).unwrap()),
            Err(e) => panic!("request failed: {e}"),
        }
    }
}
