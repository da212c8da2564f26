//! The operator's commands (issue 18), run as the real binary on a live
//! server's database, on both backends: their output (one JSON object per
//! line, or a table) and their refusals (a message, a non-zero exit, no change).

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// Runs `linekeeper admin <args> --database-url <app's>`, with `stdin` as
/// standard input.
fn admin_in(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .arg("admin")
        .args(args)
        .args(["--database-url", &app.database_url])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run linekeeper");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn admin(app: &TestApp, args: &[&str]) -> Output {
    admin_in(app, args, "")
}

/// The JSON objects of standard output, one a line; the command succeeded.
fn objects(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The command failed with `hint` on standard error and nothing on standard output.
fn refused(out: &Output, hint: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded: {err}");
    assert!(err.contains(hint), "{hint:?} not in {err:?}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Runs one statement on the app's database through a connection of its own.
async fn raw_sql(app: &TestApp, sql: &str) {
    let (url, backend, sql) = (app.database_url.clone(), app.backend, sql.to_owned());
    tokio::task::spawn_blocking(move || match backend {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").expect("a sqlite URL");
            let conn = rusqlite::Connection::open(path).expect("open");
            conn.execute_batch(&sql).expect("sql");
        }
        Backend::Postgres => {
            let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
            c.batch_execute(&sql).expect("sql");
        }
    })
    .await
    .expect("join");
}

/// admin > reseller > testuser; +61400000001 owned by the reseller and
/// granted to testuser; +61400000002 in the pool; +14155550100 owned by admin.
async fn world(app: &TestApp) -> (i64, String) {
    app.account("admin", None, false).await;
    let (_, reseller_key) = app.account("reseller", Some("admin"), true).await;
    let (user, _) = app.account("testuser", Some("reseller"), false).await;
    let owned = app.number("+61400000001", Some("reseller")).await;
    app.number("+61400000002", None).await;
    app.number("+14155550100", Some("admin")).await;
    let body =
        json!({"number_id": owned.id, "target_user_id": user.id, "send": true, "gets": false});
    let (status, answer) = app.post("/api/numbers/assign", &reseller_key, &body).await;
    assert_eq!(status, 200, "{answer}");
    (user.id, reseller_key)
}

fn usernames(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect()
}

crate::scenarios! {
async fn accounts_lists_filters_and_pages(app: TestApp) {
    world(&app).await;
    let all = objects(&admin(&app, &["accounts"]));
    assert_eq!(usernames(&all), ["admin", "reseller", "testuser"]);
    assert_eq!(all[0]["admin"], json!(true));
    assert_eq!(all[1]["reseller"], json!(true));
    assert_eq!(usernames(&objects(&admin(&app, &["accounts", "--reseller"]))), ["reseller"]);
    assert_eq!(usernames(&objects(&admin(&app, &["accounts", "--parent", "Reseller"]))), ["testuser"]);
    assert_eq!(usernames(&objects(&admin(&app, &["accounts", "--q", "SELL"]))), ["reseller"]);
    let first = admin(&app, &["accounts", "--limit", "2"]);
    assert_eq!(usernames(&objects(&first)), ["admin", "reseller"]);
    let hint = String::from_utf8_lossy(&first.stderr).to_string();
    let after = hint.trim().strip_prefix("next page: --after ").expect(&hint).to_owned();
    assert_eq!(usernames(&objects(&admin(&app, &["accounts", "--after", &after]))), ["testuser"]);

    let table = admin(&app, &["accounts", "--format", "table"]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("id  username"), "{text}");
    assert!(lines[3].contains("testuser"), "{text}");

    refused(&admin(&app, &["accounts", "--parent", "nobody"]), "no account named \"nobody\"");
    refused(&admin(&app, &["accounts", "--limit", "0"]), "--limit");
}

async fn account_shows_ancestors_and_holdings(app: TestApp) {
    world(&app).await;
    let rows = objects(&admin(&app, &["account", "TESTUSER"]));
    assert_eq!(rows.len(), 1);
    let a = &rows[0];
    assert_eq!(a["username"], "testuser");
    assert_eq!(
        a["ancestors"].as_array().unwrap().iter().map(|x| x["username"].as_str().unwrap()).collect::<Vec<_>>(),
        ["admin", "reseller"]
    );
    assert_eq!((a["holdings"].clone(), a["keys"].clone()), (json!(1), json!(1)));
    let r = &objects(&admin(&app, &["account", "reseller"]))[0];
    assert_eq!(r["holdings"], json!(1));
    let table = admin(&app, &["account", "testuser", "--format", "table"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().any(|l| l.starts_with("ancestors") && l.ends_with("admin > reseller")), "{text}");
    refused(&admin(&app, &["account", "nobody"]), "no account named \"nobody\"");
}

async fn suspend_and_resume_switch_an_account(app: TestApp) {
    world(&app).await;
    let before = app.history_len().await;
    let rows = objects(&admin(&app, &["suspend", "testuser"]));
    assert_eq!(rows[0]["suspended"], json!(true));
    assert_eq!(objects(&admin(&app, &["account", "testuser"]))[0]["suspended"], json!(true));
    let rows = objects(&admin(&app, &["resume", "testuser"]));
    assert_eq!(rows[0]["suspended"], json!(false));
    assert_eq!(app.history_len().await, before + 2);
    refused(&admin(&app, &["suspend", "nobody"]), "no account named \"nobody\"");
    refused(&admin(&app, &["resume", "nobody"]), "no account named \"nobody\"");
    assert_eq!(app.history_len().await, before + 2);
}

async fn set_password_applies_the_policy_and_logs_in(app: TestApp) {
    world(&app).await;
    let before = app.history_len().await;
    refused(&admin(&app, &["set-password", "testuser", "--password", "short"]), "password");
    refused(&admin(&app, &["set-password", "nobody", "--password", "New-secret-9!"]), "no account named \"nobody\"");
    refused(&admin_in(&app, &["set-password", "testuser"], ""), "no password");
    assert_eq!(app.history_len().await, before);
    let session = app.core.login("testuser", "Secret-pass1", "t").await.expect("login");

    let rows = objects(&admin(&app, &["set-password", "testuser", "--password", "New-secret-9!"]));
    assert_eq!(rows[0]["username"], "testuser");
    assert_eq!(rows[0]["sessions_revoked"], json!(1));
    assert!(app.core.login("testuser", "Secret-pass1", "t").await.is_err());
    app.core.login("testuser", "New-secret-9!", "t").await.expect("the new password");
    let _ = session;
    // Not a terminal: the first line of standard input.
    let rows = objects(&admin_in(&app, &["set-password", "testuser"], "Piped-secret-9!\n"));
    assert_eq!(rows[0]["sessions_revoked"], json!(1));
    app.core.login("testuser", "Piped-secret-9!", "t").await.expect("the piped password");
    assert_eq!(app.history_len().await, before + 2 + 3);
}

async fn keys_lists_and_revoke_key_revokes(app: TestApp) {
    world(&app).await;
    let keys = objects(&admin(&app, &["keys", "testuser"]));
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["revoked_at"], Value::Null);
    let id = keys[0]["id"].as_i64().unwrap().to_string();
    let rows = objects(&admin(&app, &["revoke-key", &id]));
    assert_eq!(rows[0]["username"], "testuser");
    assert!(rows[0]["revoked_at"].is_string());
    assert!(objects(&admin(&app, &["keys", "testuser"]))[0]["revoked_at"].is_string());
    let before = app.history_len().await;
    refused(&admin(&app, &["revoke-key", &id]), &format!("no live API key with id {id}"));
    refused(&admin(&app, &["revoke-key", "999999"]), "no live API key with id 999999");
    refused(&admin(&app, &["keys", "nobody"]), "no account named \"nobody\"");
    assert_eq!(app.history_len().await, before);
}

async fn numbers_lists_by_state_country_and_holder(app: TestApp) {
    world(&app).await;
    let numbers = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["numbers"];
        all.extend_from_slice(args);
        objects(&admin(&app, &all)).iter().map(|n| n["number"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(numbers(&[]), ["+61400000001", "+61400000002", "+14155550100"]);
    assert_eq!(numbers(&["--state", "available"]), ["+61400000002"]);
    assert_eq!(numbers(&["--state", "subscribed", "--country", "au"]), ["+61400000001"]);
    assert_eq!(numbers(&["--holder", "testuser"]), ["+61400000001"]);
    assert_eq!(numbers(&["--holder", "admin"]), ["+14155550100"]);
    assert_eq!(numbers(&["--limit", "1", "--after", "1"]).len(), 1);
    refused(&admin(&app, &["numbers", "--holder", "nobody"]), "no account named \"nobody\"");
    refused(&admin(&app, &["numbers", "--country", "AUS"]), "--country");
    let bad_state = admin(&app, &["numbers", "--state", "lost"]);
    assert!(!bad_state.status.success());
}

async fn number_shows_state_owner_and_grant_tree(app: TestApp) {
    world(&app).await;
    let n = &objects(&admin(&app, &["number", "+61400000001"]))[0];
    assert_eq!(n["state"], "subscribed");
    assert_eq!(n["owner"]["username"], "reseller");
    let grants = n["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1, "{n}");
    assert_eq!(grants[0]["account"]["username"], "testuser");
    assert_eq!(grants[0]["granted_by"]["username"], "reseller");
    assert_eq!((grants[0]["send"].clone(), grants[0]["gets"].clone()), (json!(true), json!(false)));
    let pool = &objects(&admin(&app, &["number", "+61400000002"]))[0];
    assert_eq!((pool["state"].as_str(), &pool["owner"]), (Some("available"), &Value::Null));
    refused(&admin(&app, &["number", "+61499999999"]), "no number +61499999999");
    refused(&admin(&app, &["number", "12345"]), "invalid number");
}

async fn history_shows_the_custody_newest_first(app: TestApp) {
    world(&app).await;
    let rows = objects(&admin(&app, &["history", "+61400000001"]));
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["grant.assign", "number.subscribe", "number.add"]);
    assert_eq!(rows[0]["target"]["username"], "testuser");
    assert_eq!(rows[0]["granted_by"]["username"], "reseller");
    let older = rows[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(objects(&admin(&app, &["history", "+61400000001", "--before", &older, "--limit", "1"]))[0]["action"], "number.subscribe");
    refused(&admin(&app, &["history", "+61499999999"]), "no number +61499999999");
}

async fn export_numbers_writes_the_import_columns(app: TestApp) {
    world(&app).await;
    raw_sql(&app, "UPDATE numbers SET alias = 'Sydney, \"front\"', operator_id = 7 WHERE number = '+61400000002'").await;
    let out = admin(&app, &["export-numbers"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "number,operator_id,alias,monthly_price,yearly_price",
            "+61400000001,,,0,0",
            "+61400000002,7,\"Sydney, \"\"front\"\"\",0,0",
            "+14155550100,,,0,0",
        ]
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 3 numbers"));
    // What it writes, the import reads: into a fresh database.
    let dir = std::env::temp_dir().join(format!("linekeeper-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{:?}.csv", app.backend));
    std::fs::write(&file, text.as_bytes()).unwrap();
    let fresh = format!("sqlite://{}", dir.join(format!("{:?}.db", app.backend)).display());
    let import = Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .args(["admin", "import-numbers", file.to_str().unwrap(), "--database-url", &fresh])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(String::from_utf8_lossy(&import.stdout).trim(), r#"{"imported": 3}"#);
}

async fn check_passes_and_reports_violations(app: TestApp) {
    world(&app).await;
    let rows = objects(&admin(&app, &["check"]));
    assert_eq!(rows, [json!({"violations": 0, "accounts": 3, "numbers": 3, "grants": 1})]);
    // Break invariant 1: a grant on a pool number.
    raw_sql(&app, "INSERT INTO grants (number_id, account_id, granted_by, send, gets, created_at) \
        SELECT n.id, u.id, r.id, TRUE, TRUE, 0 FROM numbers n, accounts u, accounts r \
        WHERE n.number = '+61400000002' AND u.username = 'testuser' AND r.username = 'reseller'").await;
    let out = admin(&app, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invariant violation"), "{err}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["violation"].as_str().is_some_and(|v| v.contains("is in the pool but granted"))), "{lines:?}");
    assert!(lines.last().unwrap()["violations"].as_u64().unwrap() >= 1);
}
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_linekeeper"))
            .args(args)
            .output()
            .expect("run linekeeper")
    };
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef linekeeper"),
        ("fish", "complete -c linekeeper"),
    ] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(marker) && text.contains("export-numbers"),
            "{shell}: {text}"
        );
    }
    assert!(!run(&["completions", "tcsh"]).status.success());
    let man = run(&["man"]);
    assert!(man.status.success());
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(
        text.starts_with(".ie") || text.contains(".TH linekeeper"),
        "{text}"
    );
    assert!(text.contains("admin"), "{text}");
}
