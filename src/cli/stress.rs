//! `linekeeper stress`: many concurrent clients against one or more servers,
//! then a check of every invariant.
//!
//! It builds a random world (from `--seed`) directly in the database, as the
//! admin commands do: a reseller tree four levels deep, postpaid accounts
//! with API keys, numbers owned by resellers and numbers in the pool. Then
//! `--clients` tasks share `--ops` random operations (through the panel
//! face: assign, unassign, list; the virtual-number face: subscribe,
//! unsubscribe; the native face: reserve, cancel a reservation, change a
//! grant, assign a grant that ends a few seconds later, so that grants
//! expire under load), each client on one of the `--url` servers in turn. Finally it reads the database and checks the invariants of
//! DOMAIN.md, and that the history holds exactly one entry per change the
//! clients were told succeeded. It prints one JSON object and exits non-zero
//! on any 5xx, unexpected answer or violation.
//!
//! With `--expect-outage` (the failover test, `deploy/failover-test`) a
//! database or an instance may go away during the run: a 503 in the face's
//! own format, and a 502 from the load balancer for a request in flight on
//! an instance that died, are counted rather than failed, and their writes
//! may or may not have happened. What must hold still holds: every write
//! answered 200 (the ledger: its `x-request-id`) has its history entry in
//! the database afterwards (else it is an acknowledged write lost), the
//! history holds no fewer entries than successes and no more than successes
//! plus unsure answers, and every invariant holds. Anything else (a 500, a
//! 503 not in the face's format, a transport error, an answer slower than
//! `--max-latency`) still fails the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::client::HttpClient;
use crate::core::Core;
use crate::core::admin::{AccountSpec, NumberSpec};
use crate::domain::{E164, hex, random_bytes};
use crate::store::Snapshot;

/// What `stress` was asked to do.
pub struct Plan {
    pub servers: Vec<SocketAddr>,
    pub clients: usize,
    pub ops: usize,
    pub seed: u64,
    /// Run for this long instead of stopping after `ops` operations.
    pub duration: Option<Duration>,
    /// A failover is expected during the run (see the module's comment).
    pub expect_outage: bool,
}

/// The seeded generator of the world and of the operations: ChaCha8, a
/// fixed algorithm, so the same seed gives the same world and the same
/// sequence of operations per client (each client on its own stream).
pub type Rng = rand::rngs::ChaCha8Rng;

struct Member {
    id: i64,
    key: String,
    reseller: bool,
    path: String,
}

