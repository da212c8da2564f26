//! `linekeeper admin webhook-test URL`: sends one signed sample event, as
//! the dispatcher sends every delivery, and prints what the receiver
//! answered, so an operator can check a receiver (and its signature
//! check) before subscribing it.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::core::webhooks::{self, SECRET_PREFIX, WebhookSettings};
use crate::domain::{Clock, SystemClock};
use crate::faces::native::dispatch::Client;

/// What `webhook-test` is told.
pub struct Test {
    pub url: String,
    /// `whsec_...`; a fresh one when not given.
    pub secret: Option<String>,
    pub allow_private: bool,
    pub timeout_ms: u64,
}

pub async fn main(t: Test) -> ExitCode {
    if let Err(why) = webhooks::check_url(&t.url, t.allow_private) {
        eprintln!("linekeeper: the URL {why}");
        return ExitCode::FAILURE;
    }
    let secret = t
        .secret
        .unwrap_or_else(|| format!("{SECRET_PREFIX}{}", webhooks::new_secret()));
    let now = SystemClock.now();
    let mut tag = [0u8; 8];
    crate::domain::random_bytes(&mut tag);
    let msg_id = format!("evt_test_{}", crate::domain::hex(&tag));
    let body = json!({
        "type": "webhook.test",
        "timestamp": crate::faces::native::input::rfc3339(now),
        "data": {"message": "A test event from linekeeper admin webhook-test."},
    })
    .to_string();
    let signature = match webhooks::sign(&secret, &msg_id, now, body.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("linekeeper: --secret: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = Client::new(WebhookSettings {
        allow_private: t.allow_private,
        timeout: Duration::from_millis(t.timeout_ms.max(1)),
        ..WebhookSettings::default()
    });
    println!("POST {}", t.url);
    println!("webhook-id: {msg_id}");
    println!("webhook-timestamp: {now}");
    println!("webhook-signature: {signature}");
    println!("secret: {secret}");
    println!("body: {body}");
    let outcome = client
        .post(&t.url, &secret, &msg_id, now, body.as_bytes())
        .await;
    match (outcome.status, &outcome.error) {
        (Some(status), None) => println!("answer: HTTP {status} in {} ms", outcome.latency_ms),
        (Some(status), Some(e)) => {
            println!("answer: HTTP {status} in {} ms ({e})", outcome.latency_ms)
        }
        (None, Some(e)) => println!("answer: none after {} ms: {e}", outcome.latency_ms),
        (None, None) => println!("answer: none after {} ms", outcome.latency_ms),
    }
    if !outcome.response.is_empty() {
        println!("{}", outcome.response);
    }
    match outcome.succeeded() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
