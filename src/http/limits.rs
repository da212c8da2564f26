//! What keeps one client from hurting the others: the request timeout, the
//! per-credential rate limit, login throttling and the JSON nesting bound.
//! The edge (`crate::http`) and the faces' extractors apply them; each face
//! answers a refusal in its own format.
//!
//! Neither limiter takes a lock shared by every request: the rate limiter
//! has [`SHARDS`] independently locked maps chosen by the credential's digest,
//! and login throttling only runs on logins (which cost an argon2 hash each).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::core::budgets::{BudgetClaim, BudgetCount, BudgetRelease, ClaimOutcome};
use crate::core::{Core, CoreError};

/// Deepest nesting of arrays and objects a JSON body may have. Every body
/// either face accepts is one flat object, so 32 leaves a wide margin while
/// keeping far from serde_json's own recursion limit (128) and the stack.
pub const MAX_JSON_DEPTH: usize = 32;

/// The tunable limits of a server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// Requests per second per credential (token bucket) in this process;
    /// 0 turns it off. See [`Limits::divided_among`].
    pub rate_per_sec: u32,
    /// Bucket size: how many requests a credential may send at once here.
    pub rate_burst: u32,
    /// Login attempts are counted over this many seconds (by the core's clock).
    pub login_window_secs: i64,
    /// Failed (or unfinished) logins for one username before it is refused.
    pub login_max_per_user: u32,
    /// Failed (or unfinished) logins from one client address before it is refused.
    pub login_max_per_addr: u32,
    /// Extra wait per failure once failures start to pile up (see [`LoginThrottle`]).
    pub login_delay_step: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(10),
            rate_per_sec: 200,
            rate_burst: 400,
            login_window_secs: 15 * 60,
            login_max_per_user: 5,
            login_max_per_addr: 20,
            login_delay_step: Duration::from_millis(250),
        }
    }
}

impl Limits {
    /// The per-credential rate limit is counted by each process on its own
    /// (a shared counter would cost a statement per request): with a load
    /// balancer spreading requests over `instances` processes, each takes its
    /// share of the configured figures, rounded up, so the configured rate
    /// and burst are what a credential gets from all of them together.
    pub fn divided_among(self, instances: u32) -> Limits {
        let n = instances.max(1);
        let share = |v: u32| if v == 0 { 0 } else { v.div_ceil(n) };
        Limits {
            rate_per_sec: share(self.rate_per_sec),
            rate_burst: share(self.rate_burst),
            ..self
        }
    }
}

/// Whether `bytes`, read as JSON, nests arrays and objects deeper than `max`.
/// A linear scan that skips strings; it does not validate (the parser does).
pub fn json_too_deep(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Independently locked parts of the rate limiter.
pub const SHARDS: usize = 16;
/// Buckets kept per shard before idle ones are dropped.
const SHARD_CAPACITY: usize = 4096;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A credential's bucket as a request left it, for the native face's
/// `RateLimit-*` headers, which tell it as of when the answer is written
/// ([`Quota::told`]): an answer written long after its check (a long poll)
/// counts what the bucket regained meanwhile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    burst: f64,
    rate: f64,
    /// Tokens left at `at`, after the request's own.
    tokens: f64,
    at: Instant,
}

/// What the headers say: `limit` requests at once (the burst), `remaining`
/// of them left, and `reset` seconds until all are (whole seconds, up; 0
/// once the bucket is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Told {
    pub limit: u32,
    pub remaining: u32,
    pub reset: u64,
}

tokio::task_local! {
    /// The quota of the request being answered, where a face asks for it
    /// (`RateLimiter::check`'s callers set it with `try_with`, a no-op
    /// outside a scope): the native face's answers carry it.
    pub static QUOTA: std::cell::Cell<Option<Quota>>;
}

impl Quota {
    /// The bucket as of `now`. The burst is a u32 and the tokens are
    /// between 0 and it, so both casts fit.
    pub fn told(&self, now: Instant) -> Told {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let missing = self.burst - tokens;
        Told {
            limit: self.burst as u32,
            remaining: tokens.floor() as u32,
            reset: if missing > 0.0 {
                ((missing / self.rate).ceil() as u64).max(1)
            } else {
                0
            },
        }
    }

