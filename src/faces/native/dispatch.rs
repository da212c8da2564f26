//! The webhook dispatcher: a client of the core, like a face, that sends
//! what the core claims for it and reports back what the receivers said.
//! The core decides everything else (order, retries, disabling; see
//! `core::webhooks`).
//!
//! Each attempt resolves the endpoint's host afresh and refuses an address
//! the server may not deliver to (so a name cannot be pointed at a private
//! address after it was accepted), connects with a deadline, sends one
//! signed POST, and reads at most the body limit of the answer, all within
//! the endpoint timeout.
//!
//! Connections are kept alive: one whose answer was read to its end goes
//! back to a pool keyed by the scheme, the host and the address it was
//! resolved to this time (so a connection is only reused for an address
//! that passed this attempt's check), at most [`IDLE_PER_TARGET`] of them.
//! A new connection per attempt cost a TCP handshake on both sides and
//! left a socket in `TIME_WAIT` per delivery: at a few thousand deliveries
//! a second, that runs through the ephemeral ports within a minute.
//!
//! A pass is rounds of one store job each, then the sends (see
//! [`Dispatcher::pass`] and [`Core::dispatch_round`]). A round's job writes
//! the outcomes of the round before, makes the deliveries of the new
//! events, and claims what is due, in that order, in one transaction. A
//! number's next event can be claimed only once the earlier one's outcome
//! is written, so that transaction is also the first in which it can be:
//! the next round sends it. The rules stay where they were: an outcome is
//! written only while the claim is still this dispatcher's (the lease
//! owner is checked in the update), one number's deliveries go in event
//! order, and instances share the work through leases taken with
//! `FOR UPDATE SKIP LOCKED`. An outcome is kept in memory only from its
//! answer to the next round's commit; a dispatcher killed in between has
//! written nothing of it, and the delivery is sent again after the lease
//! (at least once).
//!
//! Why one job and not three (BENCHMARKS.md, "Webhook lag on PostgreSQL
//! after group commit"): a pass used to be a fan-out, a claim and a
//! record, three jobs, each queued behind the requests' writes in the
//! store's one queue. On PostgreSQL under full load that made a pass
//! 150-250 ms; every pass claimed its limit of 512 while more arrived, and
//! a number's second event waited for the pass that recorded its first:
//! at about 4,500 events a second the lag p99 was just over 1 s. A round
//! is one job (40-90 ms in the same run) and its sends a few ms, so a
//! round claimed 120-220 at 2,000-2,700 events a second, under its
//! limit (claiming more per pass, in the old structure, made passes longer
//! and the lag worse). At 3,400-4,400 events a second on a quiet machine
//! a round claims its limit of 512 again and the lag p99 is still about
//! 1 s: a bigger or adaptive limit per round is the next thing to
//! measure. The job sequences the staged events first, so on
//! PostgreSQL it runs alone and holds the sequencer's lock while it also
//! records and claims; all its row locks come after that lock. So the
//! rounds of several instances run one at a time (each sends its own
//! claims meanwhile), and anything else that sequences waits for a round.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{Request, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

use super::events::event;
use super::input::rfc3339;
use crate::core::webhooks::{
    self, AttemptOutcome, Claimed, SECRET_PREFIX, WebhookSettings, address_allowed, check_url,
};
use crate::core::{Core, CoreError};
use crate::store::EventRow;

/// How much of a receiver's answer the delivery log keeps.
pub const EXCERPT: usize = 1024;

/// Events read per endpoint per fan-out.
const FAN_OUT: i64 = 2000;

/// Deliveries claimed per round, in multiples of `concurrency`.
const CLAIM_ROUNDS: usize = 32;

/// One dispatcher: its id names its claims.
#[derive(Clone)]
pub struct Dispatcher {
    core: Core,
    id: String,
    client: Client,
}

impl Dispatcher {
    /// A dispatcher of `core`, its claims named by a fresh random id.
    pub fn new(core: Core) -> Dispatcher {
        let mut tag = [0u8; 8];
        crate::domain::random_bytes(&mut tag);
        Dispatcher::named(core, &format!("dispatcher-{}", crate::domain::hex(&tag)))
    }

    /// A dispatcher whose claims are named `id`.
    pub fn named(core: Core, id: &str) -> Dispatcher {
        let client = Client::new(core.webhook_settings());
        Dispatcher {
            core,
            id: id.to_owned(),
            client,
        }
    }

