//! The command line as a contract: the real binary, a temporary database, and
//! what it prints, exits with and writes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use linekeeper::client::HttpClient;
use linekeeper::domain::SystemClock;
use linekeeper::server::{self as app, Settings};
use serde_json::{Value, json};

use crate::expect::*;

const BIN: &str = env!("CARGO_BIN_EXE_linekeeper");

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).unwrap();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("linekeeper-cli-{hex}"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn db(&self) -> PathBuf {
        self.0.join("cli.db")
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.db().display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn linekeeper(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("LINEKEEPER_LISTEN")
        .output()
        .expect("run linekeeper")
}

fn stdout_last_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().last().unwrap_or_default().to_owned()
}

/// Asserts success and returns the last line of standard output.
#[track_caller]
fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_last_line(out)
}

/// Asserts a refusal: non-zero exit, a message on standard error naming
/// `hint`, nothing on standard output.
#[track_caller]
fn refused(out: &Output, hint: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "must fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(hint),
        "stderr {stderr:?} should mention {hint:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Row counts of the tables a command could write.
fn counts(db: &Path) -> [i64; 5] {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    ["accounts", "numbers", "grants", "tokens", "history"].map(|t| {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    })
}

fn owner_of(db: &Path, number: &str) -> Option<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT owner_id FROM numbers WHERE number = ?1",
        [number],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn create_account_prints_its_id_and_username() {
    let dir = TempDir::new();
    let url = dir.url();
    let out = linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "root",
            "--password",
            "P-assw0rd!",
            "--admin",
        ],
    );
    assert_eq!(succeeds(&out), r#"{"id": 1, "username": "root"}"#);
    let out = linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "Res.One",
            "--password",
            "P-assw0rd!",
            "--reseller",
            "--parent",
            "ROOT",
        ],
    );
    assert_eq!(succeeds(&out), r#"{"id": 2, "username": "Res.One"}"#);
    let out = linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "plain",
            "--password",
            "P-assw0rd!",
            "--parent",
            "res.one",
        ],
    );
    assert_eq!(succeeds(&out), r#"{"id": 3, "username": "plain"}"#);
    assert_eq!(counts(&dir.db()), [3, 0, 0, 0, 3]);

    // Refusals: a message on stderr, a non-zero exit, and nothing written.
    let cases: [(&[&str], &str); 10] = [
        // The password policy every face applies, in the API's words.
        (
            &["--username", "weak", "--password", "x", "--admin"],
            "The password must be at least 8 characters.",
        ),
        (
            &[
                "--username",
                "weak",
                "--password",
                "alllowercase",
                "--admin",
            ],
            "The password must contain at least one uppercase and one lowercase letter. \
             The password must contain at least one symbol. \
             The password must contain at least one number.",
        ),
        (
            &[
                "--username",
                "weak",
                "--password",
                "Passw0rdNoSym",
                "--admin",
            ],
            "The password must contain at least one symbol.",
        ),
        (
            &["--username", "orphan", "--password", "P-assw0rd!"],
            "--parent",
        ),
        (
            &[
                "--username",
                "orphan",
                "--password",
                "P-assw0rd!",
                "--reseller",
            ],
            "--parent",
        ),
        (
            &[
                "--username",
                "twice",
                "--password",
                "P-assw0rd!",
                "--admin",
                "--parent",
                "root",
            ],
            "parent",
        ),
        (
            &["--username", "ROOT", "--password", "P-assw0rd!", "--admin"],
            "taken",
        ),
        (
            &["--username", "x", "--password", "P-assw0rd!", "--admin"],
            "username",
        ),
        (
            &[
                "--username",
                "child",
                "--password",
                "P-assw0rd!",
                "--parent",
                "nobody",
            ],
            "nobody",
        ),
        (
            &[
                "--username",
                "child",
                "--password",
                "P-assw0rd!",
                "--parent",
                "plain",
            ],
            "reseller",
        ),
    ];
    for (args, hint) in cases {
        let mut all = vec!["admin", "create-account"];
        all.extend_from_slice(args);
        refused(&linekeeper(&url, &all), hint);
        assert_eq!(counts(&dir.db()), [3, 0, 0, 0, 3], "{args:?}");
    }
}