    /// The headers of draft-ietf-httpapi-ratelimit-headers (its first
    /// drafts' three fields, which `RateLimit-*` names): `RateLimit-Limit`,
    /// `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds), as of now.
    pub fn write(&self, headers: &mut axum::http::HeaderMap) {
        use axum::http::HeaderName;
        const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
        const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
        const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
        let told = self.told(Instant::now());
        headers.insert(LIMIT, small_value(u64::from(told.limit)));
        headers.insert(REMAINING, small_value(u64::from(told.remaining)));
        headers.insert(RESET, small_value(told.reset));
    }
}

/// Below this, a number's header value is made once and shared.
const SMALL_VALUES: u64 = 1024;

/// `n` as a header value: for the usual quotas (below [`SMALL_VALUES`]) a
/// clone of one made once, which shares its bytes, where making one is an
/// allocation (the three made afresh were about 340 instructions of a
/// routing lookup's 55,400, callgrind).
fn small_value(n: u64) -> axum::http::HeaderValue {
    use axum::http::HeaderValue;
    static VALUES: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    let values = VALUES.get_or_init(|| (0..SMALL_VALUES).map(HeaderValue::from).collect());
    usize::try_from(n)
        .ok()
        .and_then(|i| values.get(i))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

/// A token bucket per credential: `rate` requests a second on average, up to
/// `burst` at once.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token for `key`, answering where its bucket then stands
    /// (`None` with the limit off); [`Refused`] when there is none.
    pub fn check(&self, key: &str) -> Result<Option<Quota>, Refused> {
        self.check_at(key, Instant::now())
    }

    pub fn check_at(&self, key: &str, now: Instant) -> Result<Option<Quota>, Refused> {
        if self.rate <= 0.0 {
            return Ok(None);
        }
        let shard = key.bytes().take(8).fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % SHARDS;
        let Ok(mut buckets) = self.shards[shard].lock() else {
            return Ok(None);
        };
        // A known credential: one lookup, no allocation.
        if let Some(bucket) = buckets.get_mut(key) {
            return self.take(bucket, now);
        }
        if buckets.len() >= SHARD_CAPACITY {
            // A bucket that has refilled is the same as no bucket.
            let full_after = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
            if buckets.len() >= SHARD_CAPACITY {
                buckets.clear();
            }
        }
        let mut bucket = Bucket {
            tokens: self.burst,
            at: now,
        };
        let verdict = self.take(&mut bucket, now);
        buckets.insert(key.to_owned(), bucket);
        verdict
    }

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<Option<Quota>, Refused> {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(Some(self.quota(bucket)))
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(Refused {
                retry_after: (wait.ceil() as u64).max(1),
                quota: self.quota(bucket),
            })
        }
    }

    fn quota(&self, bucket: &Bucket) -> Quota {
        Quota {
            burst: self.burst,
            rate: self.rate,
            tokens: bucket.tokens,
            at: bucket.at,
        }
    }
}

/// A request over its credential's rate: retry after this many seconds;
/// the bucket as it stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refused {
    pub retry_after: u64,
    pub quota: Quota,
}

/// What a login attempt may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after waiting `delay`; settle `claim` once the outcome is known.
    Go { delay: Duration, claim: Claim },
    /// Refused (429) for `retry_after` seconds.
    Refuse { retry_after: u64 },
}

/// The strikes an attempt took on its username's and its address's budgets
/// (each key with the start of the window it was counted in), to be given
/// back or kept by [`LoginThrottle::settle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    user: (String, i64),
    addr: (String, i64),
}

/// How a login attempt ended, as the throttle counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The password was right: the username starts afresh and the address
    /// gets its strike back (many users may share one address).
    Succeeded,
    /// The password was wrong (or the username unknown): both strikes stay.
    Failed,
    /// Nothing was decided (the store failed): both strikes are given back.
    Unknown,
}

/// Keeps entries in memory before expired ones are dropped.
const THROTTLE_CAPACITY: usize = 100_000;
/// Usernames are counted under at most this many bytes of what was sent.
const MAX_KEY_BYTES: usize = 64;
/// Strikes a username (an address) may have before attempts slow down.
const USER_SLOW_AFTER: u32 = 3;
const ADDR_SLOW_AFTER: u32 = 10;
/// The longest an attempt is slowed down.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// On PostgreSQL, expired budgets are pruned once every this many claims.
const PRUNE_EVERY: u64 = 1024;

