//! Tests for the deployment description as a whole: layout, alignment and sections.

use serde_json::json;

use super::writer::Writer;
use super::{deployment, events};

#[test]
fn the_seed_deployment_reads_like_kubectl() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "uid": "d1", "creationTimestamp": "2024-03-05T10:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}},
        "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]},
    });
    let rs = json!({"metadata": {"name": "nginx-7c5ddbdf54", "ownerReferences": [{"uid": "d1", "controller": true}],
        "annotations": {"deployment.kubernetes.io/revision": "1"}}, "spec": {"replicas": 3}, "status": {"replicas": 3}});
    let mut w = Writer::default();
    deployment::write(&mut w, &d, &[rs]);
    events::write(&mut w, &[], k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    let expected = "\
Name:                   nginx
Namespace:              default
CreationTimestamp:      Tue, 05 Mar 2024 10:00:00 +0000
Labels:                 <none>
Annotations:            deployment.kubernetes.io/revision: 1
Selector:               app=nginx
Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  app=nginx
  Containers:
   nginx:
    Image:        nginx
    Port:         80/TCP
    Host Port:    0/TCP
    Environment:  <none>
    Mounts:       <none>
  Volumes:        <none>
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      True    MinimumReplicasAvailable
  Progressing    True    NewReplicaSetAvailable
OldReplicaSets:  <none>
NewReplicaSet:   nginx-7c5ddbdf54 (3/3 replicas created)
Events:          <none>
";
    assert_eq!(w.finish(), expected);
}
