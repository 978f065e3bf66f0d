use super::*;

fn pdb(allowed: i64, generation: i64, observed: i64) -> Value {
    json!({"metadata": {"name": "web", "generation": generation},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 3, "desiredHealthy": 2,
            "expectedPods": 3, "observedGeneration": observed}})
}

#[test]
fn decrement_records_the_pod() {
    let new = check_and_decrement(&pdb(1, 1, 1), "web-1", "2025-06-01T12:00:00Z").unwrap();
    assert_eq!(new["status"]["disruptionsAllowed"], 0);
    assert_eq!(
        new["status"]["disruptedPods"],
        json!({"web-1": "2025-06-01T12:00:00Z"})
    );
    assert_eq!(new["status"]["conditions"][0]["reason"], "InsufficientPods");
    let new = check_and_decrement(&pdb(2, 1, 1), "web-1", "2025-06-01T12:00:00Z").unwrap();
    assert_eq!(new["status"]["disruptionsAllowed"], 1);
    assert!(new["status"].get("conditions").is_none());
}

#[test]
fn refusals_say_why() {
    let err = check_and_decrement(&pdb(0, 1, 1), "web-1", "now").unwrap_err();
    let status = err.status();
    assert_eq!(status["code"], 429);
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["message"], VIOLATES_BUDGET);
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 3 currently"})
    );
    let stale = check_and_decrement(&pdb(1, 2, 1), "web-1", "now")
        .unwrap_err()
        .status();
    assert_eq!(stale["details"]["retryAfterSeconds"], 10);
    let negative = check_and_decrement(&pdb(-1, 1, 1), "web-1", "now").unwrap_err();
    assert_eq!(negative.code(), StatusCode::FORBIDDEN);
}

#[test]
fn selectors_and_pod_states() {
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    assert!(covers(&pdb(1, 1, 1), &pod));
    assert!(
        covers(&json!({"spec": {"selector": {}}}), &pod),
        "empty selects all"
    );
    assert!(!covers(&json!({"spec": {}}), &pod), "missing selects none");
    assert!(!can_ignore_budget(&pod));
    assert!(!unhealthy_may_go(&pod, &pdb(0, 1, 1)));
    let unready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
    assert!(
        unhealthy_may_go(&unready, &pdb(0, 1, 1)),
        "budget met: unready pods may go"
    );
    for phase in ["Pending", "Succeeded", "Failed"] {
        assert!(can_ignore_budget(&json!({"status": {"phase": phase}})));
    }
}
