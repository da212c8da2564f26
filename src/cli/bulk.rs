//! `admin bulk FILE.csv --as ADMIN`: grant commands from a CSV file, applied
//! through [`Core::bulk`] as an administrator, item by item (not atomic), in
//! chunks of [`MAX_ITEMS`] (one transaction each).
//!
//! The first record is the header, naming the columns in any order (case and
//! surrounding spaces ignored): `op`, `number`, `account` (required),
//! `send`, `gets`, `expires_at`.
//!
//! * `op`: `assign`, `change` or `unassign`.
//! * `number`: an id, E.164 or uid; `account`: an id or a username.
//! * `send`, `gets`: `true` or `false`; required for `assign`, empty
//!   leaves a `change` as it was.
//! * `expires_at`: RFC 3339; empty is none (`assign`) or unchanged
//!   (`change`); `null` removes a grant's own end (`change`).
//!
//! Standard output has one JSON object per data line, in order:
//! `{"line": N, "op": ..., "ok": true, "changes": K}` or `{"line": N, "ok":
//! false, "error": "..."}` (a line that cannot be read is not sent), then
//! `{"applied": A, "failed": F}`. Standard error has a progress line per
//! chunk. The exit code is non-zero when any line failed.

use std::process::ExitCode;

use serde_json::json;

use super::output::print_json;
use crate::core::bulk::MAX_ITEMS;
use crate::core::{AccountRef, Assign, BulkItem, ChangeGrant, Core, Perms, Unassign};
use crate::faces::native::input::number_ref;

const COLUMNS: [&str; 6] = ["op", "number", "account", "send", "gets", "expires_at"];

fn flag(v: &str, column: &str) -> Result<Option<bool>, String> {
    match v.trim() {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        other => Err(format!("{column}: {other:?} is not true or false")),
    }
}

fn end(v: &str) -> Result<Option<Option<i64>>, String> {
    match v.trim() {
        "" => Ok(None),
        "null" => Ok(Some(None)),
        t => crate::domain::parse_rfc3339(t)
            .map(|e| Some(Some(e)))
            .ok_or_else(|| format!("expires_at: {t:?} is not an RFC 3339 date-time")),
    }
}

/// One data line as a bulk item.
fn item(get: &dyn Fn(&str) -> String) -> Result<BulkItem, String> {
    let raw_number = get("number");
    let number = number_ref(raw_number.trim())
        .ok_or_else(|| format!("number: {raw_number:?} names no number"))?;
    let raw_account = get("account");
    let raw_account = raw_account.trim();
    let target = if raw_account.is_empty() {
        return Err("account: is required".into());
    } else if raw_account.bytes().all(|b| b.is_ascii_digit()) {
        AccountRef {
            id: raw_account.parse().ok(),
            username: None,
        }
    } else {
        AccountRef {
            id: None,
            username: Some(raw_account.to_owned()),
        }
    };
    let (send, gets, expires_at) = (
        flag(&get("send"), "send")?,
        flag(&get("gets"), "gets")?,
        end(&get("expires_at"))?,
    );
    match get("op").trim() {
        "assign" => Ok(BulkItem::Assign(Assign {
            number,
            target,
            perms: Perms {
                send: send.ok_or("send: is required for assign")?,
                gets: gets.ok_or("gets: is required for assign")?,
            },
            expires_at: match expires_at {
                Some(Some(e)) => Some(e),
                Some(None) => return Err("expires_at: null is for change".into()),
                None => None,
            },
        })),
        "change" => Ok(BulkItem::Change(ChangeGrant {
            number,
            target,
            send,
            gets,
            expires_at,
        })),
        "unassign" => Ok(BulkItem::Unassign(Unassign { number, target })),
        other => Err(format!("op: {other:?} is not assign, change or unassign")),
    }
}

fn op_of(i: &BulkItem) -> &'static str {
    match i {
        BulkItem::Assign(_) => "assign",
        BulkItem::Change(_) => "change",
        BulkItem::Unassign(_) => "unassign",
    }
}

/// Runs the file's lines; the exit code.
pub async fn run(core: &Core, data: &[u8], admin: &str, rid: &str) -> ExitCode {
    let caller = match core.administrator(admin).await {
        Ok(c) => c,
        Err(e) => return super::fail(&e.to_string()),
    };
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(data);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return super::fail(&format!("cannot read the header: {e}")),
    };
    if let Some(bad) = header.iter().find(|c| !COLUMNS.contains(&c.as_str())) {
        return super::fail(&format!("unknown column {bad:?}"));
    }
    for needed in ["op", "number", "account"] {
        if !header.iter().any(|c| c == needed) {
            return super::fail(&format!("the header lacks the column {needed:?}"));
        }
    }
    // Every data line: its number and its item, or why it cannot be read.
    let mut lines: Vec<(u64, Result<BulkItem, String>)> = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let get = |name: &str| -> String {
                    header
                        .iter()
                        .position(|c| c == name)
                        .and_then(|i| r.get(i))
                        .unwrap_or("")
                        .to_owned()
                };
                lines.push((line, item(&get)));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                lines.push((line, Err(e.to_string())));
            }
        }
    }
    let total = lines.len();
    let (mut applied, mut failed, mut done) = (0usize, 0usize, 0usize);
    let mut pending = lines.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<(u64, Result<BulkItem, String>)> =
            pending.by_ref().take(MAX_ITEMS).collect();
        done += chunk.len();
        let mut sent = Vec::new();
        let mut order = Vec::new();
        for (line, parsed) in chunk {
            match parsed {
                Ok(i) => {
                    order.push((line, Ok(op_of(&i))));
                    sent.push(i);
                }
                Err(why) => order.push((line, Err(why))),
            }
        }
        let ran = match core.bulk(&caller, sent, false, rid).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("linekeeper: bulk: {done} of {total} lines read when the store failed");
                return super::fail(&e.to_string());
            }
        };
        let mut results = ran.results.into_iter();
        for (line, op) in order {
            match op {
                Err(why) => {
                    failed += 1;
                    print_json(&json!({"line": line, "ok": false, "error": why}));
                }
                Ok(op) => match results.next() {
                    Some(Ok(outcome)) => {
                        applied += 1;
                        print_json(&json!({"line": line, "op": op, "ok": true,
                            "changes": outcome.changes.len()}));
                    }
                    Some(Err(e)) => {
                        failed += 1;
                        print_json(&json!({"line": line, "op": op, "ok": false,
                            "error": e.to_string()}));
                    }
                    None => {
                        failed += 1;
                        print_json(&json!({"line": line, "op": op, "ok": false,
                            "error": "no result"}));
                    }
                },
            }
        }
        eprintln!("bulk: {done}/{total} lines, {applied} applied, {failed} failed");
    }
    print_json(&json!({"applied": applied, "failed": failed}));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