struct World {
    members: Vec<Member>,
    numbers: Vec<(i64, String)>,
    setup_request: String,
    /// `(number index, member index)` pairs that probably hold: the owners at
    /// the start, then whatever the clients were told succeeded. Only used
    /// to aim operations where they can succeed; the server decides.
    hints: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl World {
    fn below(&self, m: usize) -> Vec<usize> {
        let p = &self.members[m].path;
        (0..self.members.len())
            .filter(|&i| i != m && self.members[i].path.starts_with(p.as_str()))
            .collect()
    }

    fn above(&self, m: usize) -> Vec<usize> {
        let p = &self.members[m].path;
        (0..self.members.len())
            .filter(|&i| i != m && p.starts_with(self.members[i].path.as_str()))
            .collect()
    }

    fn hint(&self, rng: &mut Rng) -> Option<(usize, usize)> {
        let hints = self.hints.lock().ok()?;
        (!hints.is_empty()).then(|| hints[rng.random_range(0..hints.len())])
    }

    fn learn(&self, pair: (usize, usize), holds: bool) {
        if let Ok(mut hints) = self.hints.lock() {
            if holds {
                hints.push(pair);
            } else {
                hints.retain(|h| *h != pair);
            }
        }
    }
}

/// Builds the world: 1 administrator, 3 resellers, 2 sub-resellers under
/// each, 2 accounts (a reseller and a plain user) under each of those, and
/// one plain user under each of the third level's resellers; 48 numbers, two
/// in three owned by resellers of the first two levels.
async fn build_world(core: &Core, rng: &mut Rng) -> Result<World, String> {
    let mut tag = [0u8; 4];
    random_bytes(&mut tag);
    let tag = hex(&tag);
    let rid = format!("stress-setup-{tag}");
    let mut members = Vec::new();
    let add = |username: String, parent: Option<String>, reseller: bool| {
        let spec = AccountSpec {
            username: username.clone(),
            password: format!("Stress-{tag}-1"),
            admin: parent.is_none(),
            parent,
            is_reseller: reseller,
            postpaid: true,
            ..Default::default()
        };
        (spec, username)
    };
    let mut specs = vec![add(format!("st{tag}-admin"), None, false)];
    for a in 0..3 {
        let l1 = format!("st{tag}-r{a}");
        specs.push(add(l1.clone(), Some(format!("st{tag}-admin")), true));
        for b in 0..2 {
            let l2 = format!("{l1}-{b}");
            specs.push(add(l2.clone(), Some(l1.clone()), true));
            let l3r = format!("{l2}-r");
            specs.push(add(l3r.clone(), Some(l2.clone()), true));
            specs.push(add(format!("{l2}-u"), Some(l2.clone()), false));
            specs.push(add(format!("{l3r}-u"), Some(l3r.clone()), false));
        }
    }
    let mut owners = Vec::new();
    let mut names = Vec::new();
    for (spec, username) in specs {
        let reseller = spec.is_reseller || spec.admin;
        let shallow = spec.is_reseller && username.matches('-').count() <= 2;
        let account = core
            .create_account(spec, &rid)
            .await
            .map_err(|e| e.to_string())?;
        let key = core
            .create_key(&username, &rid)
            .await
            .map_err(|e| e.to_string())?;
        if shallow {
            owners.push(username.clone());
        }
        members.push(Member {
            id: account.id,
            key: key.expose().to_owned(),
            reseller,
            path: account.path,
        });
        names.push(username);
    }
    let mut numbers = Vec::new();
    let mut hints = Vec::new();
    let prefix = 100 + (u32::from_str_radix(&tag[..4], 16).unwrap_or(0) % 900);
    for i in 0..48u32 {
        let text = format!("+1{prefix}{:07}", 5_550_000 + i);
        let e164 = E164::parse(&text).ok_or_else(|| format!("generated a bad number {text}"))?;
        let owner = (i % 3 != 0).then(|| owners[rng.random_range(0..owners.len())].clone());
        let spec = NumberSpec {
            owner,
            monthly_price: 1000,
            yearly_price: 10_000,
            ..NumberSpec::new(e164)
        };
        if let Some(owner) = &spec.owner {
            hints.extend(
                names
                    .iter()
                    .position(|n| n == owner)
                    .map(|m| (numbers.len(), m)),
            );
        }
        let number = core
            .add_number(spec, &rid)
            .await
            .map_err(|e| e.to_string())?;
        numbers.push((number.id, number.uid));
    }
    Ok(World {
        members,
        numbers,
        setup_request: rid,
        hints: std::sync::Mutex::new(hints),
    })
}

/// The operations, and which answers each may give under a correct server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Assign,
    Unassign,
    Subscribe,
    Unsubscribe,
    List,
    Reserve,
    CancelReservation,
    ChangeGrant,
    AssignUntil,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Assign => "assign",
            Op::Unassign => "unassign",
            Op::Subscribe => "subscribe",
            Op::Unsubscribe => "unsubscribe",
            Op::List => "list",
            Op::Reserve => "reserve",
            Op::CancelReservation => "cancel_reservation",
            Op::ChangeGrant => "change_grant",
            Op::AssignUntil => "assign_until",
        }
    }

    /// The answer that means it was done.
    fn success(self) -> u16 {
        match self {
            Op::Reserve | Op::AssignUntil => 201,
            Op::CancelReservation => 204,
            _ => 200,
        }
    }

    /// The history entry one success records (a grant change records one
    /// per grant it changes: counted from its answer).
    fn action(self) -> Option<&'static str> {
        match self {
            Op::Assign | Op::AssignUntil => Some("grant.assign"),
            Op::Unassign => Some("grant.unassign"),
            Op::Subscribe => Some("number.subscribe"),
            Op::Unsubscribe => Some("number.unsubscribe"),
            Op::Reserve => Some("number.reserve"),
            Op::CancelReservation => Some("number.reserve_cancel"),
            Op::ChangeGrant => Some("grant.change"),
            Op::List => None,
        }
    }

    fn expected(self, status: u16) -> bool {
        match self {
            Op::Assign | Op::Unassign => matches!(status, 200 | 400 | 403 | 422),
            Op::Subscribe => matches!(status, 200 | 403 | 404 | 409),
            Op::Unsubscribe => matches!(status, 200 | 404),
            Op::List => status == 200,
            Op::Reserve => matches!(status, 201 | 404 | 409),
            Op::CancelReservation => matches!(status, 204 | 404),
            Op::ChangeGrant | Op::AssignUntil => {
                matches!(status, 200 | 201 | 403 | 404 | 409 | 422)
                    && (status == self.success() || status >= 400)
            }
        }
    }

    /// The face the operation goes through.
    fn face(self) -> &'static str {
        match self {
            Op::Assign | Op::Unassign | Op::List => "panel",
            Op::Subscribe | Op::Unsubscribe => "virtual-number",
            Op::Reserve | Op::CancelReservation | Op::ChangeGrant | Op::AssignUntil => "native",
        }
    }

    fn writes(self) -> bool {
        self != Op::List
    }

    /// Whether `body` is a 503 in the face's own format: the panel face's
    /// `meta.message_code` `503-1` (assign, unassign, list), the
    /// virtual-number face's `{"code":503,...}` (subscribe, unsubscribe).
    fn clean_unavailable(self, body: &[u8]) -> bool {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match self {
            Op::Assign | Op::Unassign | Op::List => json["meta"]["message_code"] == "503-1",
            Op::Subscribe | Op::Unsubscribe => json["code"] == 503,
            Op::Reserve | Op::CancelReservation | Op::ChangeGrant | Op::AssignUntil => {
                json["type"] == "/lk/v1/problems/unavailable"
            }
        }
    }

    fn pick(rng: &mut Rng) -> Op {
        match rng.random_range(0..100) {
            0..28 => Op::Assign,
            28..48 => Op::Unassign,
            48..58 => Op::Subscribe,
            58..65 => Op::Unsubscribe,
            65..71 => Op::Reserve,
            71..75 => Op::CancelReservation,
            75..83 => Op::ChangeGrant,
            83..88 => Op::AssignUntil,
            _ => Op::List,
        }
    }
}

