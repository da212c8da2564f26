//! Prometheus metrics, hand-rolled on atomics.
//!
//! The service needs counters and one histogram family; the `metrics` crate
//! and its exporter would bring a registry, a recorder and their
//! dependencies for that. Here a request costs one read-locked map lookup
//! (a shared lock, which never waits for another reader) and a few relaxed
//! atomic additions; the write lock is taken once per new route.
//!
//! Each server (each `Core`) has its own set, so tests that run many servers
//! in one process see only their own.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::metrics::Business;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests refused by a limit, by reason.
#[derive(Default)]
pub struct Refusals {
    pub rate_limited: AtomicU64,
    pub login_throttled: AtomicU64,
    pub timed_out: AtomicU64,
}

impl Refusals {
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_login_throttled(&self) {
        self.login_throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }
}

/// One route's counters: answers by status, and latencies.
struct RouteStats {
    face: &'static str,
    /// Index `status - 100`.
    statuses: Vec<AtomicU64>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl RouteStats {
    fn new(face: &'static str) -> RouteStats {
        RouteStats {
            face,
            statuses: (100..600).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// Requests by matched route (the pattern, never the raw path), status and face.
#[derive(Default)]
pub struct Http {
    routes: RwLock<HashMap<String, Arc<RouteStats>>>,
    pub refusals: Refusals,
}

impl Http {
    /// Counts one answered request. `route` is the matched pattern, or
    /// `"unmatched"`; `face` is the label of the face that answered it.
    pub fn observe(&self, face: &'static str, route: &str, status: u16, latency: Duration) {
        let stats = match self.routes.read().ok().and_then(|m| m.get(route).cloned()) {
            Some(s) => s,
            None => {
                let Ok(mut routes) = self.routes.write() else {
                    return;
                };
                routes
                    .entry(route.to_owned())
                    .or_insert_with(|| Arc::new(RouteStats::new(face)))
                    .clone()
            }
        };
        if let Some(c) = stats.statuses.get(usize::from(status).wrapping_sub(100)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            stats.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        stats.count.fetch_add(1, Ordering::Relaxed);
        stats.sum_micros.fetch_add(
            latency.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }
}

/// A label value, escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// The whole exposition, in Prometheus text format 0.0.4.
pub fn render(http: &Http, business: &Business, store_retries: u64) -> String {
    let mut out = String::with_capacity(4096);
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut routes: Vec<(String, Arc<RouteStats>)> = http
        .routes
        .read()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    routes.sort_by(|a, b| a.0.cmp(&b.0));

    let name = "linekeeper_http_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} HTTP requests answered, by face, matched route and status.\n# TYPE {name} counter"
    );
    for (route, s) in &routes {
        for (i, c) in s.statuses.iter().enumerate() {
            let n = get(c);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "{name}{{face=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                    s.face,
                    label(route),
                    i + 100
                );
            }
        }
    }

    let name = "linekeeper_http_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from the request's arrival to its answer, by face and matched route.\n# TYPE {name} histogram"
    );
    for (route, s) in &routes {
        let labels = format!("face=\"{}\",route=\"{}\"", s.face, label(route));
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&s.buckets) {
            cumulative += get(c);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = get(&s.count);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            get(&s.sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }

    let b = business;
    counter(
        &mut out,
        "linekeeper_assignments_total",
        "Numbers assigned (grants made).",
        &[("", get(&b.assignments))],
    );
    counter(
        &mut out,
        "linekeeper_unassignments_total",
        "Grants removed by an unassignment (not counting the cascade).",
        &[("", get(&b.unassignments))],
    );
    counter(
        &mut out,
        "linekeeper_cascaded_removals_total",
        "Grants removed because a grant they came from was removed, or the number unsubscribed.",
        &[("", get(&b.cascaded_removals))],
    );
    counter(
        &mut out,
        "linekeeper_subscriptions_total",
        "Numbers subscribed.",
        &[("", get(&b.subscriptions))],
    );
    counter(
        &mut out,
        "linekeeper_unsubscriptions_total",
        "Numbers unsubscribed.",
        &[("", get(&b.unsubscriptions))],
    );
    counter(
        &mut out,
        "linekeeper_logins_total",
        "Password logins, by outcome (throttled: refused before the password was checked).",
        &[
            ("{outcome=\"ok\"}", get(&b.logins_ok)),
            ("{outcome=\"failed\"}", get(&b.logins_failed)),
            (
                "{outcome=\"throttled\"}",
                get(&http.refusals.login_throttled),
            ),
        ],
    );
    counter(
        &mut out,
        "linekeeper_requests_refused_total",
        "Requests refused by a limit, by reason.",
        &[
            ("{reason=\"rate_limit\"}", get(&http.refusals.rate_limited)),
            (
                "{reason=\"login_throttle\"}",
                get(&http.refusals.login_throttled),
            ),
            ("{reason=\"timeout\"}", get(&http.refusals.timed_out)),
        ],
    );
    counter(
        &mut out,
        "linekeeper_store_retries_total",
        "Transactions run again after a serialization failure or deadlock.",
        &[("", store_retries)],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_routes_statuses_and_the_histogram() {
        let http = Http::default();
        http.observe(
            "panel",
            "/api/numbers/assign",
            200,
            Duration::from_millis(3),
        );
        http.observe(
            "panel",
            "/api/numbers/assign",
            200,
            Duration::from_millis(30),
        );
        http.observe("panel", "/api/numbers/assign", 422, Duration::from_secs(20));
        let b = Business::default();
        Business::add(&b.assignments, 2);
        let text = render(&http, &b, 7);
        for line in [
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/numbers/assign\",status=\"200\"} 2",
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/numbers/assign\",status=\"422\"} 1",
            "linekeeper_http_request_duration_seconds_bucket{face=\"panel\",route=\"/api/numbers/assign\",le=\"0.005\"} 1",
            "linekeeper_http_request_duration_seconds_bucket{face=\"panel\",route=\"/api/numbers/assign\",le=\"0.05\"} 2",
            "linekeeper_http_request_duration_seconds_bucket{face=\"panel\",route=\"/api/numbers/assign\",le=\"10\"} 2",
            "linekeeper_http_request_duration_seconds_bucket{face=\"panel\",route=\"/api/numbers/assign\",le=\"+Inf\"} 3",
            "linekeeper_http_request_duration_seconds_count{face=\"panel\",route=\"/api/numbers/assign\"} 3",
            "linekeeper_http_request_duration_seconds_sum{face=\"panel\",route=\"/api/numbers/assign\"} 20.033",
            "linekeeper_assignments_total 2",
            "linekeeper_store_retries_total 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
