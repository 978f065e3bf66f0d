use serde_json::{Value, json};

use crate::defaults::apply_defaults;
use crate::validation::{validate, validate_update};

fn check(kind: &str, mut obj: Value) -> Vec<String> {
    apply_defaults(kind, &mut obj);
    validate(kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn slice(address_type: &str, endpoints: Value, ports: Value) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "default"},
        "addressType": address_type, "endpoints": endpoints, "ports": ports})
}

#[test]
fn a_controller_written_slice_is_valid() {
    let endpoints = json!([{"addresses": ["10.244.1.5"], "nodeName": "n1", "hostname": "web-0",
        "conditions": {"ready": true, "serving": true, "terminating": false},
        "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default", "uid": "u1"}}]);
    let ports = json!([{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
        {"name": "metrics", "port": 9100}]);
    assert_eq!(
        check("EndpointSlice", slice("IPv4", endpoints, ports)),
        Vec::<String>::new()
    );
    // A placeholder: no endpoints, no ports.
    assert_eq!(
        check("EndpointSlice", slice("IPv4", Value::Null, Value::Null)),
        Vec::<String>::new()
    );
}

#[test]
fn address_type_is_required_and_known() {
    assert_eq!(
        check("EndpointSlice", slice("", json!([]), json!([]))),
        ["addressType: Required value"]
    );
    assert_eq!(
        check("EndpointSlice", slice("IPv5", json!([]), json!([]))),
        [
            "addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
        ]
    );
}

#[test]
fn addresses_must_be_present_and_of_the_slice_family() {
    let endpoints = json!([{"addresses": []}, {"addresses": ["fd00::1"]}, {"addresses": ["10.0.0.1"], "hostname": "Web_0"}]);
    assert_eq!(
        check("EndpointSlice", slice("IPv4", endpoints, json!([]))),
        [
            "endpoints[0].addresses: Required value: must contain at least 1 address",
            "endpoints[1].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address",
            "endpoints[2].hostname: Invalid value: \"Web_0\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ]
    );
    let errs = check(
        "EndpointSlice",
        slice("IPv6", json!([{"addresses": ["10.0.0.1"]}]), json!([])),
    );
    assert_eq!(
        errs,
        ["endpoints[0].addresses[0]: Invalid value: \"10.0.0.1\": must be a valid IPv6 address"]
    );
    let errs = check(
        "EndpointSlice",
        slice(
            "FQDN",
            json!([{"addresses": ["db.example.com"]}, {"addresses": ["localhost"]}]),
            json!([]),
        ),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("endpoints[1].addresses[0]: Invalid value: \"localhost\""),
        "{errs:?}"
    );
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"addresses": [format!("10.0.{}.{}", i / 250, i % 250 + 1)]}))
        .collect();
    assert_eq!(
        check(
            "EndpointSlice",
            slice("IPv4", Value::Array(many), json!([]))
        ),
        ["endpoints: Too many: 1001: must have at most 1000 items"]
    );
}

#[test]
fn port_names_are_unique_labels_and_protocols_supported() {
    let ports = json!([{"port": 80}, {"port": 81}, {"name": "Web", "port": 82}, {"name": "dns", "port": 53, "protocol": "ICMP"}]);
    let errs = check("EndpointSlice", slice("IPv4", json!([]), ports));
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert_eq!(errs[0], "ports[1].name: Duplicate value: \"\"");
    assert!(
        errs[1].starts_with("ports[2].name: Invalid value: \"Web\""),
        "{errs:?}"
    );
    assert_eq!(
        errs[2],
        "ports[3].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
    );
}

#[test]
fn address_type_is_immutable() {
    let old = slice("IPv4", json!([]), json!([]));
    let mut new = old.clone();
    assert!(validate_update("EndpointSlice", &old, &new).is_empty());
    new["addressType"] = json!("IPv6");
    let errs: Vec<String> = validate_update("EndpointSlice", &old, &new)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        ["addressType: Invalid value: \"IPv6\": field is immutable"]
    );
}

#[test]
fn headless_endpoints_may_have_port_less_subsets() {
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
        "subsets": [{"addresses": [{"ip": "10.244.0.7", "hostname": "db-0"}]}]});
    assert_eq!(check("Endpoints", ep), Vec::<String>::new());
    let empty = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
        "subsets": [{"ports": [{"port": 5432}]}]});
    assert_eq!(
        check("Endpoints", empty),
        ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]
    );
}
