//! Issue 17: every event of the outbox published to NATS JetStream, once
//! and in commit order, with the event id as `Nats-Msg-Id`. Needs the NATS
//! server with JetStream on 127.0.0.1:4222 (CI has one): without it these
//! tests fail, they do not skip.

use linekeeper::faces::nats::{NatsSettings, Publisher};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::native_common::{get, send};

const NATS: &str = "nats://127.0.0.1:4222";

fn settings() -> NatsSettings {
    let mut tag = [0u8; 6];
    getrandom::fill(&mut tag).expect("random");
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    NatsSettings {
        url: NATS.into(),
        prefix: format!("lktest{tag}.events"),
        stream: format!("LKTEST_{tag}"),
    }
}

async fn jetstream() -> async_nats::jetstream::Context {
    let client = async_nats::connect(NATS)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream must run at {NATS} for these tests: {e}"));
    async_nats::jetstream::new(client)
}

/// Every message of the stream, in stream order: (Nats-Msg-Id, subject, body).
async fn messages(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Vec<(String, String, Value)> {
    let mut s = js.get_stream(stream).await.expect("the stream exists");
    let count = s.info().await.expect("stream info").state.messages;
    let mut out = Vec::new();
    for seq in 1..=count {
        let m = s.get_raw_message(seq).await.expect("message");
        let id = m
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.push((
            id,
            m.subject.to_string(),
            serde_json::from_slice(&m.payload).expect("JSON"),
        ));
    }
    out
}

/// Passes until one publishes nothing.
async fn drain(p: &Publisher) -> usize {
    let mut total = 0;
    for _ in 0..100 {
        match p.pass().await.expect("pass") {
            0 => return total,
            n => total += n,
        }
    }
    panic!("the publisher never ran out of events");
}

crate::scenarios! {
async fn every_event_reaches_jetstream_once_in_commit_order(app: TestApp) {
    let settings = settings();
    let js = jetstream().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (c, _) = app.account("child", Some("reseller"), false).await;
    let n = app.number("+983000505", Some("reseller")).await;
    let publisher = Publisher::connect(app.core.clone(), settings.clone()).await.expect("connect");
    let path = format!("/lk/v1/numbers/{}/grants/{}", n.id, c.id);
    for _ in 0..5 {
        assert_eq!(send(&app, "PUT", &path, &rk, json!({"send": true, "gets": false})).await.0, 201);
        assert_eq!(send(&app, "DELETE", &path, &rk, json!({})).await.0, 200);
    }
    drain(&publisher).await;
    let (_, feed) = get(&app, "/lk/v1/events?wait=0&limit=500", &admin).await;
    let events = feed["items"].as_array().expect("items").clone();
    assert_eq!(events.len(), 3 + 2 + 10, "three accounts, a number added and subscribed, ten grant changes");
    let got = messages(&js, &settings.stream).await;
    assert_eq!(got.len(), events.len(), "every event once");
    for ((id, subject, body), e) in got.iter().zip(&events) {
        assert_eq!(id, &format!("evt_{}", e["id"]));
        assert_eq!(subject, &format!("{}.{}", settings.prefix, e["type"].as_str().unwrap()));
        assert_eq!(&body["data"], e, "the event as the feed shows it, in commit order");
    }

    // Another process's publisher waits while this one holds the cursor:
    // one publishes at a time, so the order holds between instances.
    let other = Publisher::connect(app.core.clone(), settings.clone()).await.expect("connect");
    assert_eq!(send(&app, "PUT", &path, &rk, json!({"send": true, "gets": true})).await.0, 201);
    assert_eq!(drain(&other).await, 0, "the cursor is held by the first publisher");
    // Once the hold runs out, the other takes over where the first stopped.
    app.clock.advance(31);
    assert_eq!(drain(&other).await, 1);
    assert_eq!(drain(&publisher).await, 0, "now the other's");
    let got = messages(&js, &settings.stream).await;
    assert_eq!(got.len(), events.len() + 1);
    assert_eq!(got.last().unwrap().2["type"], "grant.created");
    js.delete_stream(&settings.stream).await.expect("clean up");
}

async fn repeats_are_deduplicated_by_the_event_id(app: TestApp) {
    let settings = settings();
    let js = jetstream().await;
    app.account("admin", None, false).await;
    app.number("+983000505", None).await;
    let first = Publisher::connect(app.core.clone(), settings.clone()).await.expect("connect");
    assert_eq!(drain(&first).await, 2);
    // The same events published again (as after a crash between publishing
    // and moving the cursor): the stream keeps one of each.
    js.publish_with_headers(
        format!("{}.number.added", settings.prefix),
        {
            let mut h = async_nats::HeaderMap::new();
            let id = messages(&js, &settings.stream).await[1].0.clone();
            h.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            h
        },
        "{}".into(),
    )
    .await
    .expect("publish")
    .await
    .map(|ack| assert!(ack.duplicate, "JetStream saw a duplicate"))
    .expect("ack");
    assert_eq!(messages(&js, &settings.stream).await.len(), 2);
    js.delete_stream(&settings.stream).await.expect("clean up");
}
}

/// The background publisher of `serve --events-nats`, woken by commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_publisher_follows_the_outbox() {
    let app = TestApp::spawn().await;
    let settings = settings();
    let js = jetstream().await;
    let task = tokio::spawn(linekeeper::faces::nats::run(
        app.core.clone(),
        settings.clone(),
    ));
    app.account("admin", None, false).await;
    app.number("+983000505", None).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = match js.get_stream(&settings.stream).await {
            Ok(_) => messages(&js, &settings.stream).await,
            Err(_) => Vec::new(),
        };
        if got.len() == 2 {
            let types: Vec<&str> = got.iter().map(|m| m.2["type"].as_str().unwrap()).collect();
            assert_eq!(types, ["account.created", "number.added"]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "published {got:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    js.delete_stream(&settings.stream).await.expect("clean up");
}
