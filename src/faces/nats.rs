//! The NATS JetStream publisher (`--events-nats nats://HOST:PORT`): a client
//! of the core, like a face, that publishes every event of the outbox to a
//! JetStream stream, in commit order, at least once.
//!
//! Its place in the outbox is a cursor in the database (`event_cursors`),
//! held by one process at a time under a lease, so several instances on
//! one PostgreSQL publish each event in order between them. Each event is
//! published and its acknowledgement awaited before the next; the cursor
//! moves after a batch. A publisher that dies before moving it publishes
//! the batch again: each message carries the event's id as `Nats-Msg-Id`,
//! so JetStream drops the repeats within its duplicate window.

use std::time::Duration;

use crate::core::{Core, CoreError};
use crate::faces::native::dispatch::{message_id, payload};
use crate::store::EventRow;

/// Where and how to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsSettings {
    /// `nats://HOST:PORT`.
    pub url: String,
    /// Subjects are `<prefix>.<event type>`, e.g.
    /// `linekeeper.events.grant.removed`.
    pub prefix: String,
    /// The JetStream stream (created if missing, over `<prefix>.>`).
    pub stream: String,
}

/// Events per batch (one cursor move).
const BATCH: i64 = 200;

/// How long the publisher's hold on the cursor lasts without renewal.
const LEASE_SECS: i64 = 30;

/// How often an idle publisher looks for other processes' events.
const POLL: Duration = Duration::from_millis(200);

/// A connected publisher.
pub struct Publisher {
    core: Core,
    settings: NatsSettings,
    js: async_nats::jetstream::Context,
    owner: String,
}

impl Publisher {
    /// Connects and makes sure the stream exists.
    pub async fn connect(core: Core, settings: NatsSettings) -> Result<Publisher, String> {
        let client = async_nats::connect(settings.url.as_str())
            .await
            .map_err(|e| format!("cannot connect to NATS at {}: {e}", settings.url))?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: settings.stream.clone(),
            subjects: vec![format!("{}.>", settings.prefix)],
            ..Default::default()
        })
        .await
        .map_err(|e| {
            format!(
                "cannot create the JetStream stream {}: {e}",
                settings.stream
            )
        })?;
        let mut tag = [0u8; 8];
        crate::domain::random_bytes(&mut tag);
        Ok(Publisher {
            core,
            settings,
            js,
            owner: format!("nats-{}", crate::domain::hex(&tag)),
        })
    }

    /// The cursor's name: one per stream and prefix.
    fn name(&self) -> String {
        format!("nats:{}:{}", self.settings.stream, self.settings.prefix)
    }

    /// Publishes the next batch, if this process holds the cursor; how many
    /// events it published.
    pub async fn pass(&self) -> Result<usize, String> {
        let name = self.name();
        let batch = self
            .core
            .publisher_batch(&name, &self.owner, LEASE_SECS, BATCH)
            .await
            .map_err(|e: CoreError| e.to_string())?;
        let Some(events) = batch else {
            return Ok(0);
        };
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        for e in &events {
            self.publish(e).await?;
        }
        self.core
            .publisher_done(&name, &self.owner, last)
            .await
            .map_err(|e| e.to_string())?;
        Ok(events.len())
    }

    async fn publish(&self, e: &EventRow) -> Result<(), String> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            message_id(e.id).as_str(),
        );
        let subject = format!("{}.{}", self.settings.prefix, e.kind);
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload(e).into())
            .await
            .map_err(|err| format!("publishing event {} failed: {err}", e.id))?;
        ack.await
            .map_err(|err| format!("event {} was not acknowledged: {err}", e.id))?;
        Ok(())
    }

    /// Publishes until the task is dropped: woken by this process's commits,
    /// looking every 200 ms for the others'.
    pub async fn run(self) {
        loop {
            let woken = self.core.committed().notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.pass().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "NATS publishing failed; retrying"),
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Connects (again and again, a second apart, while NATS is unreachable)
/// and publishes until the task is dropped.
pub async fn run(core: Core, settings: NatsSettings) {
    loop {
        match Publisher::connect(core.clone(), settings.clone()).await {
            Ok(p) => return p.run().await,
            Err(e) => {
                tracing::warn!(error = %e, "NATS publisher not connected; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