    /// Delivers until the task is dropped: a pass whenever this process
    /// commits or the poll interval passes and there is work, passes back
    /// to back while they find some.
    pub async fn run(self) {
        let settings = self.core.webhook_settings();
        loop {
            // Listen before looking, so that a commit between the look and
            // the wait is not missed; the dispatcher's own commits come
            // before it listens, so they do not wake it.
            let woken = self.core.committed();
            let woken = woken.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let worked = match self.core.webhook_work().await {
                Ok(true) => match self.pass().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook dispatch failed");
                        0
                    }
                },
                Ok(false) => 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook dispatch failed");
                    0
                }
            };
            if worked > 0 {
                continue;
            }
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(settings.poll) => {}
            }
        }
    }

    /// One pass: rounds until one finds nothing to send. Each round is one
    /// store job ([`Core::dispatch_round`]: the last round's outcomes
    /// written, the fan-out, the claims), then every delivery it claimed
    /// sent at once (claims never hold two deliveries of one number to one
    /// endpoint); the pass ends with the round that writes the last
    /// outcomes and claims nothing, so it leaves nothing unwritten. Answers
    /// how many deliveries were made and attempted.
    ///
    /// If a round fails, the outcomes it carried are not written: those
    /// deliveries are sent again once their claims' leases run out.
    pub async fn pass(&self) -> Result<usize, CoreError> {
        let concurrency = self.core.webhook_settings().concurrency.max(1);
        let limit = (concurrency * CLAIM_ROUNDS) as i64;
        let mut done: Vec<(Claimed, AttemptOutcome)> = Vec::new();
        let mut total = 0;
        loop {
            let answered = done.len();
            let round = self
                .core
                .dispatch_round(&self.id, std::mem::take(&mut done), FAN_OUT, limit)
                .await
                .inspect_err(|e| {
                    tracing::warn!(
                        error = %e,
                        unwritten = answered,
                        "a dispatch round failed: its answered deliveries are sent again after their leases"
                    )
                })?;
            total += round.made + round.claimed.len();
            if round.claimed.is_empty() {
                return Ok(total);
            }
            done = self.send(round.claimed, concurrency).await;
        }
    }

    /// Sends `claimed`, `concurrency` at a time; each with its outcome.
    async fn send(
        &self,
        claimed: Vec<Claimed>,
        concurrency: usize,
    ) -> Vec<(Claimed, AttemptOutcome)> {
        use futures_util::StreamExt;
        futures_util::stream::iter(claimed)
            .map(|c| async move {
                let outcome = self.attempt(&c).await;
                (c, outcome)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    async fn attempt(&self, c: &Claimed) -> AttemptOutcome {
        let body = payload(&c.event);
        let msg_id = message_id(c.event.id);
        let secret = format!("{SECRET_PREFIX}{}", c.webhook.secret);
        self.client
            .post(&c.webhook.url, &secret, &msg_id, self.core.now(), &body)
            .await
    }
}

/// The `webhook-id` of an event: the same for every attempt and endpoint.
pub fn message_id(event_id: i64) -> String {
    format!("evt_{event_id}")
}

/// The body of an event's delivery: `{type, timestamp, data}`, `data` being
/// the event as the feed shows it.
pub fn payload(e: &EventRow) -> Vec<u8> {
    let body = json!({
        "type": e.kind,
        "timestamp": rfc3339(e.at),
        "data": event(e.clone()),
    });
    body.to_string().into_bytes()
}

/// Sends signed POSTs under the endpoint rules.
#[derive(Clone)]
pub struct Client {
    settings: WebhookSettings,
    tls: Arc<rustls::ClientConfig>,
    idle: Arc<std::sync::Mutex<HashMap<PoolKey, Vec<Kept>>>>,
}

/// Idle connections kept per endpoint address.
pub const IDLE_PER_TARGET: usize = 64;

/// A kept connection's key: https, host, the address it is connected to.
type PoolKey = (bool, String, std::net::SocketAddr);

/// A connection open for another request, and its task (aborted with it).
struct Kept {
    sender: SendRequest<Full<Bytes>>,
    conn: tokio::task::AbortHandle,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Client {
    pub fn new(settings: WebhookSettings) -> Client {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // The ring provider supports the default versions; this is
                // only reached if a future rustls stopped to.
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map(|b| {
                    b.with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                })
                .unwrap_or_else(|e| panic!("no TLS configuration can be built: {e}"))
            });
        Client {
            settings,
            tls: Arc::new(tls),
            idle: Arc::default(),
        }
    }

    /// POSTs `body` to `url`, signed with `secret` (`whsec_...`) as message
    /// `msg_id` at `timestamp`; what came of it, never an error.
    pub async fn post(
        &self,
        url: &str,
        secret: &str,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> AttemptOutcome {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(
            self.settings.timeout,
            self.exchange(url, secret, msg_id, timestamp, body),
        )
        .await
        {
            Ok(Ok(o)) => o,
            Ok(Err(error)) => AttemptOutcome {
                error: Some(error),
                ..AttemptOutcome::default()
            },
            Err(_) => AttemptOutcome {
                error: Some(format!(
                    "no complete answer within {} ms",
                    self.settings.timeout.as_millis()
                )),
                ..AttemptOutcome::default()
            },
        };
        AttemptOutcome {
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ..outcome
        }
    }

    async fn exchange(
        &self,
        url: &str,
        secret: &str,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<AttemptOutcome, String> {
        let target = check_url(url, self.settings.allow_private)?;
        let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{} has no address", target.host));
        }
        for a in &addrs {
            address_allowed(a.ip(), self.settings.allow_private)?;
        }
        let signature = webhooks::sign(secret, msg_id, timestamp, body)?;
        let host_header = match (target.https, target.port) {
            (true, 443) | (false, 80) => authority_host(&target.host),
            (_, port) => format!("{}:{port}", authority_host(&target.host)),
        };
        let request = Request::post(target.path.as_str())
            .header(header::HOST, host_header)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "linekeeper-webhooks/1")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let mut last = String::new();
        for addr in addrs {
            let key = (target.https, target.host.clone(), addr);
            // A kept connection first; one the receiver has closed since is
            // dropped, and a fresh one made.
            while let Some(kept) = self.take_idle(&key) {
                if kept.sender.is_closed() || !kept.sender.is_ready() {
                    continue;
                }
                match self.send(kept, request.clone(), key.clone()).await {
                    Ok(outcome) => return Ok(outcome),
                    // Closed while idle, before the request went: no
                    // answer was had; a fresh connection makes the attempt.
                    Err(_) => break,
                }
            }
            let stream = match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => s,
                Err(e) => {
                    last = format!("cannot connect to {addr}: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let kept = if target.https {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|_| format!("{} is not a TLS server name", target.host))?;
                let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS with {addr} failed: {e}"))?;
                handshake(tls).await?
            } else {
                handshake(stream).await?
            };
            return self.send(kept, request, key).await;
        }
        Err(last)
    }

    fn take_idle(&self, key: &PoolKey) -> Option<Kept> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.get_mut(key)?.pop()
    }

    fn keep(&self, key: PoolKey, kept: Kept) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(key).or_default();
        if list.len() < IDLE_PER_TARGET {
            list.push(kept);
        }
    }

    /// Sends `request` on `kept` and reads the answer; the connection goes
    /// back to the pool if the answer was read to its end.
    async fn send(
        &self,
        mut kept: Kept,
        request: Request<Full<Bytes>>,
        key: PoolKey,
    ) -> Result<AttemptOutcome, String> {
        let response = kept
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut read = Vec::new();
        let mut error = None;
        let mut ended = false;
        while read.len() < self.settings.body_limit {
            match body.frame().await {
                None => {
                    ended = true;
                    break;
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        read.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    error = Some(format!("the answer's body failed: {e}"));
                    break;
                }
            }
        }
        read.truncate(EXCERPT);
        // Whatever is left of a longer answer is not waited for: that
        // connection is closed (dropped with its task).
        if ended {
            drop(body);
            self.keep(key, kept);
        }
        Ok(AttemptOutcome {
            status: Some(status),
            latency_ms: 0,
            response: excerpt(&read),
            error,
        })
    }
}