/// Login throttling: a budget per username and one per client address, each
/// counted over a fixed window that starts at its first strike. This is the
/// whole rule, for both ways of counting:
///
/// - **attempts are counted, not outcomes**: an attempt takes a strike on
///   both budgets when it starts, or on neither if either is exhausted (then
///   it is refused, 429, until that window ends: `Retry-After`), so however
///   many attempts run at once, no more than a budget's maximum get their
///   password checked. The outcome then settles the strikes ([`Outcome`]):
///   a success clears the username and gives the address its strike back; a
///   failure keeps both, and so does an attempt that never finished;
/// - a username's budget is `max_per_user` strikes, an address's
///   `max_per_addr`;
/// - before refusing, attempts are slowed down: once a username has 4
///   strikes (an address 11), each further attempt first waits `delay_step`
///   more than the last, at most 2 s;
/// - a username that does not exist is counted exactly like one that does,
///   so neither the answer nor the throttling tells them apart.
///
/// Where the budgets are counted: on PostgreSQL, in the database
/// (`login_budget`), so every instance shares them, at one statement per
/// attempt plus one to settle a success (see `core::budgets`); on SQLite,
/// whose one process serves everything, here in memory under one lock,
/// bounded at 100,000 budgets. Times come from the core's clock (seconds),
/// so tests move them.
pub struct LoginThrottle {
    window: i64,
    max_user: u32,
    max_addr: u32,
    step: Duration,
    /// The core whose store holds the budgets, where it does.
    shared: Option<Core>,
    /// Otherwise: budgets by key (`u:` username, `a:` address), as the table.
    budgets: Mutex<HashMap<String, BudgetCount>>,
    claims: AtomicU64,
}

impl LoginThrottle {
    /// Counts in `core`'s store if it shares login budgets, else in memory.
    pub fn new(limits: &Limits, core: &Core) -> LoginThrottle {
        let mut throttle = LoginThrottle::in_memory(limits);
        throttle.shared = core.shares_login_budgets().then(|| core.clone());
        throttle
    }

    /// Counts in this process's memory.
    pub fn in_memory(limits: &Limits) -> LoginThrottle {
        LoginThrottle {
            window: limits.login_window_secs.max(1),
            max_user: limits.login_max_per_user.max(1),
            max_addr: limits.login_max_per_addr.max(1),
            step: limits.login_delay_step,
            shared: None,
            budgets: Mutex::new(HashMap::new()),
            claims: AtomicU64::new(0),
        }
    }

    /// The form a username is counted under: its lookup key when it is a
    /// valid username, else `~` and a digest of (a bounded prefix of) what
    /// was sent. The digest keeps every key plain ASCII: PostgreSQL stores
    /// the budgets as text, which refuses a NUL, and what a client sends as
    /// a username may hold anything.
    pub fn user_key(username: &str) -> String {
        use sha2::Digest;
        if let Some(u) = crate::domain::Username::parse(username) {
            return u.key();
        }
        let end = username.len().min(MAX_KEY_BYTES);
        let digest = sha2::Sha256::digest(&username.as_bytes()[..end]);
        format!("~{}", crate::domain::hex(&digest[..16]))
    }

