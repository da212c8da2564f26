//! The server's configuration, from four layers, each overriding the last:
//!
//! 1. the defaults, [`Config::default`] (the one place they are written);
//! 2. an optional TOML file, `--config FILE` or `LINEKEEPER_CONFIG`, whose
//!    keys are the settings' names below (unknown keys are an error, so a
//!    typo does not pass silently);
//! 3. environment variables (`DATABASE_URL`, `LINEKEEPER_...`);
//! 4. command-line flags (`--pool-size 8`, ...).
//!
//! Layers 3 and 4 are one [`Overrides`], filled in by clap (a flag wins over
//! its variable); layer 2 is an [`Overrides`] read from the file. A fresh
//! checkout runs with no configuration at all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::http::limits::Limits;
use crate::server::DEFAULT_DATABASE_URL;
use crate::store::StoreOptions;

/// How `serve` writes its log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Every setting of a server, with its effective value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    pub database_url: String,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Reader threads (SQLite) or connections (PostgreSQL) per process.
    pub pool_size: usize,
    /// PostgreSQL statement timeout, in milliseconds.
    pub statement_timeout_ms: u64,
    /// Retries of a transaction after a serialization failure or deadlock.
    pub max_retries: u32,
    /// Milliseconds a process trusts a credential it read; 0 turns the
    /// cache off.
    pub auth_cache_ttl_ms: u64,
    /// The log filter (`tracing_subscriber::EnvFilter` syntax).
    pub log: String,
    /// The log format.
    pub log_format: LogFormat,
    /// Longest a request may take, its body's arrival included.
    pub request_timeout_ms: u64,
    /// Requests per second per credential; 0 turns the limit off.
    pub rate_limit_per_sec: u32,
    /// How many requests a credential may send at once.
    pub rate_limit_burst: u32,
    /// Instances that share the rate limit (each counts its share).
    pub rate_limit_instances: u32,
    /// Seconds over which failed logins are counted.
    pub login_window_secs: i64,
    /// Failed logins for one username within the window before 429.
    pub login_max_failures_per_user: u32,
    /// Failed logins from one client address within the window before 429.
    pub login_max_failures_per_addr: u32,
    /// Extra wait per failed login once failures pile up, in milliseconds.
    pub login_delay_step_ms: u64,
    /// Days an unsubscribed number stays in quarantine (0: back to the pool
    /// at once).
    pub quarantine_days: u32,
    /// Reservations one account may hold at once.
    pub reservation_cap: u32,
    /// Seconds between sweeps of what is due; 0 runs no sweeper here.
    pub sweep_interval_secs: u64,
    /// Days the outbox keeps an event before the sweeper prunes it.
    pub event_retention_days: u32,
    /// Whether this process delivers webhooks.
    pub webhook_dispatch: bool,
    /// Whether webhook endpoints may be on loopback, link-local or private
    /// addresses.
    pub webhook_allow_private: bool,
    /// The longest a webhook receiver may take to answer, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Webhook deliveries one process sends at once.
    pub webhook_concurrency: u32,
    /// `nats://HOST:PORT` to publish every event to JetStream; empty: none.
    pub events_nats: String,
    /// The subjects' prefix: `<prefix>.<event type>`.
    pub events_nats_prefix: String,
    /// The JetStream stream (created over `<prefix>.>` if missing).
    pub events_nats_stream: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            pool_size: 4,
            statement_timeout_ms: 5_000,
            max_retries: 10,
            auth_cache_ttl_ms: 5_000,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            request_timeout_ms: 10_000,
            rate_limit_per_sec: 200,
            rate_limit_burst: 400,
            rate_limit_instances: 1,
            login_window_secs: 15 * 60,
            login_max_failures_per_user: 5,
            login_max_failures_per_addr: 20,
            login_delay_step_ms: 250,
            quarantine_days: 30,
            reservation_cap: 20,
            sweep_interval_secs: 5,
            event_retention_days: 7,
            webhook_dispatch: true,
            webhook_allow_private: false,
            webhook_timeout_ms: 10_000,
            webhook_concurrency: 16,
            events_nats: String::new(),
            events_nats_prefix: "linekeeper.events".to_owned(),
            events_nats_stream: "LINEKEEPER_EVENTS".to_owned(),
        }
    }
}

