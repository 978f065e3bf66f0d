//! The node's pod network: one user-defined bridge per node (`tutti_<node>`) whose subnet is
//! the node's pod CIDR, so every pod gets an address the rest of the cluster can route to.
//!
//! Docker's own masquerading is switched off for it: traffic between pods on different
//! nodes must keep the pod's address as its source. The agent adds the one NAT rule that is
//! still wanted (pods reaching beyond the cluster range) itself.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, NetworkInspect};
use tracing::{info, warn};

use super::labels::{MANAGED, NODE};
use super::{engine_error, is_not_found, names};
use crate::{PodNetworkSpec, RuntimeError};

/// Make sure `node`'s pod network exists with `spec`'s subnet; returns its name.
pub(crate) async fn ensure(
    docker: &Docker,
    node: &str,
    spec: &PodNetworkSpec,
) -> Result<String, RuntimeError> {
    let name = names::network(node);
    match docker.inspect_network(&name, None).await {
        Ok(found) if subnet_of(&found).as_deref() == Some(spec.subnet.as_str()) => {
            return Ok(name);
        }
        Ok(found) => {
            let attached = found.containers.as_ref().map_or(0, HashMap::len);
            let had = subnet_of(&found).unwrap_or_default();
            if attached > 0 {
                return Err(RuntimeError::Other(format!(
                    "docker network {name} has subnet {had} but this node's pod CIDR is now {}; \
                     {attached} container(s) still use it — remove them (or the node's pods) \
                     and restart the agent",
                    spec.subnet
                )));
            }
            warn!(network = %name, old = %had, new = %spec.subnet, "replacing the pod network: the pod CIDR changed");
            docker
                .remove_network(&name)
                .await
                .or_else(|e| if is_not_found(&e) { Ok(()) } else { Err(e) })
                .map_err(|e| engine_error(&name, e))?;
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(engine_error(&name, e)),
    }
    docker
        .create_network(request(&name, node, spec))
        .await
        .map_err(|e| engine_error(&name, e))?;
    info!(network = %name, subnet = %spec.subnet, gateway = %spec.gateway, "pod network created");
    Ok(name)
}

fn subnet_of(found: &NetworkInspect) -> Option<String> {
    found
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.iter().find_map(|c| c.subnet.clone()))
}

fn request(name: &str, node: &str, spec: &PodNetworkSpec) -> NetworkCreateRequest {
    let options = HashMap::from([
        (
            "com.docker.network.bridge.enable_ip_masquerade".to_string(),
            "false".to_string(),
        ),
        (
            "com.docker.network.bridge.enable_icc".to_string(),
            "true".to_string(),
        ),
    ]);
    let labels = HashMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (NODE.to_string(), node.to_string()),
    ]);
    NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        ipam: Some(Ipam {
            driver: Some("default".to_string()),
            config: Some(vec![IpamConfig {
                subnet: Some(spec.subnet.clone()),
                gateway: Some(spec.gateway.clone()),
                ..Default::default()
            }]),
            options: None,
        }),
        options: Some(options),
        labels: Some(labels),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_is_the_nodes_subnet_without_docker_masquerading() {
        let spec = PodNetworkSpec {
            subnet: "10.244.3.0/24".into(),
            gateway: "10.244.3.1".into(),
        };
        let req = request("tutti_node-a", "node-a", &spec);
        assert_eq!(req.driver.as_deref(), Some("bridge"));
        let cfg = req.ipam.and_then(|i| i.config).unwrap_or_default();
        assert_eq!(cfg[0].subnet.as_deref(), Some("10.244.3.0/24"));
        assert_eq!(cfg[0].gateway.as_deref(), Some("10.244.3.1"));
        let options = req.options.unwrap_or_default();
        assert_eq!(
            options
                .get("com.docker.network.bridge.enable_ip_masquerade")
                .map(String::as_str),
            Some("false")
        );
        assert_eq!(
            req.labels.unwrap_or_default().get(NODE).map(String::as_str),
            Some("node-a")
        );
    }
}