#[derive(Default)]
struct Tally {
    /// (op, status) -> count; status 0 is a transport error.
    answers: BTreeMap<(Op, u16), u64>,
    samples: Vec<String>,
    /// The request ids of the writes answered with success: the ledger of
    /// acknowledged writes, looked for in the history afterwards.
    acknowledged: Vec<String>,
    /// Per history action, the entries the successes told of.
    told: BTreeMap<&'static str, u64>,
    /// 503s not in the face's own format.
    unclean_503: u64,
    /// The first 503 body each face answered (panel, virtual-number): what
    /// a client saw during an outage.
    seen_503: BTreeMap<&'static str, String>,
    /// The slowest answer, in milliseconds.
    max_latency_ms: u64,
    /// Per status other than 200 and the rules' refusals, for writes, in
    /// Unix ms: the earliest send of a request so answered, and the first
    /// and last time such an answer arrived. An outage is judged by the
    /// answers' times: a request sent before a crash and answered after it
    /// met the crash (on a loaded machine a write can take seconds).
    failure_span: BTreeMap<u16, (u64, u64, u64)>,
}

impl Tally {
    /// Adds `(sent, first, last)` to `status`'s failure span.
    fn note_failure(&mut self, status: u16, (sent, first, last): (u64, u64, u64)) {
        let span = self
            .failure_span
            .entry(status)
            .or_insert((sent, first, last));
        span.0 = span.0.min(sent);
        span.1 = span.1.min(first);
        span.2 = span.2.max(last);
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn client_loop(
    world: Arc<World>,
    server: SocketAddr,
    ops: usize,
    deadline: Option<Instant>,
    expect_outage: bool,
    mut rng: Rng,
) -> Tally {
    let mut http = HttpClient::new(server);
    let mut tally = Tally::default();
    let members = &world.members;
    let mut done = 0usize;
    // This client's reservations, `(number, member)`: what it may cancel.
    let mut reserved: Vec<(usize, usize)> = Vec::new();
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if done >= ops => break,
            _ => done += 1,
        }
        let sent_at = Instant::now();
        let sent_unix = unix_ms();
        let op = Op::pick(&mut rng);
        let (n, actor, target) = match op {
            Op::CancelReservation if !reserved.is_empty() && rng.random_ratio(80, 100) => {
                let (n, m) = reserved.swap_remove(rng.random_range(0..reserved.len()));
                (n, m, m)
            }
            _ => aim(&world, op, &mut rng),
        };
        let (number_id, uid) = &world.numbers[n];
        let (actor_m, target_m) = (&members[actor], &members[target]);
        let (actor, target) = (actor_m, target_m);
        let auth = format!("Bearer {}", actor.key);
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let result = match op {
            Op::Assign => {
                let body = json!({"number_id": number_id, "target_user_id": target.id,
                    "send": rng.random_ratio(80, 100), "gets": rng.random_ratio(80, 100)});
                http.request(
                    "POST",
                    "/api/numbers/assign",
                    &headers,
                    body.to_string().as_bytes(),
                )
                .await
            }
            Op::Unassign => {
                let body = json!({"number_id": number_id, "target_user_id": target.id});
                http.request(
                    "POST",
                    "/api/numbers/unassign",
                    &headers,
                    body.to_string().as_bytes(),
                )
                .await
            }
            Op::Subscribe => {
                let body = json!({"number": uid});
                let path = "/api/v1/apiClient/virtual-number/purchase-postpaid";
                http.request("POST", path, &headers, body.to_string().as_bytes())
                    .await
            }
            Op::Unsubscribe => {
                let path = format!("/api/v1/apiClient/virtual-number/unsubscribe/{uid}");
                http.request("PUT", &path, &headers, b"").await
            }
            Op::List => {
                http.request(
                    "GET",
                    "/api/number/numbers?page=1&per_page=50",
                    &headers,
                    b"",
                )
                .await
            }
            Op::Reserve => {
                let body = json!({"number": uid, "duration_secs": rng.random_range(1..=30)});
                http.request(
                    "POST",
                    "/lk/v1/reservations",
                    &headers,
                    body.to_string().as_bytes(),
                )
                .await
            }
            Op::CancelReservation => {
                let path = format!("/lk/v1/reservations/{uid}");
                http.request("DELETE", &path, &headers, b"").await
            }
            Op::ChangeGrant => {
                let path = format!("/lk/v1/numbers/{number_id}/grants/{}", target.id);
                let body =
                    json!({"send": rng.random_ratio(70, 100), "gets": rng.random_ratio(70, 100)});
                http.request("PATCH", &path, &headers, body.to_string().as_bytes())
                    .await
            }
            Op::AssignUntil => {
                // Ends 1 to 4 seconds on: the grant expires during the run.
                let secs = (unix_ms() / 1000) as i64 + rng.random_range(1..=4);
                let path = format!("/lk/v1/numbers/{number_id}/grants/{}", target.id);
                let body = json!({"send": rng.random_ratio(80, 100), "gets": rng.random_ratio(80, 100),
                    "expires_at": crate::domain::iso8601_utc(secs)});
                http.request("PUT", &path, &headers, body.to_string().as_bytes())
                    .await
            }
        };
        let latency = sent_at.elapsed().as_millis() as u64;
        tally.max_latency_ms = tally.max_latency_ms.max(latency);
        let status = match result {
            Ok(res) => {
                if res.status == op.success() && op.writes() {
                    // What the success says the history now holds: one
                    // entry, or for a grant change one per grant changed.
                    let entries = match op {
                        Op::ChangeGrant => {
                            let body: Value =
                                serde_json::from_slice(&res.body).unwrap_or(Value::Null);
                            let changes = body["changes"].as_array().cloned().unwrap_or_default();
                            let changed = |cascaded: bool| {
                                changes
                                    .iter()
                                    .filter(|c| {
                                        c["type"] == "grant.changed"
                                            && c["cascaded"] == Value::Bool(cascaded)
                                    })
                                    .count() as u64
                            };
                            *tally.told.entry("grant.cascade_change").or_default() += changed(true);
                            changed(false)
                        }
                        _ => 1,
                    };
                    if let Some(action) = op.action() {
                        *tally.told.entry(action).or_default() += entries;
                    }
                    if entries > 0 {
                        tally
                            .acknowledged
                            .push(res.header("x-request-id").unwrap_or_default().to_owned());
                    }
                    if op == Op::Reserve {
                        reserved.push((n, target_idx(&world, actor.id)));
                    }
                }
                if res.status == 503 {
                    tally
                        .seen_503
                        .entry(op.face())
                        .or_insert_with(|| String::from_utf8_lossy(&res.body).into_owned());
                }
                if res.status == 503 && !op.clean_unavailable(&res.body) {
                    tally.unclean_503 += 1;
                    if tally.samples.len() < 5 {
                        tally.samples.push(format!(
                            "{} -> 503 not in the face's format: {}",
                            op.name(),
                            String::from_utf8_lossy(&res.body)
                        ));
                    }
                }
                if res.status == op.success() {
                    match op {
                        Op::Assign => world.learn((n, target_idx(&world, target.id)), true),
                        Op::Unassign => world.learn((n, target_idx(&world, target.id)), false),
                        Op::Subscribe => world.learn((n, target_idx(&world, actor.id)), true),
                        Op::Unsubscribe => world.learn((n, target_idx(&world, actor.id)), false),
                        _ => {}
                    }
                }
                let tolerated = expect_outage && matches!(res.status, 502 | 503);
                if !op.expected(res.status) && !tolerated && tally.samples.len() < 5 {
                    tally.samples.push(format!(
                        "{} -> {} {}",
                        op.name(),
                        res.status,
                        String::from_utf8_lossy(&res.body)
                    ));
                }
                res.status
            }
            Err(e) => {
                if tally.samples.len() < 5 {
                    tally
                        .samples
                        .push(format!("{} -> transport error: {e}", op.name()));
                }
                0
            }
        };
        if op.writes() && (status >= 500 || status == 0) {
            let now = unix_ms();
            tally.note_failure(status, (sent_unix, now, now));
        }
        *tally.answers.entry((op, status)).or_default() += 1;
    }
    tally
}

