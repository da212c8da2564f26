//! Webhooks (NATIVE_API.md, "Webhooks"): endpoints, their deliveries from
//! the outbox, and the rules of delivery. The core decides; the dispatcher
//! (`faces::native::dispatch`, a client of the core like a face) only sends.
//!
//! * **Fan-out**: each enabled endpoint has a cursor into the outbox; the
//!   events after it that the endpoint's owner may see (as in the event
//!   feed) and that it wants become one pending delivery each, in one
//!   transaction with the cursor's move. Event ids follow commit order, so
//!   nothing committed later can appear behind the cursor.
//! * **Order**: a delivery is claimed only when no earlier pending delivery
//!   of the same number (or account) to the same endpoint is left, so a
//!   later event for a number waits for the earlier one, whichever instance
//!   holds the earlier one's claim.
//! * **Claims**: a claim is a lease in the row (PostgreSQL: taken with
//!   `FOR UPDATE SKIP LOCKED`, so instances never claim the same delivery);
//!   an instance killed mid-delivery loses its claims when the lease runs
//!   out and another instance takes them over (at least once). An outcome
//!   is written only while the claim is still the writer's.
//! * **Retries**: exponential backoff with jitter ([`retry_delay`]), over
//!   more than 24 hours in all ([`MAX_ATTEMPTS`]); an endpoint failing for
//!   24 hours without a success is disabled and says so.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};

use super::{Caller, Core, CoreError};
use crate::store::{
    AttemptRow, DeliveryRow, DeliveryUpdate, EventQuery, EventRow, NewWebhook, Tx, WebhookRow,
};

/// Every event type an endpoint may ask for (see `core::events`).
pub const EVENT_TYPES: &[&str] = &[
    "account.created",
    "account.changed",
    "number.added",
    "number.reserved",
    "number.reservation_extended",
    "number.reservation_ended",
    "number.subscribed",
    "number.unsubscribed",
    "number.released",
    "grant.created",
    "grant.changed",
    "grant.removed",
];

/// How many attempts a delivery gets before it is given up: with
/// [`retry_delay`] they span at least 32 hours, jitter included, so an
/// endpoint that never answers is disabled (after 24 hours) before its
/// deliveries are given up.
pub const MAX_ATTEMPTS: i64 = 15;

/// An endpoint failing this long with no success is disabled.
pub const DISABLE_AFTER_SECS: i64 = 24 * 3600;

/// The longest wait between two attempts.
pub const MAX_DELAY_SECS: i64 = 6 * 3600;

/// The prefix of a signing secret as shown.
pub const SECRET_PREFIX: &str = "whsec_";

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// Endpoints one account may have.
pub const MAX_ENDPOINTS: usize = 20;

/// How the dispatcher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Whether this process runs a dispatcher.
    pub dispatch: bool,
    /// Whether endpoints may be on loopback, link-local and private
    /// addresses (an operator's setting; off by default).
    pub allow_private: bool,
    /// The longest a receiver may take, connection and answer included.
    pub timeout: Duration,
    /// The most of a receiver's answer read (the rest is not waited for).
    pub body_limit: usize,
    /// Deliveries sent at once by one dispatcher.
    pub concurrency: usize,
    /// How often an idle dispatcher looks for work that other processes
    /// (or the clock) made due; this process's commits wake it at once.
    pub poll: Duration,
    /// How long a claim holds, in seconds: longer than any attempt.
    pub lease_secs: i64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            dispatch: true,
            allow_private: false,
            timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            concurrency: 16,
            poll: Duration::from_millis(200),
            lease_secs: 60,
        }
    }
}

/// The wait after failed attempt `attempt` (1 for the first), for a
/// uniform `unit` in `[0, 1)`: 5 s × 3^(attempt−1), at most 6 hours, times a
/// jitter between 0.8 and 1.2.
pub fn retry_delay(attempt: i64, unit: f64) -> i64 {
    let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let base = 5i64
        .saturating_mul(3i64.saturating_pow(exp))
        .min(MAX_DELAY_SECS);
    let jitter = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
    ((base as f64) * jitter).round().max(1.0) as i64
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    crate::domain::random_bytes(&mut b);
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// A new signing key (24 random bytes), base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    crate::domain::random_bytes(&mut key);
    B64.encode(key)
}