/// An HTTP/1 connection over `io`, its task spawned.
async fn handshake<S>(io: S) -> Result<Kept, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let conn = tokio::spawn(conn).abort_handle();
    Ok(Kept { sender, conn })
}

/// A host as it goes in a `Host` header (an IPv6 address in brackets).
fn authority_host(host: &str) -> String {
    match host.contains(':') {
        true => format!("[{host}]"),
        false => host.to_owned(),
    }
}

/// Up to [`EXCERPT`] bytes of an answer, as text (invalid UTF-8 replaced,
/// a character cut at the end dropped).
fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT)];
    let text = match std::str::from_utf8(cut) {
        Ok(s) => s.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    // PostgreSQL's text cannot hold NUL: a receiver answering one would
    // make every round carrying its outcome fail, and its delivery never
    // advance. Written as U+FFFD, as an invalid byte is.
    match text.contains('\0') {
        true => text.replace('\0', "\u{fffd}"),
        false => text,
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::*;

    #[test]
    fn an_excerpt_holds_no_nul_and_no_broken_character() {
        assert_eq!(excerpt(b"ok\0then"), "ok\u{fffd}then");
        assert_eq!(excerpt("é".repeat(EXCERPT).as_bytes()).len(), EXCERPT);
        assert_eq!(excerpt(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(excerpt(b"plain"), "plain");
    }
}
