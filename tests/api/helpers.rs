//! `TestApp`: a real server on 127.0.0.1:0 over a fresh database, a typed
//! client for it, and helpers to build worlds.
#![allow(dead_code)] // shared by many test modules; not every one uses every helper

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use linekeeper::client::{HttpClient, HttpResponse};
use linekeeper::core::admin::{AccountSpec, NumberSpec};
use linekeeper::core::webhooks::WebhookSettings;
use linekeeper::core::{Core, Lifecycle};
use linekeeper::domain::{E164, ManualClock};
use linekeeper::http::limits::Limits;
use linekeeper::server::{self as app, Settings};
use linekeeper::store::{Account, Number, StoreOptions};
use serde_json::Value;
use tokio::sync::{Mutex, oneshot};

/// Start of the manual clock: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

/// Declares scenarios that run against every backend: each
/// `async fn name(app: TestApp) { ... }` becomes the tests `sqlite::name` and
/// `postgres::name`. The latter runs on a fresh database of its own when
/// `TEST_DATABASE_URL` was set for the build (see `build.rs`), and is
/// reported as ignored, with how to run it, when it was not; once named, an
/// unreachable server fails it loudly.
#[macro_export]
macro_rules! scenarios {
    ($( $(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block )*) => {
        $( $(#[$meta])* async fn $name($app: $crate::helpers::TestApp) $body )*

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn_on($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(lk_postgres),
                    ignore = "PostgreSQL: run with TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test"
                )]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn_on($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// Waits until the server's routing table has loaded (its keeper starts it
/// once the store proves it hears), so that a test's statements are its
/// own and a number it creates is read on its first lookup.
async fn routing_table_loaded(core: &linekeeper::core::Core) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !core.routing_table_loaded() {
        assert!(
            std::time::Instant::now() < deadline,
            "the routing table did not load within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Which database a `TestApp` runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the suite may use (`TEST_DATABASE_URL`).
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub core: Core,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    /// The database URL the server uses (for the CLI, or a second server).
    pub database_url: String,
    client: Mutex<HttpClient>,
    shutdown: Option<oneshot::Sender<()>>,
    dir: PathBuf,
    /// The per-test PostgreSQL database, dropped with the app.
    pg_database: Option<String>,
}

impl TestApp {
    /// A server on a fresh SQLite database in a temporary directory.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_on(Backend::Sqlite).await
    }

    /// A server on a fresh database of `backend`. For PostgreSQL, a database of
    /// its own on the `TEST_DATABASE_URL` server; an unreachable server fails
    /// the test loudly.
    pub async fn spawn_on(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, Limits::default()).await
    }

    /// [`TestApp::spawn_on`] with the given limits.
    pub async fn spawn_with(backend: Backend, limits: Limits) -> TestApp {
        TestApp::spawn_full(backend, limits, TestApp::lifecycle()).await
    }

    /// The lifecycle settings of every test app unless it asks for others:
    /// the service's defaults (a 30-day quarantine), without the background
    /// sweeper, since tests drive [`Core::sweep`] with the manual clock.
    pub fn lifecycle() -> Lifecycle {
        Lifecycle {
            sweep_interval: None,
            ..Lifecycle::default()
        }
    }

    /// [`TestApp::spawn_on`] with the given lifecycle settings.
    pub async fn spawn_lifecycle(backend: Backend, lifecycle: Lifecycle) -> TestApp {
        TestApp::spawn_full(backend, Limits::default(), lifecycle).await
    }

    /// The webhook settings of every test app unless it asks for others:
    /// receivers on 127.0.0.1 allowed, a 2 s receiver timeout, and no
    /// background dispatcher (tests run its passes with the manual clock),
    /// which looks every 20 ms where a test starts one.
    pub fn webhooks() -> WebhookSettings {
        WebhookSettings {
            dispatch: false,
            allow_private: true,
            poll: std::time::Duration::from_millis(20),
            timeout: std::time::Duration::from_secs(2),
            ..WebhookSettings::default()
        }
    }

    /// A server with the given webhook settings.
    pub async fn spawn_webhooks(backend: Backend, webhooks: WebhookSettings) -> TestApp {
        TestApp::spawn_all(backend, Limits::default(), TestApp::lifecycle(), webhooks).await
    }

    /// A server with the given limits and lifecycle settings.
    pub async fn spawn_full(backend: Backend, limits: Limits, lifecycle: Lifecycle) -> TestApp {
        TestApp::spawn_all(backend, limits, lifecycle, TestApp::webhooks()).await
    }

    /// A server with every setting given.
    pub async fn spawn_all(
        backend: Backend,
        limits: Limits,
        lifecycle: Lifecycle,
        webhooks: WebhookSettings,
    ) -> TestApp {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        let tag = hex(&tag);
        let dir = std::env::temp_dir().join(format!("linekeeper-test-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (url, pg_database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.join("test.db").display()), None),
            Backend::Postgres => {
                let server =
                    postgres_url().expect("TEST_DATABASE_URL must be set for PostgreSQL tests");
                let name = format!("lk_test_{tag}");
                let admin = server.clone();
                let create = format!("CREATE DATABASE {name}");
                tokio::task::spawn_blocking(move || pg_admin(&admin, &create))
                    .await
                    .expect("join")
                    .unwrap_or_else(|e| panic!("PostgreSQL at TEST_DATABASE_URL is unusable: {e}"));
                (with_database(&server, &name), Some(name))
            }
        };
        let clock = Arc::new(ManualClock::new(T0));
        let settings = Settings {
            database_url: url.clone(),
            store: StoreOptions {
                readers: 2,
                ..StoreOptions::default()
            },
            clock: clock.clone(),
            lifecycle,
            webhooks,
            ..Settings::default()
        };
        let core = tokio::task::spawn_blocking(move || app::open(&settings))
            .await
            .expect("join")
            .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server_core = core.clone();
        tokio::spawn(async move {
            let _ = app::launch_with(server_core, limits, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        routing_table_loaded(&core).await;
        TestApp {
            addr,
            core,
            clock,
            backend,
            database_url: url,
            client: Mutex::new(HttpClient::new(addr)),
            shutdown: Some(tx),
            dir,
            pg_database,
        }
    }

    /// A second server on this app's database (another instance behind the
    /// load balancer), sharing its clock, with `limits`. Its database is
    /// dropped with this app, not with it.
    pub async fn another_instance(&self, limits: Limits) -> TestApp {
        let settings = Settings {
            database_url: self.database_url.clone(),
            store: StoreOptions {
                readers: 2,
                ..StoreOptions::default()
            },
            clock: self.clock.clone(),
            webhooks: self.core.webhook_settings(),
            ..Settings::default()
        };
        let core = tokio::task::spawn_blocking(move || app::open(&settings))
            .await
            .expect("join")
            .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server_core = core.clone();
        tokio::spawn(async move {
            let _ = app::launch_with(server_core, limits, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        routing_table_loaded(&core).await;
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        TestApp {
            addr,
            core,
            clock: self.clock.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            client: Mutex::new(HttpClient::new(addr)),
            shutdown: Some(tx),
            dir: std::env::temp_dir().join(format!("linekeeper-instance-{}", hex(&tag))),
            pg_database: None,
        }
    }

    /// Any request; headers as given.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.client
            .lock()
            .await
            .request(method, path, headers, body)
            .await
            .expect("request")
    }

    /// A JSON request with an optional `Authorization`; status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(t) = token {
            headers.push(("authorization", t));
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let res = self.raw(method, path, &headers, &bytes).await;
        (res.status, res.json())
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Creates an account (a root administrator when `parent` is `None`) and
    /// an API key for it.
    pub async fn account(
        &self,
        username: &str,
        parent: Option<&str>,
        reseller: bool,
    ) -> (Account, String) {
        let spec = AccountSpec {
            username: username.into(),
            password: "Secret-pass1".into(),
            admin: parent.is_none(),
            parent: parent.map(Into::into),
            is_reseller: reseller,
            ..Default::default()
        };
        let account = self
            .core
            .create_account(spec, "test")
            .await
            .expect("create account");
        let key = self
            .core
            .create_key(username, "test")
            .await
            .expect("create key");
        (account, key.expose().to_owned())
    }

    /// Adds a number, owned by `owner` if given.
    pub async fn number(&self, e164: &str, owner: Option<&str>) -> Number {
        let spec = NumberSpec {
            owner: owner.map(Into::into),
            ..NumberSpec::new(E164::parse(e164).expect("e164"))
        };
        self.core
            .add_number(spec, "test")
            .await
            .expect("add number")
    }

    /// Asserts every invariant of DOMAIN.md holds; returns the history length.
    pub async fn assert_invariants(&self) -> usize {
        let snapshot = self.core.snapshot().await.expect("snapshot");
        let broken = linekeeper::core::invariants::violations(&snapshot);
        assert!(broken.is_empty(), "invariants broken: {broken:#?}");
        snapshot.history.len()
    }

    /// Breaks the store under the running server: drops `table` through a
    /// connection of its own, so the server's next use of it fails.
    pub async fn drop_table(&self, table: &str) {
        let cascade = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " CASCADE",
        };
        self.execute_raw(&format!("DROP TABLE {table}{cascade}"))
            .await;
    }

    /// Runs `sql` (in both dialects) on the database behind the server
    /// through a connection of its own: to make a state no rule would.
    pub async fn execute_raw(&self, sql: &str) {
        let (url, backend, sql) = (self.database_url.clone(), self.backend, sql.to_owned());
        tokio::task::spawn_blocking(move || match backend {
            Backend::Sqlite => {
                let path = url.strip_prefix("sqlite://").expect("a sqlite URL");
                let conn = rusqlite::Connection::open(path).expect("open");
                conn.execute_batch(&sql).expect("execute");
            }
            Backend::Postgres => pg_admin(&url, &sql).expect("execute"),
        })
        .await
        .expect("join");
    }

    /// A client of its own (for requests in parallel).
    pub fn another_client(&self) -> HttpClient {
        HttpClient::new(self.addr)
    }

    pub async fn history_len(&self) -> usize {
        self.core.snapshot().await.expect("snapshot").history.len()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let (Some(name), Some(server)) = (self.pg_database.take(), postgres_url()) {
            // FORCE ends the store's own connections. A blocking client cannot
            // run on the async thread that drops us, so use a thread of its own.
            let drop_db = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = std::thread::spawn(move || pg_admin(&server, &drop_db)).join();
        }
    }
}

/// Runs one statement on the server's maintenance database.
fn pg_admin(url: &str, sql: &str) -> Result<(), postgres::Error> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(sql)
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{root}/{name}{query}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every field of each event, one line an event: what the twin-database
/// tests compare (a run of one kind against the same run done another way).
pub fn event_lines(events: &[linekeeper::store::EventRow]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {} {:?} {:?} {}",
                e.id, e.kind, e.actor_id, e.request_id, e.number_id, e.account_id, e.data
            )
        })
        .collect()
}