/// Generates [`Overrides`] (one optional value per setting, with its flag
/// and environment variable) and [`Config::apply`], so that the list of
/// settings is written once more, not once per layer.
macro_rules! overrides {
    ($($(#[$doc:meta])* $field:ident: $ty:ty, env = $env:literal;)*) => {
        /// Values that override a [`Config`]: the file's, or the
        /// environment's and command line's (clap reads a flag, else its
        /// variable).
        #[derive(Clone, Debug, Default, clap::Args, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Overrides {
            $(
                $(#[$doc])*
                #[arg(long, env = $env, ignore_case = true, hide_env_values = true)]
                #[serde(default)]
                pub $field: Option<$ty>,
            )*
        }

        impl Config {
            /// This configuration with every value `layer` sets replaced.
            pub fn apply(mut self, layer: Overrides) -> Config {
                $(
                    if let Some(value) = layer.$field {
                        self.$field = value;
                    }
                )*
                self
            }
        }
    };
}

overrides! {
    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB.
    database_url: String, env = "DATABASE_URL";
    /// The address to listen on.
    listen: SocketAddr, env = "LINEKEEPER_LISTEN";
    /// Reader threads (SQLite) or connections (PostgreSQL) per process.
    pool_size: usize, env = "LINEKEEPER_POOL_SIZE";
    /// PostgreSQL statement timeout, in milliseconds.
    statement_timeout_ms: u64, env = "LINEKEEPER_STATEMENT_TIMEOUT_MS";
    /// How often a transaction is retried after a serialization failure or deadlock.
    max_retries: u32, env = "LINEKEEPER_MAX_RETRIES";
    /// Milliseconds a process trusts a credential it read (a revocation
    /// another instance makes takes effect here within this time, on
    /// PostgreSQL far sooner); 0 turns the cache off.
    auth_cache_ttl_ms: u64, env = "LINEKEEPER_AUTH_CACHE_TTL_MS";
    /// The log filter, e.g. `info` or `linekeeper=debug,warn`.
    log: String, env = "LINEKEEPER_LOG";
    /// The log format: text, or json (one JSON object a line).
    log_format: LogFormat, env = "LINEKEEPER_LOG_FORMAT";
    /// Longest a request may take, its body's arrival included; beyond it the
    /// answer is 408 (the body had not all arrived) or 503.
    request_timeout_ms: u64, env = "LINEKEEPER_REQUEST_TIMEOUT_MS";
    /// Requests per second per credential (token bucket), over all
    /// instances; 0 turns the limit off.
    rate_limit_per_sec: u32, env = "LINEKEEPER_RATE_LIMIT_PER_SEC";
    /// How many requests a credential may send at once, over all instances.
    rate_limit_burst: u32, env = "LINEKEEPER_RATE_LIMIT_BURST";
    /// Instances behind the load balancer: each counts the rate limit on its
    /// own, with this share of it.
    rate_limit_instances: u32, env = "LINEKEEPER_RATE_LIMIT_INSTANCES";
    /// Seconds over which failed logins are counted.
    login_window_secs: i64, env = "LINEKEEPER_LOGIN_WINDOW_SECS";
    /// Failed logins for one username within the window before it is refused.
    login_max_failures_per_user: u32, env = "LINEKEEPER_LOGIN_MAX_FAILURES_PER_USER";
    /// Failed logins from one client address within the window before it is refused.
    login_max_failures_per_addr: u32, env = "LINEKEEPER_LOGIN_MAX_FAILURES_PER_ADDR";
    /// Extra wait per failed login once failures pile up, in milliseconds.
    login_delay_step_ms: u64, env = "LINEKEEPER_LOGIN_DELAY_STEP_MS";
    /// Days an unsubscribed number stays in quarantine (0: back to the pool at once).
    quarantine_days: u32, env = "LINEKEEPER_QUARANTINE_DAYS";
    /// Reservations one account may hold at once.
    reservation_cap: u32, env = "LINEKEEPER_RESERVATION_CAP";
    /// Seconds between sweeps of what is due (grant ends, quarantine and
    /// reservation ends); 0 runs no sweeper in this process.
    sweep_interval_secs: u64, env = "LINEKEEPER_SWEEP_INTERVAL_SECS";
    /// Days the outbox keeps an event before the sweeper prunes it.
    event_retention_days: u32, env = "LINEKEEPER_EVENT_RETENTION_DAYS";
    /// Whether this process delivers webhooks (`false`: another does).
    webhook_dispatch: bool, env = "LINEKEEPER_WEBHOOK_DISPATCH";
    /// Allow webhook endpoints on loopback, link-local and private
    /// addresses (refused by default).
    webhook_allow_private: bool, env = "LINEKEEPER_WEBHOOK_ALLOW_PRIVATE";
    /// The longest a webhook receiver may take (connection and answer), in
    /// milliseconds; at most 64 KiB of its answer is read.
    webhook_timeout_ms: u64, env = "LINEKEEPER_WEBHOOK_TIMEOUT_MS";
    /// Webhook deliveries one process sends at once.
    webhook_concurrency: u32, env = "LINEKEEPER_WEBHOOK_CONCURRENCY";
    /// Publish every event to NATS JetStream at this URL (nats://HOST:PORT),
    /// from the outbox, in commit order, with the event id as Nats-Msg-Id.
    events_nats: String, env = "LINEKEEPER_EVENTS_NATS";
    /// The NATS subjects' prefix: <prefix>.<event type>.
    events_nats_prefix: String, env = "LINEKEEPER_EVENTS_NATS_PREFIX";
    /// The JetStream stream, created over <prefix>.> if missing.
    events_nats_stream: String, env = "LINEKEEPER_EVENTS_NATS_STREAM";
}

impl Config {
    /// The effective configuration: the defaults, then the file (if
    /// `file` names one), then `overrides` (environment and flags).
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(path) = file {
            config = config.apply(Overrides::from_file(path)?);
        }
        Ok(config.apply(overrides))
    }

    /// The limits of the HTTP edge.
    pub fn limits(&self) -> Limits {
        Limits {
            request_timeout: Duration::from_millis(self.request_timeout_ms.max(1)),
            rate_per_sec: self.rate_limit_per_sec,
            rate_burst: self.rate_limit_burst,
            login_window_secs: self.login_window_secs.max(1),
            login_max_per_user: self.login_max_failures_per_user,
            login_max_per_addr: self.login_max_failures_per_addr,
            login_delay_step: Duration::from_millis(self.login_delay_step_ms),
        }
        .divided_among(self.rate_limit_instances)
    }

    /// The store's tuning.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            readers: self.pool_size.max(1),
            statement_timeout_ms: self.statement_timeout_ms,
            max_retries: self.max_retries,
            ..StoreOptions::default()
        }
    }

    /// The number's life: quarantine, reservations and the sweeper.
    pub fn lifecycle(&self) -> crate::core::Lifecycle {
        crate::core::Lifecycle {
            quarantine_secs: i64::from(self.quarantine_days) * crate::core::lifecycle::DAY,
            reservation_cap: i64::from(self.reservation_cap),
            sweep_interval: (self.sweep_interval_secs > 0)
                .then(|| Duration::from_secs(self.sweep_interval_secs)),
            event_retention_secs: i64::from(self.event_retention_days.max(1))
                * crate::core::lifecycle::DAY,
            ..crate::core::Lifecycle::default()
        }
    }

    /// Webhook delivery. A claim outlasts the longest attempt twice over.
    pub fn webhooks(&self) -> crate::core::webhooks::WebhookSettings {
        let timeout = Duration::from_millis(self.webhook_timeout_ms.clamp(100, 600_000));
        crate::core::webhooks::WebhookSettings {
            dispatch: self.webhook_dispatch,
            allow_private: self.webhook_allow_private,
            timeout,
            concurrency: self.webhook_concurrency.clamp(1, 256) as usize,
            lease_secs: (2 * timeout.as_secs() as i64).max(30),
            ..crate::core::webhooks::WebhookSettings::default()
        }
    }

    /// The NATS publisher's settings, when `events_nats` names a server.
    pub fn nats(&self) -> Option<crate::faces::nats::NatsSettings> {
        (!self.events_nats.trim().is_empty()).then(|| crate::faces::nats::NatsSettings {
            url: self.events_nats.trim().to_owned(),
            prefix: self.events_nats_prefix.trim_end_matches('.').to_owned(),
            stream: self.events_nats_stream.clone(),
        })
    }

    /// How long a credential read from the store is trusted.
    pub fn auth_cache_ttl(&self) -> Duration {
        Duration::from_millis(self.auth_cache_ttl_ms)
    }

    /// This configuration with its secrets replaced by `***` (the password
    /// of the database URL), fit to print.
    pub fn redacted(&self) -> Config {
        Config {
            database_url: redact_url(&self.database_url),
            ..self.clone()
        }
    }

    /// As a TOML document that [`Overrides::from_file`] reads back.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

