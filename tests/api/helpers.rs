//! `TestApp`: a real server on 127.0.0.1:0 over a fresh database, a typed
//! client for it, and helpers to build worlds.
#![allow(dead_code)] // shared by many test modules; not every one uses every helper

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use linekeeper::app::{self, Settings};
use linekeeper::client::{HttpClient, HttpResponse};
use linekeeper::core::Core;
use linekeeper::core::admin::{AccountSpec, NumberSpec};
use linekeeper::domain::{E164, ManualClock};
use linekeeper::store::{Account, Number, StoreOptions};
use serde_json::Value;
use tokio::sync::{Mutex, oneshot};

/// Start of the manual clock: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The `sqlite://` URL of this app's database, for running the CLI on it.
    pub database_url: String,
    pub core: Core,
    pub clock: Arc<ManualClock>,
    client: Mutex<HttpClient>,
    shutdown: Option<oneshot::Sender<()>>,
    dir: PathBuf,
}

impl TestApp {
    /// A server on a fresh SQLite database in a temporary directory.
    pub async fn spawn() -> TestApp {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        let dir = std::env::temp_dir().join(format!("linekeeper-test-{}", hex(&tag)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("test.db").display());
        let clock = Arc::new(ManualClock::new(T0));
        let settings = Settings {
            database_url: url.clone(),
            store: StoreOptions {
                readers: 2,
                ..StoreOptions::default()
            },
            clock: clock.clone(),
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
            let _ = app::launch(server_core, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestApp {
            addr,
            database_url: url,
            core,
            clock,
            client: Mutex::new(HttpClient::new(addr)),
            shutdown: Some(tx),
            dir,
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
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
