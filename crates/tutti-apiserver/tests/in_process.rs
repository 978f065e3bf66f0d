//! The in-process client speaks the same API as HTTPS clients do.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

#[tokio::test]
async fn in_process_client_creates_and_reads() {
    let (_api, client) = tutti_apiserver::client::test_server().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}, "data": {"a": "b"}}))
            .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["a"], "b");
}
