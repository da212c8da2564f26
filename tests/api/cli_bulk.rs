//! The real binary's `admin bulk FILE.csv --as ADMIN`, on a live server's database.

use std::process::{Command, Output};

use crate::helpers::TestApp;

fn admin(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linekeeper"))
        .arg("admin")
        .args(args)
        .args(["--database-url", &app.database_url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run linekeeper")
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

crate::scenarios! {
async fn bulk_applies_each_line_on_its_own_and_reports_each(app: TestApp) {
    app.account("admin", None, false).await;
    app.account("reseller", Some("admin"), true).await;
    let (agent, _) = app.account("agent", Some("reseller"), true).await;
    let n1 = app.number("+61400000001", Some("reseller")).await;
    let csv = format!("op,number,account,send,gets,expires_at\n\
        assign,+61400000001,agent,true,true,\n\
        assign,+61400000001,agent,true,true,\n\
        change,{},{},,false,\n\
        bogus,1,2,,,\n\
        unassign,{},agent,,,\n", n1.id, agent.id, n1.uid);
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).expect("random");
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("linekeeper-bulk-{tag}.csv"));
    std::fs::write(&path, csv).expect("write");
    let file = path.to_str().expect("utf-8").to_owned();

    let before = app.history_len().await;
    let out = admin(&app, &["bulk", &file, "--as", "admin"]);
    assert!(!out.status.success());
    assert_eq!(lines(&out.stdout), vec![
        r#"{"line": 2, "op": "assign", "ok": true, "changes": 1}"#,
        r#"{"line": 3, "op": "assign", "ok": false, "error": "number already assigned to user"}"#,
        r#"{"line": 4, "op": "change", "ok": true, "changes": 1}"#,
        r#"{"line": 5, "ok": false, "error": "op: \"bogus\" is not assign, change or unassign"}"#,
        r#"{"line": 6, "op": "unassign", "ok": true, "changes": 1}"#,
        r#"{"applied": 3, "failed": 2}"#,
    ]);
    assert_eq!(lines(&out.stderr), vec!["bulk: 5/5 lines, 3 applied, 2 failed"]);
    assert_eq!(app.history_len().await, before + 3);

    let out = admin(&app, &["bulk", &file, "--as", "reseller"]);
    assert!(!out.status.success());
    assert_eq!(lines(&out.stderr), vec!["linekeeper: no administrator reseller"]);
    assert_eq!(app.history_len().await, before + 3);
    let _ = std::fs::remove_file(&path);
    app.assert_invariants().await;
}
}
