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
use std::time::{Duration, Instant};

/// Deepest nesting of arrays and objects a JSON body may have. Every body
/// either face accepts is one flat object, so 32 leaves a wide margin while
/// keeping far from serde_json's own recursion limit (128) and the stack.
pub const MAX_JSON_DEPTH: usize = 32;

/// The tunable limits of a server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest a request may take, reading its body included.
    pub request_timeout: Duration,
    /// Requests per second per credential (token bucket); 0 turns it off.
    pub rate_per_sec: u32,
    /// Bucket size: how many requests a credential may send at once.
    pub rate_burst: u32,
    /// Login failures are counted over this many seconds (by the core's clock).
    pub login_window_secs: i64,
    /// Failed (or unfinished) logins for one username before it is refused.
    pub login_max_per_user: u32,
    /// Failed logins from one client address before it is refused.
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

    /// Takes one token for `key`; `Err(seconds)` to wait when there is none.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let shard = key.bytes().take(8).fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % SHARDS;
        let Ok(mut buckets) = self.shards[shard].lock() else {
            return Ok(());
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

    fn take(&self, bucket: &mut Bucket, now: Instant) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// Failures counted for one username or address since `since`.
#[derive(Clone, Copy)]
struct Strikes {
    count: u32,
    since: i64,
}

/// What a login attempt may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead, after waiting `delay`.
    Go { delay: Duration },
    /// Refused (429) for `retry_after` seconds.
    Refuse { retry_after: u64 },
}

/// Keeps entries per map before expired ones are dropped.
const THROTTLE_CAPACITY: usize = 100_000;
/// Usernames are counted under at most this many bytes of what was sent.
const MAX_KEY_BYTES: usize = 64;

/// Login throttling, per username and per client address, over a fixed
/// window that starts at the first failure:
///
/// - a username is refused once `max_per_user` attempts have failed within
///   the window, and an address once `max_per_addr` have; refused until the
///   window ends (`Retry-After` says when);
/// - before that, attempts are slowed down: once a username has failed 4
///   times (an address 11 times), each further attempt first waits
///   `delay_step` more than the last, at most 2 s;
/// - a username's attempt counts from the moment it starts (so parallel
///   guesses cannot overtake the count) and a success clears the username;
///   an address counts failures only (many users may share one address);
/// - a username that does not exist is counted exactly like one that does,
///   so neither the answer nor the throttling tells them apart.
///
/// Times come from the core's clock (seconds), so tests move them.
pub struct LoginThrottle {
    window: i64,
    max_user: u32,
    max_addr: u32,
    step: Duration,
    users: Mutex<HashMap<String, Strikes>>,
    addrs: Mutex<HashMap<IpAddr, Strikes>>,
}

impl LoginThrottle {
    pub fn new(limits: &Limits) -> LoginThrottle {
        LoginThrottle {
            window: limits.login_window_secs.max(1),
            max_user: limits.login_max_per_user.max(1),
            max_addr: limits.login_max_per_addr.max(1),
            step: limits.login_delay_step,
            users: Mutex::new(HashMap::new()),
            addrs: Mutex::new(HashMap::new()),
        }
    }

    /// The form a username is counted under: its lookup key when it is a
    /// valid username, else (a bounded prefix of) what was sent.
    pub fn user_key(username: &str) -> String {
        if let Some(u) = crate::domain::Username::parse(username) {
            return u.key();
        }
        let mut end = username.len().min(MAX_KEY_BYTES);
        while !username.is_char_boundary(end) {
            end -= 1;
        }
        username[..end].to_owned()
    }

    fn live(&self, s: Option<&Strikes>, now: i64) -> Option<Strikes> {
        s.copied().filter(|s| now < s.since + self.window)
    }

    /// Decides an attempt for `user_key` from `addr` at `now`, and counts it
    /// against the username.
    pub fn attempt(&self, user_key: &str, addr: IpAddr, now: i64) -> Verdict {
        let addr_strikes = match self.addrs.lock() {
            Ok(addrs) => self.live(addrs.get(&addr), now),
            Err(_) => None,
        };
        let Ok(mut users) = self.users.lock() else {
            return Verdict::Go {
                delay: Duration::ZERO,
            };
        };
        let user = self.live(users.get(user_key), now);
        let mut retry_after = 0;
        for (s, max) in [(user, self.max_user), (addr_strikes, self.max_addr)] {
            if let Some(s) = s.filter(|s| s.count >= max) {
                retry_after = retry_after.max(s.since + self.window - now);
            }
        }
        if retry_after > 0 {
            return Verdict::Refuse {
                retry_after: retry_after as u64,
            };
        }
        let user_failures = user.map_or(0, |s| s.count);
        let addr_failures = addr_strikes.map_or(0, |s| s.count);
        let excess = user_failures
            .saturating_sub(3)
            .max(addr_failures.saturating_sub(10));
        let delay = (self.step * excess).min(Duration::from_secs(2));
        prune(&mut users, now, self.window);
        let entry = user.unwrap_or(Strikes {
            count: 0,
            since: now,
        });
        users.insert(
            user_key.to_owned(),
            Strikes {
                count: entry.count + 1,
                since: entry.since,
            },
        );
        Verdict::Go { delay }
    }