fn target_idx(world: &World, id: i64) -> usize {
    world.members.iter().position(|m| m.id == id).unwrap_or(0)
}

/// Chooses `(number, actor, target)` for `op`: most of the time where it can
/// succeed (a holder acting on its own downline, a grant that exists), the
/// rest at random, so refusals are exercised too.
fn aim(world: &World, op: Op, rng: &mut Rng) -> (usize, usize, usize) {
    let any = |rng: &mut Rng| rng.random_range(0..world.members.len());
    let random = (rng.random_range(0..world.numbers.len()), any(rng), any(rng));
    if rng.random_ratio(25, 100) {
        return random;
    }
    let Some((n, holder)) = world.hint(rng) else {
        return random;
    };
    match op {
        Op::Assign | Op::AssignUntil => {
            let below = world.below(holder);
            if below.is_empty() {
                random
            } else {
                (n, holder, below[rng.random_range(0..below.len())])
            }
        }
        Op::Unassign | Op::ChangeGrant => {
            let above: Vec<usize> = world
                .above(holder)
                .into_iter()
                .filter(|&m| world.members[m].reseller)
                .collect();
            if above.is_empty() {
                random
            } else {
                (n, above[rng.random_range(0..above.len())], holder)
            }
        }
        Op::Unsubscribe => (n, holder, holder),
        Op::Subscribe | Op::List | Op::Reserve | Op::CancelReservation => random,
    }
}