/// The Standard Webhooks signature of `body` sent as message `id` at
/// `timestamp`: `v1,` and the base64 HMAC-SHA256, keyed with the secret's
/// decoded bytes, of `id.timestamp.body`. `secret` may carry its `whsec_`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = B64
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| "the signing secret is not base64".to_owned())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|_| "the signing secret cannot key HMAC".to_owned())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Where an endpoint's URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host as written (without brackets for IPv6).
    pub host: String,
    pub port: u16,
    /// The path and query, at least `/`.
    pub path: String,
}

/// Reads an endpoint URL: `http` or `https`, a host, no user or password,
/// no fragment; a host that is an address (or `localhost`) must be allowed
/// by [`address_allowed`]. Names are checked again, resolved, at every
/// attempt.
pub fn check_url(url: &str, allow_private: bool) -> Result<Target, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let uri: axum::http::Uri = url.parse().map_err(|_| "is not a URL".to_owned())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("must be an http:// or https:// URL".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "must name a host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("must not carry a user name or password".into());
    }
    if url.contains('#') {
        return Err("must not have a fragment".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err("must name a host".into());
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    if port == 0 {
        return Err("must not use port 0".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        address_allowed(ip, allow_private)?;
    } else if !allow_private
        && (host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost"))
    {
        return Err("must not point at a loopback address".into());
    }
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    Ok(Target {
        https,
        host,
        port,
        path,
    })
}

/// Whether a receiver may be at `ip`: never the unspecified, multicast or
/// broadcast addresses; loopback, link-local and private (RFC 1918, shared
/// 100.64/10, IPv6 unique-local) ones only when `allow_private`.
pub fn address_allowed(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let (never, private) = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (
                v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || o[0] == 0,
                v4.is_loopback()
                    || v4.is_private()
                    || v4.is_link_local()
                    || (o[0] == 100 && (o[1] & 0xc0) == 64),
            )
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (
                v6.is_unspecified() || v6.is_multicast(),
                v6.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80,
            )
        }
    };
    if never {
        return Err(format!("{ip} is not an address a receiver can be at"));
    }
    if private && !allow_private {
        return Err(format!(
            "{ip} is a loopback, link-local or private address, which this server does not deliver to"
        ));
    }
    Ok(())
}

/// Reads the event types asked for: each one of [`EVENT_TYPES`], or `*`
/// alone for all; stored space-separated, sorted.
pub fn check_types(types: &[String]) -> Result<String, String> {
    if types.is_empty() {
        return Err("must name at least one event type, or \"*\"".into());
    }
    if types.iter().any(|t| t == "*") {
        return match types.len() {
            1 => Ok("*".into()),
            _ => Err("\"*\" stands alone".into()),
        };
    }
    let mut out: Vec<&str> = Vec::new();
    for t in types {
        match EVENT_TYPES.iter().find(|k| **k == t.as_str()) {
            Some(k) => out.push(k),
            None => return Err(format!("{t:?} is not an event type")),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out.join(" "))
}

/// Whether an endpoint asking for `types` wants an event of `kind`.
pub fn wants(types: &str, kind: &str) -> bool {
    types == "*" || types.split(' ').any(|t| t == kind)
}

/// The key that orders an event's deliveries: its number, else its account.
pub fn order_key(e: &EventRow) -> Option<String> {
    match (e.number_id, e.account_id) {
        (Some(n), _) => Some(format!("n{n}")),
        (None, Some(a)) => Some(format!("a{a}")),
        (None, None) => None,
    }
}

/// A new endpoint, as its owner asks for it (checked by the face).
#[derive(Clone, Debug)]
pub struct WebhookSpec {
    pub url: String,
    /// As [`check_types`] stores them.
    pub types: String,
    pub description: String,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub types: Option<String>,
    pub description: Option<String>,
    /// `true` enables (and forgets past failures), `false` disables.
    pub enabled: Option<bool>,
}

/// A delivery a dispatcher claimed, with what it needs to send it.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub delivery: DeliveryRow,
    pub webhook: WebhookRow,
    pub event: EventRow,
}

/// What came of one attempt.
#[derive(Clone, Debug, Default)]
pub struct AttemptOutcome {
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// The start of its answer.
    pub response: String,
    /// Why there was no answer (or why it was not read).
    pub error: Option<String>,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What recording an attempt did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The delivery's state after the attempt.
    pub state: &'static str,
    /// Whether this attempt disabled the endpoint.
    pub disabled: bool,
    /// Whether the outcome was written (false: the claim was taken over).
    pub written: bool,
}

fn not_visible() -> CoreError {
    CoreError::NotVisible {
        number: None,
        account: None,
    }
}

impl Core {
    /// The dispatcher's settings.
    pub fn webhook_settings(&self) -> WebhookSettings {
        self.webhooks
    }

    /// Notified whenever this process commits a write (a dispatcher wakes
    /// on it).
    pub fn committed(&self) -> &tokio::sync::Notify {
        self.store.commits()
    }

    /// Sets how webhooks are delivered.
    pub fn with_webhooks(mut self, settings: WebhookSettings) -> Core {
        self.webhooks = settings;
        self
    }

    /// Creates an endpoint of the caller's; its secret is in the answer.
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        spec: WebhookSpec,
    ) -> Result<WebhookRow, CoreError> {
        check_url(&spec.url, self.webhooks.allow_private).map_err(CoreError::Invalid)?;
        let new = NewWebhook {
            account_id: caller.account.id,
            url: spec.url,
            types: spec.types,
            description: spec.description,
            secret: new_secret(),
            created_at: self.clock.now(),
        };
        self.store
            .sequencing_write(move |tx| {
                if tx.webhooks_of(new.account_id)?.len() >= MAX_ENDPOINTS {
                    return Err(CoreError::Invalid(format!(
                        "an account may have at most {MAX_ENDPOINTS} webhook endpoints"
                    )));
                }
                // Events committed before the endpoint are not its own: they
                // get their ids first, and the cursor starts past them.
                tx.sequence_events()?;
                let id = tx.insert_webhook(&new)?;
                tx.webhook_by_id(id)?
                    .ok_or_else(|| CoreError::Invalid("the new endpoint is gone".into()))
            })
            .await
    }

    /// The caller's endpoints, by id.
    pub async fn webhooks(&self, caller: &Caller) -> Result<Vec<WebhookRow>, CoreError> {
        let account_id = caller.account.id;
        self.store
            .read(move |tx| Ok(tx.webhooks_of(account_id)?))
            .await
    }

    /// One endpoint of the caller's (another's is not visible).
    pub async fn webhook(&self, caller: &Caller, id: i64) -> Result<WebhookRow, CoreError> {
        let account_id = caller.account.id;
        self.store
            .read(move |tx| match tx.webhook_by_id(id)? {
                Some(w) if w.account_id == account_id => Ok(w),
                _ => Err(not_visible()),
            })
            .await
    }

    /// Changes an endpoint of the caller's.
    pub async fn change_webhook(
        &self,
        caller: &Caller,
        id: i64,
        patch: WebhookPatch,
    ) -> Result<WebhookRow, CoreError> {
        if let Some(url) = &patch.url {
            check_url(url, self.webhooks.allow_private).map_err(CoreError::Invalid)?;
        }
        let account_id = caller.account.id;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let mut w = match tx.webhook_by_id(id)? {
                    Some(w) if w.account_id == account_id => w,
                    _ => return Err(not_visible()),
                };
                if let Some(url) = &patch.url {
                    w.url = url.clone();
                }
                if let Some(types) = &patch.types {
                    w.types = types.clone();
                }
                if let Some(d) = &patch.description {
                    w.description = d.clone();
                }
                match patch.enabled {
                    Some(true) => {
                        w.disabled_at = None;
                        w.disabled_reason = None;
                        w.failing_since = None;
                    }
                    Some(false) if w.disabled_at.is_none() => {
                        w.disabled_at = Some(now);
                        w.disabled_reason = Some("disabled by its owner".into());
                    }
                    _ => {}
                }
                tx.update_webhook(&w)?;
                Ok(w)
            })
            .await
    }

    /// Deletes an endpoint of the caller's, with its delivery log.
    pub async fn delete_webhook(&self, caller: &Caller, id: i64) -> Result<(), CoreError> {
        let account_id = caller.account.id;
        self.store
            .write(move |tx| match tx.webhook_by_id(id)? {
                Some(w) if w.account_id == account_id => {
                    tx.delete_webhook(id)?;
                    Ok(())
                }
                _ => Err(not_visible()),
            })
            .await
    }

    /// An endpoint's deliveries with an id below `before`, newest first,
    /// each with its attempts; at most `limit`.
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller,
        id: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<(DeliveryRow, Vec<AttemptRow>)>, CoreError> {
        let account_id = caller.account.id;
        self.store
            .read(move |tx| {
                match tx.webhook_by_id(id)? {
                    Some(w) if w.account_id == account_id => {}
                    _ => return Err(not_visible()),
                }
                let mut out = Vec::new();
                for d in tx.deliveries_of(id, before, limit)? {
                    let attempts = tx.attempts_of(d.id)?;
                    out.push((d, attempts));
                }
                Ok(out)
            })
            .await
    }

    /// Sends a delivery again (whatever its state): pending, due now, with a
    /// fresh round of attempts. A delivery that is being sent right now
    /// (claimed) is left to finish.
    pub async fn retry_webhook_delivery(
        &self,
        caller: &Caller,
        webhook_id: i64,
        delivery_id: i64,
    ) -> Result<(DeliveryRow, Vec<AttemptRow>), CoreError> {
        let account_id = caller.account.id;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                match tx.webhook_by_id(webhook_id)? {
                    Some(w) if w.account_id == account_id => {}
                    _ => return Err(not_visible()),
                }
                let event_id = match tx.delivery_by_id(delivery_id)? {
                    Some(d) if d.webhook_id == webhook_id => d.event_id,
                    _ => return Err(not_visible()),
                };
                if tx.event_by_id(event_id)?.is_none() {
                    return Err(CoreError::Invalid(
                        "the event of this delivery is past the retention and gone".into(),
                    ));
                }
                tx.retry_delivery(delivery_id, now)?;
                let d = tx.delivery_by_id(delivery_id)?.ok_or_else(not_visible)?;
                let attempts = tx.attempts_of(delivery_id)?;
                Ok((d, attempts))
            })
            .await
    }

    /// Whether the dispatcher has anything to do now (one cheap read, one
    /// statement with no transaction around it: the dispatcher asks after
    /// every commit of this process, so on PostgreSQL a transaction's
    /// `BEGIN` and `COMMIT` would triple its round trips).
    pub async fn webhook_work(&self) -> Result<bool, CoreError> {
        let now = self.clock.now();
        self.store
            .read_each(move |tx| Ok(tx.webhook_work(now)? > 0))
            .await
    }

    /// A dispatcher's round, in one transaction:
    ///
    /// 1. **Outcomes.** One attempt of each delivery `owner` sent since its
    ///    last round is written ([`write_attempts`]), and what follows is
    ///    decided: delivered on a 2xx; else another attempt after
    ///    [`retry_delay`], or given up after [`MAX_ATTEMPTS`]; and the
    ///    endpoint disabled once it has failed for [`DISABLE_AFTER_SECS`]
    ///    with no success. An outcome is written only while the claim is
    ///    still `owner`'s.
    /// 2. **Fan-out.** The events after each enabled endpoint's cursor (up
    ///    to `per_endpoint` each) become its deliveries ([`fan_out_in`]).
    /// 3. **Claims.** Up to `limit` due deliveries are claimed for `owner`
    ///    ([`claim_in`]), a number's next event among them if its earlier
    ///    one was delivered in step 1.
    ///
    /// One transaction where there were three (a fan-out, a claim, a record
    /// of the outcomes), each of which queued behind the requests' writes in
    /// the store's queue: on PostgreSQL at full load that made a pass
    /// 150-250 ms and a number's second event waited for two of them (see
    /// `faces::native::dispatch`). The outcomes were already one
    /// transaction per batch, not one per delivery: on PostgreSQL a
    /// delivery's own record was six round trips, about what the change it
    /// reports cost.
    ///
    /// It sequences the staged events first, so it runs alone
    /// ([`crate::store::Store::sequencing_write`]), and every lock it takes
    /// (the outcomes' rows, an endpoint's row, the claims') comes after
    /// the sequencer's: two instances' rounds queue on that one lock and
    /// never wait for each other's rows in the opposite order. Answers each
    /// outcome's record, in order, what the fan-out made and the claims.
    pub async fn dispatch_round(
        &self,
        owner: &str,
        attempts: Vec<(Claimed, AttemptOutcome)>,
        per_endpoint: i64,
        limit: i64,
    ) -> Result<Round, CoreError> {
        let now = self.clock.now();
        let planned = plan_attempts(owner, attempts, now);
        let lease_until = now + self.webhooks.lease_secs;
        let owner = owner.to_owned();
        self.store
            .sequencing_write(move |tx| {
                tx.sequence_events()?;
                let recorded = write_attempts(tx, &planned, now)?;
                let made = fan_out_in(tx, per_endpoint, now)?;
                let claimed = claim_in(tx, &owner, now, lease_until, limit)?;
                Ok(Round {
                    recorded,
                    made,
                    claimed,
                })
            })
            .await
    }
}