impl Overrides {
    /// The settings a TOML file gives.
    pub fn from_file(path: &Path) -> Result<Overrides, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("bad configuration {}: {e}", path.display()))
    }
}

/// Where the configuration file is named: `--config FILE` or `LINEKEEPER_CONFIG`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConfigFile {
    /// A TOML file of settings (keys as the flags, with `_` for `-`);
    /// environment variables and flags override it.
    #[arg(
        long = "config",
        env = "LINEKEEPER_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub path: Option<PathBuf>,
}

/// `url` with the password it carries (`user:PASSWORD@host`, or a
/// `password=` query parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_are_the_edges_defaults() {
        let (ours, edge) = (Config::default().limits(), Limits::default());
        assert_eq!(ours.request_timeout, edge.request_timeout);
        assert_eq!(ours.rate_per_sec, edge.rate_per_sec);
        assert_eq!(ours.rate_burst, edge.rate_burst);
        assert_eq!(ours.login_window_secs, edge.login_window_secs);
        assert_eq!(ours.login_max_per_user, edge.login_max_per_user);
        assert_eq!(ours.login_max_per_addr, edge.login_max_per_addr);
        assert_eq!(ours.login_delay_step, edge.login_delay_step);
        let store = Config::default().store_options();
        assert_eq!(store.readers, 4);
        assert_eq!(store.max_retries, StoreOptions::default().max_retries);
    }

    #[test]
    fn later_layers_win_and_unset_values_keep_the_earlier_ones() {
        let file = Overrides {
            pool_size: Some(7),
            max_retries: Some(3),
            ..Overrides::default()
        };
        let flags = Overrides {
            pool_size: Some(9),
            ..Overrides::default()
        };
        let config = Config::default().apply(file).apply(flags);
        assert_eq!((config.pool_size, config.max_retries), (9, 3));
        assert_eq!(config.listen, Config::default().listen);
    }

    #[test]
    fn the_toml_rendering_reads_back_and_typos_are_refused() {
        let config = Config {
            pool_size: 12,
            log_format: LogFormat::Json,
            ..Config::default()
        };
        let back: Overrides = toml::from_str(&config.to_toml()).expect("reads back");
        assert_eq!(Config::default().apply(back), config);
        let typo = toml::from_str::<Overrides>("pool_sise = 3\n").unwrap_err();
        assert!(typo.to_string().contains("pool_sise"), "{typo}");
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        for (url, want) in [
            (
                "postgres://app:s3cr%40t@db.example:5432/lk",
                "postgres://app:***@db.example:5432/lk",
            ),
            (
                "postgresql://app:p@ss@db/lk?sslmode=disable",
                "postgresql://app:***@db/lk?sslmode=disable",
            ),
            (
                "postgres://app@db/lk?password=hunter2&connect_timeout=3",
                "postgres://app@db/lk?password=***&connect_timeout=3",
            ),
            ("postgres://app@db/lk", "postgres://app@db/lk"),
            ("sqlite://linekeeper.db", "sqlite://linekeeper.db"),
            ("sqlite:///var/lib/lk.db", "sqlite:///var/lib/lk.db"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