    /// The attempt failed: count it against the address too.
    pub fn failed(&self, addr: IpAddr, now: i64) {
        if let Ok(mut addrs) = self.addrs.lock() {
            let entry = self.live(addrs.get(&addr), now).unwrap_or(Strikes {
                count: 0,
                since: now,
            });
            prune(&mut addrs, now, self.window);
            addrs.insert(
                addr,
                Strikes {
                    count: entry.count + 1,
                    since: entry.since,
                },
            );
        }
    }

    /// The attempt succeeded: the username starts afresh.
    pub fn succeeded(&self, user_key: &str) {
        if let Ok(mut users) = self.users.lock() {
            users.remove(user_key);
        }
    }
}

/// Bounds a throttle map: expired entries go first, and if that is not
/// enough, everything (a flood of distinct keys must not exhaust memory).
fn prune<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Strikes>, now: i64, window: i64) {
    if map.len() < THROTTLE_CAPACITY {
        return;
    }
    map.retain(|_, s| now < s.since + window);
    if map.len() >= THROTTLE_CAPACITY {
        map.clear();
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
        for _ in 0..3 {
            assert_eq!(limiter.check_at("k", t0), Ok(()));
        }
        assert_eq!(limiter.check_at("k", t0), Err(1));
        // Another credential has its own bucket.
        assert_eq!(limiter.check_at("other", t0), Ok(()));
        // Half a second gives one token back at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check_at("k", t1), Ok(()));
        assert_eq!(limiter.check_at("k", t1), Err(1));
        assert_eq!(RateLimiter::new(0, 0).check_at("k", t0), Ok(()));
    }

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(&Limits {
            login_window_secs: 60,
            login_max_per_user: 5,
            login_max_per_addr: 20,
            login_delay_step: Duration::from_millis(100),
            ..Limits::default()
        })
    }

    #[test]
    fn a_username_slows_down_then_is_refused_until_the_window_ends() {
        let t = throttle();
        let addr: IpAddr = [127, 0, 0, 1].into();
        let mut delays = Vec::new();
        for i in 0..5 {
            match t.attempt("bob", addr, 1000 + i) {
                Verdict::Go { delay } => delays.push(delay.as_millis()),
                other => panic!("attempt {i}: {other:?}"),
            }
            t.failed(addr, 1000 + i);
        }
        assert_eq!(delays, vec![0, 0, 0, 0, 100]);
        assert_eq!(
            t.attempt("bob", addr, 1010),
            Verdict::Refuse { retry_after: 50 }
        );
        // Another username from the same address is not refused yet.
        assert!(matches!(t.attempt("alice", addr, 1010), Verdict::Go { .. }));
        // The window ends: bob starts afresh.
        assert_eq!(
            t.attempt("bob", addr, 1060),
            Verdict::Go {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn success_clears_the_username_but_not_the_address() {
        let t = throttle();
        let addr: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..4 {
            let _ = t.attempt("bob", addr, 0);
            t.failed(addr, 0);
        }
        t.succeeded("bob");
        assert_eq!(
            t.attempt("bob", addr, 0),
            Verdict::Go {
                delay: Duration::ZERO
            }
        );
        for i in 0..16 {
            let _ = t.attempt(&format!("u{i}"), addr, 0);
            t.failed(addr, 0);
        }
        // 20 failures from the address: everyone from it is refused.
        assert_eq!(
            t.attempt("carol", addr, 10),
            Verdict::Refuse { retry_after: 50 }
        );
        assert!(matches!(
            t.attempt("carol", [10, 0, 0, 2].into(), 10),
            Verdict::Go { .. }
        ));
    }

    #[test]
    fn usernames_count_under_their_lookup_key() {
        assert_eq!(LoginThrottle::user_key("Bob.Smith"), "bob.smith");
        assert_eq!(LoginThrottle::user_key("a b"), "a b");
        assert_eq!(LoginThrottle::user_key(&"é".repeat(100)).len(), 64);
    }
}