/// What a dispatcher's round ([`Core::dispatch_round`]) did.
#[derive(Debug, Default)]
pub struct Round {
    /// The outcome of each attempt handed in, in order.
    pub recorded: Vec<Recorded>,
    /// Deliveries the fan-out made.
    pub made: usize,
    /// Deliveries claimed, to send now.
    pub claimed: Vec<Claimed>,
}

/// Makes the deliveries of the events after each enabled endpoint's cursor
/// (up to `per_endpoint` events each), in `tx`, the staged events already
/// sequenced; answers how many.
fn fan_out_in(tx: &mut dyn Tx, per_endpoint: i64, now: i64) -> Result<usize, CoreError> {
    let mut made = 0;
    // Every event up to here is committed (ids follow commit order), so a
    // cursor may pass the ones its owner cannot see.
    let newest = tx.max_event_id()?;
    for w in tx.enabled_webhooks(1000)? {
        let Some(owner) = tx.account_by_id(w.account_id)? else {
            continue;
        };
        let query = EventQuery {
            after_id: w.cursor,
            within: (!owner.is_admin()).then(|| owner.path.clone()),
            limit: per_endpoint,
        };
        let events = tx.events_after(&query)?;
        let last = events.last().map_or(w.cursor, |e| e.id);
        let reached = match (events.len() as i64) < per_endpoint {
            true => last.max(newest),
            false => last,
        };
        let deliveries: Vec<(i64, i64, Option<String>)> = events
            .iter()
            .filter(|e| wants(&w.types, &e.kind))
            .map(|e| (w.id, e.id, order_key(e)))
            .collect();
        tx.insert_deliveries(&deliveries, now)?;
        made += deliveries.len();
        if reached > w.cursor {
            tx.set_webhook_cursor(w.id, reached)?;
        }
    }
    Ok(made)
}

