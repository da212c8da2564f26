//! One configuration: the defaults, then a TOML file (`--config` or
//! `LINEKEEPER_CONFIG`), then the environment, then flags; `linekeeper
//! config` prints what is in effect, with the database password redacted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_linekeeper");

/// Every variable the configuration reads, so the caller's environment
/// cannot leak into a test.
const VARIABLES: &[&str] = &[
    "LINEKEEPER_CONFIG",
    "DATABASE_URL",
    "LINEKEEPER_LISTEN",
    "LINEKEEPER_POOL_SIZE",
    "LINEKEEPER_STATEMENT_TIMEOUT_MS",
    "LINEKEEPER_MAX_RETRIES",
    "LINEKEEPER_AUTH_CACHE_TTL_MS",
    "LINEKEEPER_RATE_LIMIT_INSTANCES",
    "LINEKEEPER_LOG",
    "LINEKEEPER_LOG_FORMAT",
    "LINEKEEPER_REQUEST_TIMEOUT_MS",
    "LINEKEEPER_RATE_LIMIT_PER_SEC",
    "LINEKEEPER_RATE_LIMIT_BURST",
    "LINEKEEPER_LOGIN_WINDOW_SECS",
    "LINEKEEPER_LOGIN_MAX_FAILURES_PER_USER",
    "LINEKEEPER_LOGIN_MAX_FAILURES_PER_ADDR",
    "LINEKEEPER_LOGIN_DELAY_STEP_MS",
    "LINEKEEPER_WEBHOOK_DISPATCH",
    "LINEKEEPER_WEBHOOK_ALLOW_PRIVATE",
    "LINEKEEPER_WEBHOOK_TIMEOUT_MS",
    "LINEKEEPER_WEBHOOK_CONCURRENCY",
    "LINEKEEPER_EVENTS_NATS",
    "LINEKEEPER_EVENTS_NATS_PREFIX",
    "LINEKEEPER_EVENTS_NATS_STREAM",
];

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("linekeeper-config-{hex}"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for v in VARIABLES {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("run linekeeper")
}

#[track_caller]
fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

#[track_caller]
fn json_config(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = vec!["config", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&stdout(&run(&all, env))).expect("JSON")
}

#[test]
fn the_file_is_overridden_by_the_environment_and_the_environment_by_flags() {
    let dir = TempDir::new();
    let file = dir.file(
        "linekeeper.toml",
        "pool_size = 7\nmax_retries = 3\nrate_limit_burst = 50\nlisten = \"127.0.0.1:9000\"\nlog_format = \"json\"\n",
    );
    let env = [
        ("LINEKEEPER_POOL_SIZE", "8"),
        ("LINEKEEPER_MAX_RETRIES", "4"),
    ];
    let c = json_config(&["--config", &file, "--pool-size", "9"], &env);
    let got = [
        &c["pool_size"],
        &c["max_retries"],
        &c["rate_limit_burst"],
        &c["listen"],
        &c["log_format"],
        &c["request_timeout_ms"],
    ];
    // flag > environment > file > default
    let want = [
        json!(9),
        json!(4),
        json!(50),
        json!("127.0.0.1:9000"),
        json!("json"),
        json!(10000),
    ];
    assert_eq!(got.to_vec(), want.iter().collect::<Vec<_>>());

    // LINEKEEPER_CONFIG names the file just as --config does.
    let c = json_config(&[], &[("LINEKEEPER_CONFIG", &file)]);
    assert_eq!((&c["pool_size"], &c["max_retries"]), (&json!(7), &json!(3)));

    // No file, no environment: the defaults.
    let c = json_config(&[], &[]);
    assert_eq!(c["database_url"], "sqlite://linekeeper.db");
    assert_eq!(c["listen"], "127.0.0.1:8080");
    assert_eq!(c["pool_size"], 4);
    assert_eq!(c["log"], "info");
    assert_eq!(c["log_format"], "text");
}

#[test]
fn the_webhook_settings_default_safely_and_layer_like_the_others() {
    let c = json_config(&[], &[]);
    let got = [
        &c["webhook_dispatch"],
        &c["webhook_allow_private"],
        &c["webhook_timeout_ms"],
        &c["webhook_concurrency"],
    ];
    assert_eq!(
        got,
        [&json!(true), &json!(false), &json!(10000), &json!(16)]
    );
    let dir = TempDir::new();
    let file = dir.file(
        "lk.toml",
        "webhook_timeout_ms = 3000\nwebhook_concurrency = 4\n",
    );
    let c = json_config(
        &["--config", &file, "--webhook-allow-private", "true"],
        &[
            ("LINEKEEPER_WEBHOOK_TIMEOUT_MS", "500"),
            ("LINEKEEPER_WEBHOOK_DISPATCH", "false"),
        ],
    );
    let got = [
        &c["webhook_dispatch"],
        &c["webhook_allow_private"],
        &c["webhook_timeout_ms"],
        &c["webhook_concurrency"],
    ];
    assert_eq!(got, [&json!(false), &json!(true), &json!(500), &json!(4)]);
}

#[test]
fn the_nats_publisher_is_off_unless_a_server_is_named() {
    let c = json_config(&[], &[]);
    assert_eq!(
        [
            &c["events_nats"],
            &c["events_nats_prefix"],
            &c["events_nats_stream"]
        ],
        [
            &json!(""),
            &json!("linekeeper.events"),
            &json!("LINEKEEPER_EVENTS")
        ]
    );
    let c = json_config(
        &[
            "--events-nats",
            "nats://127.0.0.1:4222",
            "--events-nats-prefix",
            "lk.ev",
        ],
        &[("LINEKEEPER_EVENTS_NATS_STREAM", "LK")],
    );
    assert_eq!(
        [
            &c["events_nats"],
            &c["events_nats_prefix"],
            &c["events_nats_stream"]
        ],
        [
            &json!("nats://127.0.0.1:4222"),
            &json!("lk.ev"),
            &json!("LK")
        ]
    );
}

#[test]
fn the_printed_toml_is_a_configuration_file_that_reads_back_the_same() {
    let dir = TempDir::new();
    let first = stdout(&run(
        &["config", "--rate-limit-per-sec", "0", "--log", "warn"],
        &[("LINEKEEPER_LOGIN_WINDOW_SECS", "60")],
    ));
    assert!(first.contains("rate_limit_per_sec = 0\n"), "{first}");
    assert!(first.contains("login_window_secs = 60\n"), "{first}");
    assert!(first.contains("log = \"warn\"\n"), "{first}");
    let file = dir.file("again.toml", &first);
    let again = stdout(&run(&["config", "--config", &file], &[]));
    assert_eq!(again, first);
}

#[test]
fn the_database_password_is_redacted() {
    let url = "postgres://app:hunter2@127.0.0.1:5432/lk?password=swordfish&connect_timeout=3";
    let redacted = "postgres://app:***@127.0.0.1:5432/lk?password=***&connect_timeout=3";
    let from_env = [("DATABASE_URL", url)];
    let c = json_config(&[], &from_env);
    assert_eq!(c["database_url"], redacted);
    let toml = stdout(&run(&["config", "--database-url", url], &[]));
    assert!(
        toml.contains(&format!("database_url = \"{redacted}\"")),
        "{toml}"
    );
    for text in [c.to_string(), toml] {
        assert!(!text.contains("hunter2") && !text.contains("swordfish"));
    }
}

#[test]
fn a_bad_file_or_value_is_refused_with_its_reason() {
    let dir = TempDir::new();
    let typo = dir.file("typo.toml", "pool_sise = 3\n");
    let wrong_type = dir.file("type.toml", "pool_size = \"many\"\n");
    let missing = dir.0.join("missing.toml").display().to_string();
    for (args, env, hint) in [
        (vec!["config", "--config", &typo], vec![], "pool_sise"),
        (vec!["config", "--config", &wrong_type], vec![], "pool_size"),
        (vec!["config", "--config", &missing], vec![], "missing.toml"),
        (
            vec!["config"],
            vec![("LINEKEEPER_POOL_SIZE", "many")],
            "pool-size",
        ),
        (
            vec!["serve", "--config", &typo, "--listen", "127.0.0.1:0"],
            vec![],
            "pool_sise",
        ),
        (
            vec!["admin", "--config", &typo, "create-key", "--username", "x"],
            vec![],
            "pool_sise",
        ),
    ] {
        let out = run(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
    }
}

#[test]
fn serve_and_admin_use_the_files_database_unless_told_otherwise() {
    let dir = TempDir::new();
    let db = dir.0.join("from-file.db");
    let file = dir.file(
        "linekeeper.toml",
        &format!(
            "database_url = \"sqlite://{}\"\nlisten = \"127.0.0.1:0\"\nlog = \"warn\"\n",
            db.display()
        ),
    );
    // admin: the file's database.
    let out = run(
        &[
            "admin",
            "create-account",
            "--config",
            &file,
            "--username",
            "root",
            "--password",
            "P-assw0rd!",
            "--admin",
        ],
        &[],
    );
    assert!(stdout(&out).contains("\"username\": \"root\""));
    assert!(db.exists());
    // The flag wins over the file.
    let other = dir.0.join("flag.db");
    let out = run(
        &[
            "admin",
            "--config",
            &file,
            "--database-url",
            &format!("sqlite://{}", other.display()),
            "create-key",
            "--username",
            "root",
        ],
        &[],
    );
    assert!(!out.status.success(), "root is not in {}", other.display());
    assert!(String::from_utf8_lossy(&out.stderr).contains("root"));

    // serve: the file's address and database.
    let mut child = command(&["serve", "--config", &file], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a listening line");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("linekeeper listening on http://127.0.0.1:")
            && !line.contains(":8080")
            && line.ends_with(&format!("(database sqlite://{})", db.display())),
        "{line}"
    );
}