/// Every way the final state disagrees with what the clients were told.
/// `unsure` counts, per operation, the answers (503, 502) after which a
/// write may or may not have happened; empty unless an outage is expected.
fn check(
    snapshot: &Snapshot,
    world: &World,
    told: &BTreeMap<&'static str, u64>,
    unsure: &BTreeMap<Op, u64>,
) -> Vec<String> {
    let mut out = crate::core::invariants::violations(snapshot);
    let ours: std::collections::HashSet<i64> = world.numbers.iter().map(|(id, _)| *id).collect();
    let mut entries: BTreeMap<&str, u64> = BTreeMap::new();
    for ((action, number, _), rid) in snapshot.history.iter().zip(&snapshot.request_ids) {
        if rid != &world.setup_request && number.is_some_and(|n| ours.contains(&n)) {
            *entries.entry(action.as_str()).or_default() += 1;
        }
    }
    let told = |action| told.get(action).copied().unwrap_or(0);
    for (op, action) in [
        (Op::Assign, "grant.assign"),
        (Op::Unassign, "grant.unassign"),
        (Op::Subscribe, "number.subscribe"),
        (Op::Unsubscribe, "number.unsubscribe"),
        (Op::Reserve, "number.reserve"),
        (Op::CancelReservation, "number.reserve_cancel"),
        (Op::ChangeGrant, "grant.change"),
        (Op::ChangeGrant, "grant.cascade_change"),
    ] {
        let recorded = entries.get(action).copied().unwrap_or(0);
        // An unsure answer may stand for one entry, or (a grant change
        // whose cascade is unknown) for any number of them; the native
        // assign with an end shares `grant.assign`.
        let maybe = match op {
            Op::ChangeGrant if unsure.get(&op).is_some_and(|n| *n > 0) => u64::MAX,
            Op::Assign => {
                unsure.get(&op).copied().unwrap_or(0)
                    + unsure.get(&Op::AssignUntil).copied().unwrap_or(0)
            }
            _ => unsure.get(&op).copied().unwrap_or(0),
        };
        if recorded < told(action) || recorded > told(action).saturating_add(maybe) {
            out.push(format!(
                "the answers told of {} {action} entries ({maybe} unsure) but the history has {recorded}",
                told(action),
            ));
        }
    }
    // Every grant the clients made is either still there or was removed with
    // exactly one entry (unassign or cascade).
    let grants_now = snapshot
        .grants
        .iter()
        .filter(|g| ours.contains(&g.number_id))
        .count() as u64;
    let removed = entries.get("grant.unassign").copied().unwrap_or(0)
        + entries.get("grant.cascade").copied().unwrap_or(0)
        + entries.get("grant.expire").copied().unwrap_or(0);
    // (Without an outage the assign entries are exactly the successes,
    // checked above.)
    let made = entries.get("grant.assign").copied().unwrap_or(0);
    if grants_now + removed != made {
        out.push(format!(
            "{made} grants made, {removed} removal entries, {grants_now} grants left"
        ));
    }
    out
}