/// Claims up to `limit` due deliveries for `owner` (a dispatcher's id) in
/// `tx`, leased until `lease_until`.
fn claim_in(
    tx: &mut dyn Tx,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, CoreError> {
    let mut out = Vec::new();
    let ids = tx.claim_deliveries(now, owner, lease_until, limit)?;
    for (delivery, webhook, event) in tx.claimed(&ids)? {
        let id = delivery.id;
        let (Some(webhook), Some(event)) = (webhook, event) else {
            // The event is gone (cannot be while pending) or the endpoint
            // was deleted: nothing to send.
            tx.finish_delivery(&DeliveryUpdate {
                id,
                lease_owner: owner.to_owned(),
                state: "failed",
                attempts: delivery.attempts,
                next_at: now,
                done_at: Some(now),
            })?;
            continue;
        };
        out.push(Claimed {
            delivery,
            webhook,
            event,
        });
    }
    Ok(out)
}

/// An attempt to write: its endpoint, whether it succeeded, its log row
/// and its delivery's new state.
type Planned = (i64, bool, AttemptRow, DeliveryUpdate);

/// What each attempt's outcome makes of its delivery, decided at `now`
/// (outside the transaction: its jitter is drawn once, however often the
/// transaction runs).
fn plan_attempts(owner: &str, attempts: Vec<(Claimed, AttemptOutcome)>, now: i64) -> Vec<Planned> {
    attempts
        .into_iter()
        .map(|(claimed, outcome)| {
            let d = &claimed.delivery;
            let attempt = d.attempts + 1;
            let ok = outcome.succeeded();
            let (state, next_at, done_at) = if ok {
                ("delivered", now, Some(now))
            } else if attempt >= MAX_ATTEMPTS {
                ("failed", now, Some(now))
            } else {
                ("pending", now + retry_delay(attempt, random_unit()), None)
            };
            let row = AttemptRow {
                delivery_id: d.id,
                attempt,
                at: now,
                status: outcome.status.map(i64::from),
                latency_ms: outcome.latency_ms,
                response: outcome.response,
                error: outcome.error,
            };
            let update = DeliveryUpdate {
                id: d.id,
                lease_owner: owner.to_owned(),
                state,
                attempts: attempt,
                next_at,
                done_at,
            };
            (d.webhook_id, ok, row, update)
        })
        .collect()
}

/// Writes the planned attempts in `tx` (the attempts, then the deliveries'
/// states, each an array statement on PostgreSQL), then each endpoint's
/// record; answers each one's outcome, in order.
fn write_attempts(
    tx: &mut dyn Tx,
    planned: &[Planned],
    now: i64,
) -> Result<Vec<Recorded>, CoreError> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    // The endpoints that still exist; the others' outcomes are not written.
    let mut exists: HashMap<i64, bool> = HashMap::new();
    for (webhook_id, ..) in planned {
        if !exists.contains_key(webhook_id) {
            let known = tx.webhook_by_id(*webhook_id)?.is_some();
            exists.insert(*webhook_id, known);
        }
    }
    let known: Vec<&Planned> = planned
        .iter()
        .filter(|(w, ..)| exists.get(w) == Some(&true))
        .collect();
    let updates: Vec<DeliveryUpdate> = known.iter().map(|p| p.3.clone()).collect();
    // The deliveries' states first: each is written only while the claim is
    // still this dispatcher's, and only a written one gets its attempt in
    // the log and counts for its endpoint's record (a claim taken over after
    // its lease is the new holder's to report).
    let flags = tx.finish_deliveries(&updates)?;
    let rows: Vec<AttemptRow> = known
        .iter()
        .zip(&flags)
        .filter(|(_, w)| **w)
        .map(|(p, _)| p.2.clone())
        .collect();
    tx.insert_attempts(&rows)?;
    let mut written = flags.into_iter();
    // Then each endpoint's record, outcome by outcome in order; a second
    // success or failure in a row changes nothing (the same `now`), so it
    // is not written again.
    let mut last: HashMap<i64, bool> = HashMap::new();
    let mut out = Vec::with_capacity(planned.len());
    for (webhook_id, ok, row, update) in planned {
        let (webhook_id, ok, state) = (*webhook_id, *ok, update.state);
        if exists.get(&webhook_id) != Some(&true) {
            out.push(Recorded {
                state,
                disabled: false,
                written: false,
            });
            continue;
        }
        let written = written.next().unwrap_or(false);
        if !written {
            out.push(Recorded {
                state,
                disabled: false,
                written,
            });
            continue;
        }
        let again = last.insert(webhook_id, ok) == Some(ok);
        let disabled = match (ok, again) {
            (_, true) => false,
            (true, false) => {
                tx.webhook_succeeded(webhook_id)?;
                false
            }
            (false, false) => {
                let since = now - DISABLE_AFTER_SECS;
                let reason = format!(
                    "disabled at {}: every attempt failed for 24 hours (the last: {})",
                    crate::domain::iso8601_utc(now),
                    describe(row)
                );
                tx.webhook_failed(webhook_id, now, since, &reason)?
            }
        };
        out.push(Recorded {
            state,
            disabled,
            written,
        });
    }
    Ok(out)
}