/// A bad argument touches no database at all: not even one that does not
/// exist yet gets created.
#[test]
fn bad_arguments_do_not_create_a_database() {
    let dir = TempDir::new();
    let url = dir.url();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "admin",
                "create-account",
                "--username",
                "orphan",
                "--password",
                "P-assw0rd!",
            ],
            "--parent",
        ),
        (
            &[
                "admin",
                "create-account",
                "--username",
                "root",
                "--password",
                "P-assw0rd!",
                "--admin",
                "--parent",
                "x",
            ],
            "parent",
        ),
        (
            &[
                "admin",
                "create-account",
                "--username",
                "r",
                "--password",
                "P-assw0rd!",
                "--admin",
            ],
            "username",
        ),
        (&["admin", "add-number", "--number", "+12"], "E.164"),
    ];
    for (args, hint) in cases {
        refused(&linekeeper(&url, args), hint);
        assert!(
            !dir.db().exists(),
            "{args:?} created {}",
            dir.db().display()
        );
    }
}

#[test]
fn add_number_prints_id_uid_and_number_and_allots_with_owner() {
    let dir = TempDir::new();
    let url = dir.url();
    succeeds(&linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "root",
            "--password",
            "P-assw0rd!",
            "--admin",
        ],
    ));
    succeeds(&linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "res",
            "--password",
            "P-assw0rd!",
            "--reseller",
            "--parent",
            "root",
        ],
    ));
    let before = counts(&dir.db());

    let line = succeeds(&linekeeper(
        &url,
        &["admin", "add-number", "--number", "+983000505"],
    ));
    let v: Value = serde_json::from_str(&line).expect(&line);
    let uid = v["uid"].as_str().unwrap_or_default().to_owned();
    assert!(
        uid.len() == 24
            && uid
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{uid}"
    );
    assert_eq!(
        line,
        format!(r#"{{"id": 1, "uid": "{uid}", "number": "+983000505"}}"#)
    );
    assert_eq!(owner_of(&dir.db(), "+983000505"), None);

    let line = succeeds(&linekeeper(
        &url,
        &[
            "admin",
            "add-number",
            "--number",
            "+61400000001",
            "--owner",
            "RES",
            "--operator-id",
            "7",
            "--alias",
            "main",
        ],
    ));
    let v: Value = serde_json::from_str(&line).expect(&line);
    let uid2 = v["uid"].as_str().unwrap_or_default().to_owned();
    assert_ne!(uid, uid2);
    assert_eq!(
        line,
        format!(r#"{{"id": 2, "uid": "{uid2}", "number": "+61400000001"}}"#)
    );
    assert_eq!(owner_of(&dir.db(), "+61400000001"), Some(2));
    // One entry for the number, one for its allotment.
    let after = counts(&dir.db());
    assert_eq!(after, [before[0], 2, 0, 0, before[4] + 3]);

    for (args, hint) in [
        (vec!["--number", "983000505"], "E.164"),
        (vec!["--number", "+9830005"], "E.164"),
        (vec!["--number", "+1234567890123456"], "E.164"),
        (vec!["--number", "+98 300 0505"], "E.164"),
        (vec!["--number", ""], "E.164"),
        (
            vec!["--number", "+983000506", "--owner", "nobody"],
            "nobody",
        ),
        (vec!["--number", "+983000505"], "taken"),
        (
            vec!["--number", "+983000507", "--monthly-price=-1"],
            "prices must not be negative",
        ),
        // As a separate word too, as people type it.
        (
            vec!["--number", "+983000507", "--monthly-price", "-5"],
            "prices must not be negative",
        ),
        (
            vec!["--number", "+983000507", "--yearly-price", "-5"],
            "prices must not be negative",
        ),
    ] {
        let mut all = vec!["admin", "add-number"];
        all.extend_from_slice(&args);
        refused(&linekeeper(&url, &all), hint);
        assert_eq!(counts(&dir.db()), after, "{args:?}");
    }
}

#[tokio::test]
async fn create_key_prints_a_key_that_works_over_http() {
    let dir = TempDir::new();
    let url = dir.url();
    succeeds(&linekeeper(
        &url,
        &[
            "admin",
            "create-account",
            "--username",
            "Root",
            "--password",
            "P-assw0rd!",
            "--admin",
        ],
    ));
    let before = counts(&dir.db());
    let out = linekeeper(&url, &["admin", "create-key", "--username", "root"]);
    let key = succeeds(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{key}\n"),
        "the key alone"
    );
    assert!(
        key.len() >= 32 && !key.contains(char::is_whitespace),
        "{key:?}"
    );
    assert_eq!(counts(&dir.db()), [before[0], 0, 0, 1, before[4] + 1]);
    refused(
        &linekeeper(&url, &["admin", "create-key", "--username", "nobody"]),
        "nobody",
    );
    assert_eq!(counts(&dir.db())[3], 1);

    // Serve that database in-process and call it with the key.
    let settings = Settings {
        database_url: url.clone(),
        clock: Arc::new(SystemClock),
        ..Settings::default()
    };
    let core = tokio::task::spawn_blocking(move || app::open(&settings))
        .await
        .unwrap()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::launch(core, listener, async {
        let _ = stopped.await;
    }));
    let mut client = HttpClient::new(addr);
    for header in [key.clone(), format!("Bearer {key}")] {
        let res = client
            .request("POST", CHECK_TOKEN, &[("authorization", &header)], b"")
            .await
            .unwrap();
        assert_eq!(
            (res.status, res.json()),
            (
                200,
                ok(
                    Lang::Fa,
                    json!({"user_name": "Root", "user_id": 1, "document_block": false,
                        "is_reseller": true, "send_block": false, "name": "Root"})
                )
            )
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// A `linekeeper serve` process, killed when dropped (also on a failed
/// assertion), with its standard output read line by line.
struct Server {
    child: Child,
    lines: Receiver<String>,
}

impl Server {
    fn start(url: &str) -> Server {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--demo",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                url,
            ])
            .env_remove("DATABASE_URL")
            .env_remove("LINEKEEPER_LISTEN")
            .env("LINEKEEPER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn linekeeper serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// Everything printed up to and including the "listening" line, and the
    /// address it names.
    fn until_listening(&self) -> (String, SocketAddr) {
        let mut text = String::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no 'listening' line; printed so far:\n{text}"));
            text.push_str(&line);
            text.push('\n');
            if let Some(rest) = line.strip_prefix("linekeeper listening on http://") {
                let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                return (text, addr);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One printed curl command.
#[derive(Debug)]
struct Curl {
    url: String,
    method: Option<String>,
    headers: Vec<(String, String)>,
    data: Option<String>,
}

/// Reads the curl commands out of shell text: words and single-quoted
/// strings (which may span lines), `\` + newline continuing a command.
fn curls(text: &str) -> Vec<Curl> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("curl ") {
        let mut words: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut end = rest.len();
        let mut chars = rest[start..].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => quoted = !quoted,
                '\\' if !quoted && chars.peek().map(|p| p.1) == Some('\n') => {
                    chars.next();
                }
                '\n' if !quoted => {
                    end = start + i;
                    break;
                }
                ' ' if !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        rest = &rest[end..];
        let mut curl = Curl {
            url: String::new(),
            method: None,
            headers: Vec::new(),
            data: None,
        };
        let mut it = words.into_iter().skip(1);
        while let Some(w) = it.next() {
            match w.as_str() {
                // A flag (follow redirects); the URL is the bare word.
                "--location" => {}
                "--header" => {
                    let h = it.next().unwrap();
                    let (k, v) = h.split_once(':').unwrap();
                    curl.headers
                        .push((k.trim().to_owned(), v.trim().to_owned()));
                }
                "--data" => curl.data = Some(it.next().unwrap()),
                "--request" => curl.method = Some(it.next().unwrap()),
                url if !url.starts_with('-') && curl.url.is_empty() => curl.url = url.to_owned(),
                other => panic!("unexpected word {other:?} in a curl command"),
            }
        }
        out.push(curl);
    }
    out
}

async fn replay(addr: SocketAddr, curl: &Curl) -> (u16, Value) {
    let path = curl
        .url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("{} is not on {addr}", curl.url));
    let headers: Vec<(&str, &str)> = curl
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (default, body) = match &curl.data {
        Some(d) => ("POST", d.as_bytes()),
        None => ("GET", &b""[..]),
    };
    let method = curl.method.as_deref().unwrap_or(default);
    let res = HttpClient::new(addr)
        .request(method, path, &headers, body)
        .await
        .unwrap();
    (res.status, res.json())
}

#[tokio::test]
async fn serve_demo_prints_commands_that_work_and_seeds_only_an_empty_database() {
    let dir = TempDir::new();
    let url = dir.url();
    let server = Server::start(&url);
    let (text, addr) = server.until_listening();
    assert!(text.contains("Demo world created"), "{text}");

    // The accounts table: username, password, key.
    let accounts: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("Demo world created"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = accounts.iter().map(|a| a[0]).collect();
    assert_eq!(
        names,
        ["admin", "reseller", "subreseller", "testuser"],
        "{text}"
    );
    let reseller_key = accounts[1][2];

    let all = curls(&text);
    assert_eq!(all.len(), 6, "{text}\n{all:?}");
    let (commands, vn) = all.split_at(3);
    let paths: Vec<&str> = commands
        .iter()
        .map(|c| c.url.rsplit_once(&addr.to_string()).unwrap().1)
        .collect();
    assert_eq!(
        paths,
        [ASSIGN, UNASSIGN, "/api/number/numbers?page=1&per_page=10"]
    );
    // The virtual-number face: the pool lists, the subscription succeeds, and
    // the seed's unsubscribe answers exactly as the seed page shows.
    assert_eq!(replay(addr, &vn[0]).await.0, 200);
    assert_eq!(replay(addr, &vn[1]).await.0, 200);
    let seed_unsubscribed = json!({"app_type": "web", "app_version": "1.0", "maintainence": 0,
        "new_version": 0, "force_update": 0, "invalid_token": 0, "refresh_token": "",
        "show_message": 1, "is_enc": false, "status": true,
        "message": "Virtual number has been unsubscribed successfully.", "message_type": "toast",
        "data": {}, "error": {}});
    assert_eq!(replay(addr, &vn[2]).await, (200, seed_unsubscribed));
    for c in commands {
        assert!(
            c.headers
                .contains(&("Authorization".into(), reseller_key.into())),
            "{c:?}"
        );
    }
    // The unassign is the seed page's request, as the page lays it out.
    assert_eq!(
        commands[1].data.as_deref(),
        Some(
            "{\n    \"number_id\": 10,\n    \"target_user_id\": 123,\n    \"number\": \"+983000505\",\n    \"target_user\": \"testuser\"\n}"
        )
    );

    assert_eq!(
        replay(addr, &commands[0]).await,
        (200, ok(Lang::Fa, Value::Null))
    );
    let seed_200: Value = serde_json::from_str(
        r#"{"data": null, "meta": {"status": true, "message": "انجام شد", "message_parameters": [], "message_code": "200-1"}}"#,
    )
    .unwrap();
    let (status, answer) = replay(addr, &commands[1]).await;
    assert_answer((status, &answer), (200, &seed_200), "the seed's unassign");
    let (status, answer) = replay(addr, &commands[1]).await;
    assert_answer((status, &answer), (400, &refusal(NOT_ASSIGNED)), "again");
    let (status, answer) = replay(addr, &commands[2]).await;
    let item = |id: i64, number: &str| {
        json!({"id": id, "number": number, "operator_id": null, "alias": null,
            "gets": 1, "send": 1, "is_66_char": 0, "owned": true})
    };
    let mut want = ok(
        Lang::Fa,
        json!([item(10, "+983000505"), item(11, "+983000506")]),
    );
    let meta = want["meta"].as_object_mut().unwrap();
    for (k, v) in [
        ("current_page", 1),
        ("per_page", 10),
        ("total", 2),
        ("last_page", 1),
        ("from", 1),
        ("to", 2),
    ] {
        meta.insert(k.into(), json!(v));
    }
    assert_answer((status, &answer), (200, &want), "the reseller's numbers");

    // The printed passwords log in.
    let mut client = HttpClient::new(addr);
    let body = json!({"username": "testuser", "password": accounts[3][1]}).to_string();
    let res = client
        .request(
            "POST",
            LOGIN,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    drop(server);
    let seeded = counts(&dir.db());

    // A second start on the same database does not seed it again.
    let server = Server::start(&url);
    let (text, addr) = server.until_listening();
    assert!(
        !text.contains("Demo world created") && !text.contains("curl "),
        "{text}"
    );
    assert_eq!(
        text.lines().next(),
        Some(
            format!("The database {url} is not empty: serving it without seeding the demo world.")
                .as_str()
        ),
        "{text}"
    );
    let res = HttpClient::new(addr)
        .request("POST", CHECK_TOKEN, &[("authorization", reseller_key)], b"")
        .await
        .unwrap();
    assert_eq!(
        (res.status, &res.json()["data"]["user_id"]),
        (200, &json!(2))
    );
    // The restarted demo's admin hint runs as printed (from the repository
    // root, `cargo run --` is this binary) and mints a key that works.
    let hint = text
        .lines()
        .find(|l| l.contains(" admin create-key "))
        .unwrap_or_else(|| panic!("no create-key hint in {text}"));
    let args: Vec<&str> = hint
        .split_once(" admin ")
        .map(|(run, rest)| {
            assert!(
                ["cargo run --", "linekeeper"].contains(&run.trim()),
                "{hint}"
            );
            rest.split_whitespace().collect()
        })
        .unwrap();
    assert!(args.contains(&"--database-url"), "{hint}");
    let out = Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .arg("admin")
        .args(&args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let fresh = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = HttpClient::new(addr)
        .request("POST", CHECK_TOKEN, &[("authorization", &fresh)], b"")
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    assert!(text.contains("serve --demo --database-url"), "{text}");
    drop(server);
    // Nothing but the fresh key (and its history entry) was added.
    let [a, n, g, t, h] = seeded;
    assert_eq!(counts(&dir.db()), [a, n, g, t + 1, h + 1]);
}