    /// Decides an attempt for `user_key` from `addr` at `now`, taking its
    /// strikes if it may go ahead.
    pub async fn attempt(
        &self,
        user_key: &str,
        addr: IpAddr,
        now: i64,
    ) -> Result<Verdict, CoreError> {
        let claim = BudgetClaim {
            user_key: format!("u:{user_key}"),
            addr_key: format!("a:{addr}"),
            now,
            window: self.window,
            max_user: self.max_user,
            max_addr: self.max_addr,
        };
        let taken = match &self.shared {
            Some(core) => {
                if self.claims.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
                    let (core, before) = (core.clone(), now - self.window);
                    tokio::spawn(async move {
                        if let Err(e) = core.prune_login_budgets(before).await {
                            tracing::warn!(error = %e, "pruning login budgets");
                        }
                    });
                }
                core.claim_login_budgets(claim.clone()).await?
            }
            None => self.claim_here(&claim),
        };
        match (taken.user, taken.addr) {
            (Some(user), Some(addr)) => Ok(Verdict::Go {
                delay: self.delay(user, addr),
                claim: Claim {
                    user: (claim.user_key, user.since),
                    addr: (claim.addr_key, addr.since),
                },
            }),
            (user, addr) => {
                if let Some(addr) = addr.filter(|_| user.is_none()) {
                    // Lost a race for the username's last strike.
                    self.release(BudgetRelease {
                        addr: Some((claim.addr_key, addr.since)),
                        ..BudgetRelease::default()
                    })
                    .await;
                }
                Ok(Verdict::Refuse {
                    retry_after: self.retry_after(&taken, now),
                })
            }
        }
    }

    /// Keeps or gives back an attempt's strikes, as `outcome` says.
    pub async fn settle(&self, claim: Claim, outcome: Outcome) {
        if outcome == Outcome::Failed {
            return;
        }
        self.release(BudgetRelease {
            addr: Some(claim.addr),
            user: Some(claim.user),
            clear_user: outcome == Outcome::Succeeded,
        })
        .await;
    }

    async fn release(&self, release: BudgetRelease) {
        match &self.shared {
            Some(core) => {
                // The login's answer does not wait on this going wrong.
                if let Err(e) = core.release_login_budgets(release).await {
                    tracing::warn!(error = %e, "giving back login strikes");
                }
            }
            None => self.release_here(&release),
        }
    }

    /// The wait before an attempt that took these strikes.
    fn delay(&self, user: BudgetCount, addr: BudgetCount) -> Duration {
        // The strikes before this attempt's own.
        let excess = user
            .count
            .saturating_sub(1 + USER_SLOW_AFTER)
            .max(addr.count.saturating_sub(1 + ADDR_SLOW_AFTER));
        (self.step * excess).min(MAX_DELAY)
    }

    /// Seconds until the exhausted budget's window ends.
    fn retry_after(&self, taken: &ClaimOutcome, now: i64) -> u64 {
        let end = |b: Option<BudgetCount>, max: u32| {
            b.filter(|b| b.count > 0 && now < b.since + self.window)
                .map(|b| (b.count >= max, b.since + self.window - now))
        };
        let ends = [
            end(taken.user_before, self.max_user),
            end(taken.addr_before, self.max_addr),
        ];
        // An exhausted budget's end; after a race (the budget filled after
        // the statement's snapshot) the latest live window's end.
        let exhausted = ends.iter().flatten().filter(|e| e.0).map(|e| e.1).max();
        let live = ends.iter().flatten().map(|e| e.1).max();
        exhausted.or(live).unwrap_or(self.window).max(1) as u64
    }

    /// [`BudgetClaim`] in memory: the same rule as the database's statement.
    fn claim_here(&self, c: &BudgetClaim) -> ClaimOutcome {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let user_before = budgets.get(&c.user_key).copied();
        let addr_before = budgets.get(&c.addr_key).copied();
        let live = |b: Option<BudgetCount>| b.filter(|b| b.count > 0 && c.now < b.since + c.window);
        let (user, addr) = (live(user_before), live(addr_before));
        let exhausted = user.is_some_and(|u| u.count >= c.max_user)
            || addr.is_some_and(|a| a.count >= c.max_addr);
        let mut outcome = ClaimOutcome {
            user_before,
            addr_before,
            ..ClaimOutcome::default()
        };
        if exhausted {
            return outcome;
        }
        if budgets.len() >= THROTTLE_CAPACITY {
            // Expired budgets go first; if that is not enough, everything (a
            // flood of distinct keys must not exhaust memory).
            budgets.retain(|_, b| live(Some(*b)).is_some());
            if budgets.len() >= THROTTLE_CAPACITY {
                budgets.clear();
            }
        }
        let take = |b: Option<BudgetCount>| match b {
            Some(b) => BudgetCount {
                count: b.count + 1,
                since: b.since,
            },
            None => BudgetCount {
                count: 1,
                since: c.now,
            },
        };
        let (user, addr) = (take(user), take(addr));
        budgets.insert(c.user_key.clone(), user);
        budgets.insert(c.addr_key.clone(), addr);
        outcome.user = Some(user);
        outcome.addr = Some(addr);
        outcome
    }

    /// [`BudgetRelease`] in memory.
    fn release_here(&self, r: &BudgetRelease) {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let user = r.user.as_ref().map(|u| (u, r.clear_user));
        for ((key, since), clear) in [r.addr.as_ref().map(|a| (a, false)), user]
            .into_iter()
            .flatten()
        {
            let Some(b) = budgets.get_mut(key) else {
                continue;
            };
            if b.since != *since || b.count == 0 {
                continue;
            }
            if clear {
                budgets.remove(key);
            } else {
                b.count -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_skips_strings_and_counts_both_brackets() {
        assert!(!json_too_deep(b"{}", 1));
        assert!(json_too_deep(b"{\"a\":[]}", 1));
        assert!(!json_too_deep(b"{\"a\":\"[[[[\\\"[[[\"}", 1));
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(json_too_deep(deep.as_bytes(), 32));
        assert!(!json_too_deep(deep.as_bytes(), 33));
        // Siblings do not add up.
        assert!(!json_too_deep(b"[[],[],[],[]]", 2));
    }

    #[test]
    fn bucket_allows_the_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        // What the headers would say at `at` of a check's outcome: its
        // quota, or the refusal's wait and quota.
        let told = |r: Result<Option<Quota>, Refused>, at| match r {
            Ok(q) => Ok(q.map(|q| q.told(at))),
            Err(r) => Err((r.retry_after, r.quota.told(at))),
        };
        let quota = |remaining, reset| Told {
            limit: 3,
            remaining,
            reset,
        };
        // Each token taken leaves one fewer, and half a second more to
        // wait for the bucket to be full again at 2/s (whole seconds, up).
        assert_eq!(told(limiter.check_at("k", t0), t0), Ok(Some(quota(2, 1))));
        assert_eq!(told(limiter.check_at("k", t0), t0), Ok(Some(quota(1, 1))));
        assert_eq!(told(limiter.check_at("k", t0), t0), Ok(Some(quota(0, 2))));
        assert_eq!(told(limiter.check_at("k", t0), t0), Err((1, quota(0, 2))));
        // Another credential has its own bucket.
        assert_eq!(
            told(limiter.check_at("other", t0), t0),
            Ok(Some(quota(2, 1)))
        );
        // Half a second gives one token back at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(told(limiter.check_at("k", t1), t1), Ok(Some(quota(0, 2))));
        let refused = limiter.check_at("k", t1);
        assert_eq!(told(refused, t1), Err((1, quota(0, 2))));
        // Told later (an answer written after a long wait): what the bucket
        // regained meanwhile, up to full.
        assert_eq!(
            told(refused, t1 + Duration::from_millis(1000)),
            Err((1, quota(2, 1)))
        );
        assert_eq!(
            told(refused, t1 + Duration::from_secs(30)),
            Err((1, quota(3, 0)))
        );
        assert_eq!(RateLimiter::new(0, 0).check_at("k", t0), Ok(None));
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::in_memory(&Limits {
            login_window_secs: 60,
            login_max_per_user: 5,
            login_max_per_addr: 20,
            login_delay_step: Duration::from_millis(100),
            ..Limits::default()
        })
    }

    async fn go(t: &LoginThrottle, user: &str, addr: IpAddr, now: i64) -> (Duration, Claim) {
        match t.attempt(user, addr, now).await.expect("in memory") {
            Verdict::Go { delay, claim } => (delay, claim),
            other => panic!("{user} at {now}: {other:?}"),
        }
    }

    async fn verdict(t: &LoginThrottle, user: &str, addr: IpAddr, now: i64) -> Verdict {
        t.attempt(user, addr, now).await.expect("in memory")
    }

    #[tokio::test]
    async fn a_username_slows_down_then_is_refused_until_the_window_ends() {
        let t = throttle();
        let addr: IpAddr = [127, 0, 0, 1].into();
        let mut delays = Vec::new();
        for i in 0..5 {
            let (delay, claim) = go(&t, "bob", addr, 1000 + i).await;
            delays.push(delay.as_millis());
            t.settle(claim, Outcome::Failed).await;
        }
        assert_eq!(delays, vec![0, 0, 0, 0, 100]);
        assert_eq!(
            verdict(&t, "bob", addr, 1010).await,
            Verdict::Refuse { retry_after: 50 }
        );
        // Another username from the same address is not refused yet.
        go(&t, "alice", addr, 1010).await;
        // The window ends: bob starts afresh.
        assert_eq!(go(&t, "bob", addr, 1060).await.0, Duration::ZERO);
    }

    #[tokio::test]
    async fn attempts_count_when_they_start_so_parallel_ones_cannot_overtake() {
        let t = throttle();
        let addr: IpAddr = [10, 0, 0, 9].into();
        // Five unfinished attempts exhaust the username...
        let mut claims = Vec::new();
        for _ in 0..5 {
            claims.push(go(&t, "bob", addr, 0).await.1);
        }
        assert!(matches!(
            verdict(&t, "bob", addr, 0).await,
            Verdict::Refuse { .. }
        ));
        // ...and twenty, under any usernames, the address; a refused
        // attempt takes no strike.
        for i in 0..15 {
            claims.push(go(&t, &format!("u{i}"), addr, 0).await.1);
        }
        assert!(matches!(
            verdict(&t, "carol", addr, 0).await,
            Verdict::Refuse { .. }
        ));
        // A success gives its address strike back: one more may go.
        let last = claims.pop().expect("a claim");
        t.settle(last, Outcome::Succeeded).await;
        let (_, claim) = go(&t, "carol", addr, 0).await;
        t.settle(claim, Outcome::Failed).await;
        assert!(matches!(
            verdict(&t, "dave", addr, 0).await,
            Verdict::Refuse { .. }
        ));
        // An attempt the store could not decide gives both back.
        let first = claims.remove(0);
        t.settle(first, Outcome::Unknown).await;
        go(&t, "bob", addr, 0).await;
    }

    #[tokio::test]
    async fn success_clears_the_username_but_not_the_address() {
        let t = throttle();
        let addr: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..4 {
            let (_, claim) = go(&t, "bob", addr, 0).await;
            t.settle(claim, Outcome::Failed).await;
        }
        let (_, claim) = go(&t, "bob", addr, 0).await;
        t.settle(claim, Outcome::Succeeded).await;
        assert_eq!(go(&t, "bob", addr, 0).await.0, Duration::ZERO);
        for i in 0..15 {
            let (_, claim) = go(&t, &format!("u{i}"), addr, 0).await;
            t.settle(claim, Outcome::Failed).await;
        }
        // 20 strikes on the address: everyone from it is refused.
        assert_eq!(
            verdict(&t, "carol", addr, 10).await,
            Verdict::Refuse { retry_after: 50 }
        );
        go(&t, "carol", [10, 0, 0, 2].into(), 10).await;
    }

    #[test]
    fn the_rate_limit_is_shared_among_instances() {
        let limits = Limits {
            rate_per_sec: 200,
            rate_burst: 401,
            ..Limits::default()
        }
        .divided_among(3);
        assert_eq!((limits.rate_per_sec, limits.rate_burst), (67, 134));
        let off = Limits {
            rate_per_sec: 0,
            ..Limits::default()
        };
        assert_eq!(off.divided_among(4).rate_per_sec, 0);
        assert_eq!(Limits::default().divided_among(0).rate_per_sec, 200);
    }

    #[test]
    fn usernames_count_under_their_lookup_key() {
        assert_eq!(LoginThrottle::user_key("Bob.Smith"), "bob.smith");
        // Anything else is counted under a digest: plain ASCII, bounded,
        // the same for the same bytes.
        let odd = LoginThrottle::user_key("a b");
        assert!(odd.starts_with('~') && odd.len() == 33, "{odd}");
        assert_eq!(odd, LoginThrottle::user_key("a b"));
        assert_ne!(odd, LoginThrottle::user_key("a c"));
        assert!(LoginThrottle::user_key("x\0y").is_ascii());
        assert_eq!(LoginThrottle::user_key(&"é".repeat(100)).len(), 33);
    }
}
