//! The real binary's `admin set-postpaid` and `admin import-numbers`, run on
//! a live server's database.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::json;

use crate::helpers::TestApp;
use crate::vn_common::{failure, pool_number, vn};

/// Runs `linekeeper admin <args> --database-url <app's>`.
fn admin(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .arg("admin")
        .args(args)
        .args(["--database-url", &app.database_url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run linekeeper")
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A file in a directory of its own, removed afterwards.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).expect("random");
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("linekeeper-cli-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write file");
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

crate::scenarios! {
async fn set_postpaid_prints_the_account_and_takes_effect(app: TestApp) {
    app.account("admin", None, false).await;
    let (user, key) = app.account("testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    let buy = json!({"number": number.uid});
    let disabled = failure(403, "Postpaid billing is not enabled for this account");
    assert_eq!(
        vn(&app, "POST", "/purchase-postpaid", Some(&key), Some(&buy)).await,
        (403, disabled.clone())
    );

    let before = app.history_len().await;
    let out = admin(
        &app,
        &[
            "set-postpaid",
            "--username",
            "TestUser",
            "--enabled",
            "true",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_lines(&out).last().map(String::as_str),
        Some(
            format!(
                r#"{{"id": {}, "username": "testuser", "postpaid": true}}"#,
                user.id
            )
            .as_str()
        )
    );
    assert_eq!(app.history_len().await, before + 1);
    let (status, _) = vn(&app, "POST", "/purchase-postpaid", Some(&key), Some(&buy)).await;
    assert_eq!(status, 200);

    let out = admin(
        &app,
        &[
            "set-postpaid",
            "--username",
            "testuser",
            "--enabled",
            "false",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        stdout_lines(&out).last().map(String::as_str),
        Some(
            format!(
                r#"{{"id": {}, "username": "testuser", "postpaid": false}}"#,
                user.id
            )
            .as_str()
        )
    );
    let other = pool_number(&app, "+61400000002", 0, 0).await;
    assert_eq!(
        vn(
            &app,
            "POST",
            "/purchase-postpaid",
            Some(&key),
            Some(&json!({"number": other.uid}))
        )
        .await,
        (403, disabled)
    );

    // Refused arguments change nothing.
    let before = app.history_len().await;
    for args in [
        &["set-postpaid", "--username", "testuser", "--enabled", "yes"][..],
        &[
            "set-postpaid",
            "--username",
            "testuser",
            "--enabled",
            "TRUE",
        ],
        &["set-postpaid", "--username", "testuser"],
        &["set-postpaid", "--username", "ghost", "--enabled", "true"],
    ] {
        let out = admin(&app, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let out = admin(
        &app,
        &["set-postpaid", "--username", "ghost", "--enabled", "true"],
    );
    assert_eq!(
        stderr_lines(&out),
        [r#"linekeeper: no account named "ghost""#]
    );
    assert_eq!(app.history_len().await, before);
}

async fn a_file_with_any_bad_line_imports_nothing_and_names_every_bad_line(app: TestApp) {
    let (_, key) = app.account("admin", None, false).await;
    pool_number(&app, "+61400000005", 0, 0).await;
    let snapshot = app.core.snapshot().await.expect("snapshot");
    let (numbers_before, history_before) = (snapshot.numbers.len(), snapshot.history.len());

    let csv = "number,operator_id,alias,monthly_price,yearly_price\n\
        +61400000001,7,\"Main, \"\"front\"\" desk\",1500,15000\n\
        +61400000002,,,,\n\
        0400000003,,,,\n\
        +61400000004,abc,,-5,12.5\n\
        +61400000005,,,,\n\
        +61400000002,,,,\n\
        +61400000006,,\n\
        +61400000007,,x\"y,,\n\
        \n\
        +61400000008,1,,100,1000\n";
    let file = TempFile::new("numbers.csv", csv.as_bytes());
    let out = admin(&app, &["import-numbers", file.path()]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr_lines(&out),
        [
            r#"line 4: number "0400000003" is not E.164 (+ and 8 to 15 digits)"#,
            r#"line 5: operator_id "abc" is not an integer"#,
            r#"line 5: monthly_price "-5" must not be negative"#,
            r#"line 5: yearly_price "12.5" is not a whole number of minor units"#,
            "line 6: number +61400000005 is already in the database",
            "line 7: number +61400000002 already appears on line 3",
            "line 8: expected 5 fields, found 3",
            "line 9: a quote inside an unquoted field",
            "linekeeper: import aborted: 6 bad lines; nothing was imported",
        ]
    );
    let snapshot = app.core.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.numbers.len(), numbers_before);
    assert_eq!(snapshot.history.len(), history_before);
    let (_, pool) = vn(&app, "GET", "/available", Some(&key), None).await;
    assert_eq!(pool["data"]["total"], 1);

    // A conflict with the database alone also aborts everything.
    let file = TempFile::new(
        "numbers.csv",
        b"number\n+61400000010\n+61400000005\n+61400000011\n",
    );
    let out = admin(&app, &["import-numbers", file.path()]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(
        lines
            .iter()
            .filter(|l| !l.starts_with("importing"))
            .collect::<Vec<_>>(),
        [
            "line 3: number +61400000005 is already in the database",
            "linekeeper: import aborted: 1 bad line; nothing was imported",
        ]
    );
    assert_eq!(app.history_len().await, history_before);
    assert_eq!(
        app.core.snapshot().await.expect("snapshot").numbers.len(),
        numbers_before
    );

    for (contents, message) in [
        (&b""[..], "line 1: the file is empty: expected a header row"),
        (
            b"alias,monthly_price\nx,1\n",
            "line 1: the header has no \"number\" column",
        ),
    ] {
        let file = TempFile::new("numbers.csv", contents);
        let out = admin(&app, &["import-numbers", file.path()]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stderr_lines(&out)[0], message);
    }
    let out = admin(&app, &["import-numbers", "/nonexistent/numbers.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(app.history_len().await, history_before);
}

async fn a_good_file_imports_every_number_with_its_history(app: TestApp) {
    let (_, key) = app.account("admin", None, false).await;
    let mut csv = String::from("\u{feff}yearly_price,number,alias\r\n");
    for i in 0..25 {
        csv.push_str(&format!(
            "{},+614000000{i:02},\"Line {i}, \"\"shop\"\"\"\r\n",
            1000 + i
        ));
    }
    let file = TempFile::new("numbers.csv", csv.as_bytes());
    let before = app.history_len().await;
    let out = admin(&app, &["import-numbers", file.path()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_lines(&out).last().map(String::as_str),
        Some(r#"{"imported": 25}"#)
    );
    // Not a terminal: plain progress lines, ending at 100%.
    let progress = stderr_lines(&out);
    assert_eq!(
        progress.last().map(String::as_str),
        Some("importing: 100% (25/25)")
    );
    assert!(
        progress.iter().all(|l| l.starts_with("importing: ")),
        "{progress:?}"
    );
    // One history entry per number.
    assert_eq!(app.history_len().await, before + 25);
    app.assert_invariants().await;

    let (status, pool) = vn(&app, "GET", "/available?limit=100", Some(&key), None).await;
    assert_eq!(status, 200);
    assert_eq!(pool["data"]["total"], 25);
    let seventh = &pool["data"]["items"][7];
    assert_eq!(
        (
            &seventh["number"],
            &seventh["country"],
            &seventh["monthlyPrice"],
            &seventh["yearlyPrice"]
        ),
        (
            &json!("+61400000007"),
            &json!("AU"),
            &json!(0),
            &json!(1007)
        )
    );
    let snapshot = app.core.snapshot().await.expect("snapshot");
    let alias = snapshot
        .numbers
        .iter()
        .find(|n| n.number == "+61400000007")
        .and_then(|n| n.alias.clone());
    assert_eq!(alias.as_deref(), Some("Line 7, \"shop\""));

    // The same file again: every line is already there.
    let out = admin(&app, &["import-numbers", file.path()]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<String> = stderr_lines(&out)
        .into_iter()
        .filter(|l| !l.starts_with("importing"))
        .collect();
    assert_eq!(lines.len(), 26, "{lines:?}");
    assert_eq!(
        lines[0],
        "line 2: number +61400000000 is already in the database"
    );
    assert_eq!(app.history_len().await, before + 25);

    // A header alone imports nothing, successfully.
    let file = TempFile::new("empty.csv", b"number\n");
    let out = admin(&app, &["import-numbers", file.path()]);
    assert!(out.status.success());
    assert_eq!(
        stdout_lines(&out).last().map(String::as_str),
        Some(r#"{"imported": 0}"#)
    );
}

async fn release_number_ends_a_quarantine_early(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = crate::vn_common::postpaid(&app, "alice", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    // Not quarantined: refused, nothing changes.
    let out = admin(&app, &["release-number", "--number", "+61400000001"]);
    assert!(!out.status.success());
    assert_eq!(
        stderr_lines(&out),
        vec!["linekeeper: number +61400000001 is not quarantined (it is available)"]
    );
    let out = admin(&app, &["release-number", "--number", "61400000001"]);
    assert!(!out.status.success());
    crate::vn_common::buy(&app, &key, &number.uid).await;
    let (status, _) = vn(&app, "PUT", &format!("/unsubscribe/{}", number.uid), Some(&key), None).await;
    assert_eq!(status, 200);
    let before = app.history_len().await;
    let out = admin(&app, &["release-number", "--number", "+61400000001"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout_lines(&out).last().cloned(),
        Some(format!(
            r#"{{"id": {}, "number": "+61400000001", "state": "available"}}"#,
            number.id
        ))
    );
    let s = app.core.snapshot().await.expect("snapshot");
    assert_eq!(s.history.len(), before + 1);
    assert_eq!(s.history[before].0, "number.release");
    assert!(s.numbers.iter().all(|n| n.quarantine.is_none()));
    app.assert_invariants().await;
}
}
