use serde_json::json;

use crate::table::fixtures::{ago, row};

#[test]
fn min_available_budget() {
    let pdb = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(90)},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
    });
    assert_eq!(
        row("PodDisruptionBudget", &pdb),
        ["web", "2", "N/A", "#1", "90s"]
    );
}

#[test]
fn max_unavailable_percent_before_the_controller_counted() {
    let pdb = json!({
        "metadata": {"name": "db", "creationTimestamp": ago(3 * 3600)},
        "spec": {"maxUnavailable": "25%"}
    });
    assert_eq!(
        row("PodDisruptionBudget", &pdb),
        ["db", "N/A", "25%", "#0", "3h"]
    );
}

#[test]
fn columns_are_kubes() {
    let names: Vec<String> = crate::table::columns("PodDisruptionBudget")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Name",
            "Min Available",
            "Max Unavailable",
            "Allowed Disruptions",
            "Age"
        ]
    );
}