/// An attempt in a few words, for a disabled endpoint's reason.
fn describe(a: &AttemptRow) -> String {
    match (&a.error, a.status) {
        (Some(e), _) => e.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "no answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_their_jitter_and_span_a_day() {
        assert_eq!(retry_delay(1, 0.5), 5);
        assert_eq!(retry_delay(2, 0.5), 15);
        assert_eq!(retry_delay(3, 0.5), 45);
        assert_eq!(retry_delay(1, 0.0), 4);
        assert_eq!(retry_delay(1, 0.999_999), 6);
        assert_eq!(retry_delay(12, 0.5), MAX_DELAY_SECS);
        // The shortest schedule (every jitter at its least) still reaches
        // 24 h before the last attempt.
        let least: i64 = (1..MAX_ATTEMPTS - 1).map(|a| retry_delay(a, 0.0)).sum();
        assert!(least >= DISABLE_AFTER_SECS, "{least}");
        let most: i64 = (1..MAX_ATTEMPTS).map(|a| retry_delay(a, 0.999)).sum();
        assert!(most < 3 * DISABLE_AFTER_SECS, "{most}");
    }

    #[test]
    fn urls_are_http_or_https_and_private_addresses_need_the_setting() {
        let t = check_url("https://hooks.example.com/in?x=1", false).expect("ok");
        assert_eq!(
            t,
            Target {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/in?x=1".into()
            }
        );
        assert_eq!(
            check_url("http://example.com", false).expect("ok").path,
            "/"
        );
        for bad in [
            "ftp://example.com/",
            "example.com/x",
            "http://user:pw@example.com/",
            "http:///nohost",
            "http://example.com/a b",
            "http://example.com/#frag",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
        for private in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(check_url(private, false).is_err(), "{private}");
            assert!(check_url(private, true).is_ok(), "{private}");
        }
        for never in ["http://0.0.0.0/", "http://224.0.0.1/", "http://[::]/"] {
            assert!(check_url(never, true).is_err(), "{never}");
        }
    }

    #[test]
    fn types_are_known_or_everything() {
        assert_eq!(check_types(&["*".into()]).as_deref(), Ok("*"));
        assert_eq!(
            check_types(&["grant.removed".into(), "grant.created".into()]).as_deref(),
            Ok("grant.created grant.removed")
        );
        assert!(check_types(&[]).is_err());
        assert!(check_types(&["grant.nope".into()]).is_err());
        assert!(check_types(&["*".into(), "grant.created".into()]).is_err());
        assert!(wants("*", "number.added"));
        assert!(wants("grant.created grant.removed", "grant.removed"));
        assert!(!wants("grant.created", "grant.removed"));
    }

    /// The test vector of the Standard Webhooks reference library (Rust).
    #[test]
    fn signatures_match_the_reference_test_vector() {
        let sig = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .expect("sign");
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        assert!(sign("whsec_not base64!", "m", 1, b"{}").is_err());
    }
}
