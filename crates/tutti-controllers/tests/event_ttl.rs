//! The event TTL controller against the real API server, with TTLs of a few seconds: Events
//! go a TTL after their last write and never before, an update restarts the TTL, Events
//! deleted or recreated by others are handled, and a controller started over an existing
//! set of Events (a new leader, a restart) expires the old ones at once.
//!
//! Times are asserted only as lower bounds ("not gone before its TTL"), which a slow
//! machine cannot break; the upper bound is the patience of the polls.

use std::error::Error;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

type Res<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);

async fn server() -> Res<Client> {
    let (_api, client) = tutti_apiserver::client::test_server().await?;
    Ok(client)
}

/// Run the controller until the returned handle is aborted (a leadership term).
fn start(client: &Client, ttl: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(tutti_controllers::event_ttl::run(client.clone(), ttl))
}

fn events(client: &Client) -> Api<Event> {
    Api::namespaced(client.clone(), "default")
}

/// Create an Event the way the recorder does (timestamps of now).
async fn create_event(client: &Client, name: &str) -> Res<Event> {
    let now = Timestamp::now();
    let ev = Event {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("Pod".into()),
            name: Some("web-0".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        reason: Some("Scheduled".into()),
        message: Some("Successfully assigned default/web-0 to n1".into()),
        type_: Some("Normal".into()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        ..Default::default()
    };
    Ok(events(client).create(&PostParams::default(), &ev).await?)
}

async fn exists(client: &Client, name: &str) -> Res<bool> {
    Ok(events(client).get_opt(name).await?.is_some())
}

/// Poll until the Event is gone; returns when that was first seen.
async fn gone(client: &Client, name: &str) -> Res<Instant> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if !exists(client, name).await? {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("event {name} still there after {PATIENCE:?}").into());
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn a_fresh_event_stays_until_its_ttl_then_goes() -> Res {
    let ttl = Duration::from_secs(2);
    let client = server().await?;
    let _controller = start(&client, ttl);
    let before = Instant::now();
    create_event(&client, "fresh").await?;
    let at = gone(&client, "fresh").await?;
    assert!(
        at - before >= ttl,
        "deleted {:?} after it was written, before its TTL of {ttl:?}",
        at - before
    );
    Ok(())
}

#[tokio::test]
async fn an_update_restarts_the_ttl() -> Res {
    let ttl = Duration::from_secs(4);
    let client = server().await?;
    let _controller = start(&client, ttl);
    create_event(&client, "bumped").await?;
    create_event(&client, "left-alone").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The recorder's aggregation bumps the count; any write restarts the TTL, so this one
    // leaves the timestamps alone.
    let updated = Instant::now();
    events(&client)
        .patch(
            "bumped",
            &PatchParams::default(),
            &Patch::Merge(&json!({"count": 2})),
        )
        .await?;
    let left_alone = gone(&client, "left-alone").await?;
    assert!(
        exists(&client, "bumped").await?,
        "the updated event went with the one written before it"
    );
    let bumped = gone(&client, "bumped").await?;
    assert!(
        bumped - updated >= ttl,
        "the updated event lived {:?} after its update, less than its TTL of {ttl:?}",
        bumped - updated
    );
    assert!(bumped > left_alone);
    Ok(())
}

#[tokio::test]
async fn events_deleted_or_recreated_by_others_are_followed() -> Res {
    let ttl = Duration::from_secs(2);
    let client = server().await?;
    let _controller = start(&client, ttl);
    create_event(&client, "deleted-by-user").await?;
    create_event(&client, "recreated").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    events(&client)
        .delete("deleted-by-user", &DeleteParams::default())
        .await?;
    events(&client)
        .delete("recreated", &DeleteParams::default())
        .await?;
    // The same name again: a new Event with a new uid and a TTL of its own.
    let recreated = Instant::now();
    create_event(&client, "recreated").await?;
    let at = gone(&client, "recreated").await?;
    assert!(
        at - recreated >= ttl,
        "the recreated event went on the schedule of the one it replaced ({:?} after it was written)",
        at - recreated
    );
    // Still working after all that: a new event expires too.
    create_event(&client, "later").await?;
    gone(&client, "later").await?;
    Ok(())
}

#[tokio::test]
async fn a_new_controller_expires_old_events_at_once_and_keeps_fresh_ones() -> Res {
    let ttl = Duration::from_secs(3);
    let client = server().await?;
    // A first leadership term sees the old event written, then ends.
    let first = start(&client, Duration::from_secs(3600));
    create_event(&client, "old").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.abort();
    // The event ages past the TTL while no controller runs (its creationTimestamp has whole
    // seconds, which count as the end of their second: hence the extra time).
    tokio::time::sleep(ttl + Duration::from_millis(1500)).await;
    let fresh = Instant::now();
    create_event(&client, "fresh").await?;

    let _second = start(&client, ttl);
    gone(&client, "old").await?;
    assert!(
        exists(&client, "fresh").await?,
        "the event older than its TTL should go at once, before the fresh one"
    );
    let at = gone(&client, "fresh").await?;
    assert!(
        at - fresh >= ttl,
        "the fresh event went {:?} after it was written, before its TTL of {ttl:?}",
        at - fresh
    );
    Ok(())
}

#[tokio::test]
async fn a_backlog_of_expired_events_drains() -> Res {
    let ttl = Duration::from_secs(1);
    let client = server().await?;
    let names: Vec<String> = (0..300).map(|i| format!("backlog-{i}")).collect();
    for name in &names {
        create_event(&client, name).await?;
    }
    tokio::time::sleep(ttl + Duration::from_secs(1)).await;
    let _controller = start(&client, ttl);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = events(&client).list(&Default::default()).await?.items.len();
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{left} of {} expired events left", names.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