/// The acknowledged writes (by request id) with no history entry: writes
/// a client was told succeeded that the database does not have.
fn lost_writes(snapshot: &Snapshot, acknowledged: &[String]) -> Vec<String> {
    let recorded: std::collections::HashSet<&str> =
        snapshot.request_ids.iter().map(String::as_str).collect();
    acknowledged
        .iter()
        .filter(|rid| !recorded.contains(rid.as_str()))
        .cloned()
        .collect()
}

/// With an outage expected, the slowest answer allowed: the server's request
/// timeout (10 s by default) and a margin; slower is a hang.
const MAX_LATENCY_MS: u64 = 12_000;

/// Reads `linekeeper_store_retries_total` from a server's `/metrics`.
async fn retries_of(server: SocketAddr) -> u64 {
    let Ok(res) = HttpClient::new(server)
        .request("GET", "/metrics", &[], b"")
        .await
    else {
        return 0;
    };
    String::from_utf8_lossy(&res.body)
        .lines()
        .find_map(|l| l.strip_prefix("linekeeper_store_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the plan; the JSON report and whether everything held.
pub async fn run(core: &Core, plan: &Plan) -> Result<(Value, bool), String> {
    let mut rng = Rng::seed_from_u64(plan.seed);
    let world = Arc::new(build_world(core, &mut rng).await?);
    let retries_before: u64 = futures_sum(plan.servers.iter().map(|s| retries_of(*s))).await;
    let started = Instant::now();
    let deadline = plan.duration.map(|d| started + d);
    let mut tasks = Vec::new();
    for c in 0..plan.clients.max(1) {
        let share =
            plan.ops / plan.clients.max(1) + usize::from(c < plan.ops % plan.clients.max(1));
        let server = plan.servers[c % plan.servers.len()];
        let mut client_rng = Rng::seed_from_u64(plan.seed);
        client_rng.set_stream(c as u64 + 1);
        tasks.push(tokio::spawn(client_loop(
            world.clone(),
            server,
            share,
            deadline,
            plan.expect_outage,
            client_rng,
        )));
    }
    let mut tally = Tally::default();
    for t in tasks {
        let part = t.await.map_err(|e| format!("a client task failed: {e}"))?;
        for (k, v) in part.answers {
            *tally.answers.entry(k).or_default() += v;
        }
        tally.samples.extend(part.samples);
        tally.acknowledged.extend(part.acknowledged);
        for (action, n) in part.told {
            *tally.told.entry(action).or_default() += n;
        }
        tally.unclean_503 += part.unclean_503;
        for (face, body) in part.seen_503 {
            tally.seen_503.entry(face).or_insert(body);
        }
        tally.max_latency_ms = tally.max_latency_ms.max(part.max_latency_ms);
        for (status, span) in part.failure_span {
            tally.note_failure(status, span);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let retries = futures_sum(plan.servers.iter().map(|s| retries_of(*s)))
        .await
        .saturating_sub(retries_before);

    let snapshot = core.snapshot().await.map_err(|e| e.to_string())?;
    // 503: the database away; 502: the load balancer lost an instance in
    // the middle of the request. Either way the write may have happened.
    let unsure: BTreeMap<Op, u64> = if plan.expect_outage {
        tally
            .answers
            .iter()
            .filter(|((_, s), _)| matches!(s, 502 | 503))
            .fold(BTreeMap::new(), |mut m, ((op, _), n)| {
                *m.entry(*op).or_default() += n;
                m
            })
    } else {
        BTreeMap::new()
    };
    let mut violations = check(&snapshot, &world, &tally.told, &unsure);
    let lost = lost_writes(&snapshot, &tally.acknowledged);
    if !lost.is_empty() {
        violations.push(format!(
            "{} writes answered 200 have no history entry (request ids {:?})",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        ));
    }

    let total: u64 = tally.answers.values().sum();
    let errors_5xx: u64 = tally
        .answers
        .iter()
        .filter(|((_, s), _)| *s >= 500 || *s == 0)
        .map(|(_, n)| n)
        .sum();
    let tolerated = |s: u16| plan.expect_outage && matches!(s, 502 | 503);
    let count = |f: &dyn Fn(u16) -> bool| -> u64 {
        tally
            .answers
            .iter()
            .filter(|((_, s), _)| f(*s))
            .map(|(_, n)| n)
            .sum()
    };
    // Outside an expected outage every 5xx fails the run; within one, only
    // the 503s (clean, in the face's format) and 502s do not.
    let failing_5xx = count(&|s| (s >= 500 || s == 0) && !tolerated(s));
    let unexpected: u64 = tally
        .answers
        .iter()
        .filter(|((op, s), _)| !op.expected(*s) && !tolerated(*s))
        .map(|(_, n)| n)
        .sum();
    let slow = plan.expect_outage && tally.max_latency_ms > MAX_LATENCY_MS;
    let mut by_op = serde_json::Map::new();
    for ((op, status), n) in &tally.answers {
        let entry = by_op.entry(op.name()).or_insert_with(|| json!({}));
        entry[status.to_string()] = json!(n);
    }
    let ok = failing_5xx == 0
        && unexpected == 0
        && tally.unclean_503 == 0
        && !slow
        && violations.is_empty();
    let mut report = json!({
        "ops": total,
        "errors_5xx": errors_5xx,
        "violations": violations.len(),
        "unexpected": unexpected,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "ops_per_s": (total as f64 / elapsed.max(1e-9)).round(),
        "retries": retries,
        "servers": plan.servers.len(),
        "clients": plan.clients,
        "seed": plan.seed,
        "by_op": by_op,
        "violation_samples": violations.iter().take(5).collect::<Vec<_>>(),
        "unexpected_samples": tally.samples,
        "max_latency_ms": tally.max_latency_ms,
    });
    if plan.expect_outage {
        let writes: u64 = tally
            .answers
            .iter()
            .filter(|((op, _), _)| op.writes())
            .map(|(_, n)| n)
            .sum();
        let spans: serde_json::Map<String, Value> = tally
            .failure_span
            .iter()
            .map(|(s, (sent, first, last))| {
                (
                    s.to_string(),
                    json!({"first_sent_unix_ms": sent, "first_unix_ms": first, "last_unix_ms": last,
                        "seconds": (*last as f64 - *first as f64) / 1000.0}),
                )
            })
            .collect();
        report["outage"] = json!({
            "writes": writes,
            "acknowledged_writes": tally.acknowledged.len(),
            "acknowledged_writes_lost": lost.len(),
            "answers_503": count(&|s| s == 503),
            "answers_502": count(&|s| s == 502),
            "unclean_503": tally.unclean_503,
            "first_503_by_face": tally.seen_503,
            "failing_5xx": failing_5xx,
            "write_failures": spans,
            "max_latency_limit_ms": MAX_LATENCY_MS,
        });
    }
    Ok((report, ok))
}

async fn futures_sum(futures: impl Iterator<Item = impl std::future::Future<Output = u64>>) -> u64 {
    let mut sum = 0;
    for f in futures {
        sum += f.await;
    }
    sum
}
