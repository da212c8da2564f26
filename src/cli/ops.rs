//! The operator's day (issue 18): reading and changing accounts, keys and
//! numbers from the command line, exporting the numbers, and checking every
//! invariant of DOMAIN.md against the database. Everything goes through the
//! core. Each command prints one JSON object per line (`--format table` for
//! people); a refusal is a message on standard error, a non-zero exit and no
//! change.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::output::print_json;
use super::{Db, cli_request_id, fail, open};
use crate::core::Core;
use crate::core::operator::{AccountFilter, NumberFilter};
use crate::domain::{E164, NumberState, iso8601_utc};
use crate::store::{Account, Number, TokenRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Aligned columns for people.
    Table,
}

#[derive(Args, Clone, Copy)]
pub struct Out {
    /// How to print: one JSON object per line, or a table.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

#[derive(Args)]
pub struct Paging {
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Only rows with an id greater than this (the last id of the page before).
    #[arg(long, default_value_t = 0)]
    after: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Available,
    Reserved,
    Subscribed,
    Quarantined,
}

impl From<StateArg> for NumberState {
    fn from(s: StateArg) -> NumberState {
        match s {
            StateArg::Available => NumberState::Available,
            StateArg::Reserved => NumberState::Reserved,
            StateArg::Subscribed => NumberState::Subscribed,
            StateArg::Quarantined => NumberState::Quarantined,
        }
    }
}

/// The operator's commands, flattened into `admin`.
#[derive(Subcommand)]
pub enum OpsCommand {
    /// Lists accounts by id, one JSON object per line.
    Accounts {
        /// Only the direct children of this account.
        #[arg(long)]
        parent: Option<String>,
        /// Only resellers.
        #[arg(long)]
        reseller: bool,
        /// Text the username or name contains (ignoring case).
        #[arg(long)]
        q: Option<String>,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        out: Out,
    },
    /// One account, with its ancestors (root first) and how many numbers it holds.
    Account {
        username: String,
        #[command(flatten)]
        out: Out,
    },
    /// Suspends an account: its tokens and keys stop working; its grants stay.
    Suspend {
        username: String,
        #[command(flatten)]
        out: Out,
    },
    /// Lifts an account's suspension.
    Resume {
        username: String,
        #[command(flatten)]
        out: Out,
    },
    /// Sets an account's password (the password policy of every face) and
    /// revokes its sessions. Without --password: prompted for (without
    /// echo) on a terminal, else the first line of standard input.
    SetPassword {
        username: String,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        out: Out,
    },
    /// An account's API keys (revoked ones too), by id.
    Keys {
        username: String,
        #[command(flatten)]
        out: Out,
    },
    /// Revokes the API key with this id (see `admin keys`).
    RevokeKey {
        id: i64,
        #[command(flatten)]
        out: Out,
    },
    /// Lists numbers by id, one JSON object per line.
    Numbers {
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// ISO 3166 alpha-2 country code.
        #[arg(long)]
        country: Option<String>,
        /// Only numbers this account owns or holds a grant on.
        #[arg(long)]
        holder: Option<String>,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        out: Out,
    },
    /// One number: its state, owner and grant tree.
    Number {
        e164: String,
        #[command(flatten)]
        out: Out,
    },
    /// A number's custody history, newest first.
    History {
        e164: String,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only entries older than this id.
        #[arg(long)]
        before: Option<i64>,
        #[command(flatten)]
        out: Out,
    },
    /// Writes every number as CSV with the import's columns (number,
    /// operator_id, alias, monthly_price, yearly_price) to standard output,
    /// read in pages.
    ExportNumbers,
    /// Checks every invariant of DOMAIN.md against the database; exits
    /// non-zero, printing each violation, if any is broken.
    Check,
}

/// What can be refused before the database is opened.
fn precheck(cmd: &OpsCommand) -> Result<(), String> {
    let limit = match cmd {
        OpsCommand::Accounts { paging, .. } | OpsCommand::Numbers { paging, .. } => {
            Some(paging.limit)
        }
        OpsCommand::History { limit, .. } => Some(*limit),
        _ => None,
    };
    if limit.is_some_and(|l| !(1..=10_000).contains(&l)) {
        return Err("--limit must be from 1 to 10000".into());
    }
    match cmd {
        OpsCommand::Number { e164, .. } | OpsCommand::History { e164, .. }
            if E164::parse(e164).is_none() =>
        {
            Err(format!(
                "invalid number {e164:?}: expected E.164 (+ and 8 to 15 digits)"
            ))
        }
        OpsCommand::Numbers {
            country: Some(c), ..
        } if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) => Err(format!(
            "invalid --country {c:?}: expected two letters (ISO 3166 alpha-2)"
        )),
        _ => Ok(()),
    }
}

/// Runs one of the operator's commands.
pub async fn main(mut cmd: OpsCommand, db: &Db) -> ExitCode {
    if let Err(e) = precheck(&cmd) {
        return fail(&e);
    }
    // The password first: a prompt before anything touches the database.
    if let OpsCommand::SetPassword { password, .. } = &mut cmd
        && password.is_none()
    {
        match read_password() {
            Ok(p) => *password = Some(p),
            Err(e) => return fail(&e),
        }
    }
    let url = match db.url() {
        Ok(url) => url,
        Err(e) => return fail(&e),
    };
    let core = match open(&url).await {
        Ok(core) => core,
        Err(e) => return fail(&e),
    };
    match run(&core, cmd).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

fn brief(a: &Account) -> Value {
    json!({"id": a.id, "username": a.username})
}

fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "username": a.username,
        "name": a.name,
        "admin": a.is_admin(),
        "reseller": a.is_reseller,
        "suspended": a.suspended,
        "postpaid": a.postpaid,
        "parent_id": a.parent_id,
        "created_at": iso8601_utc(a.created_at),
    })
}

fn key_json(k: &TokenRow, owner: &Account) -> Value {
    json!({
        "id": k.id,
        "username": owner.username,
        "created_at": iso8601_utc(k.created_at),
        "revoked_at": k.revoked_at.map(iso8601_utc),
    })
}

fn number_json(n: &Number, now: i64) -> Value {
    json!({
        "id": n.id,
        "uid": n.uid,
        "number": n.number,
        "country": n.country,
        "state": n.state(now).as_str(),
        "owner_id": n.owner_id(),
        "operator_id": n.operator_id,
        "alias": n.alias,
        "monthly_price": n.monthly_price,
        "yearly_price": n.yearly_price,
    })
}

async fn run(core: &Core, cmd: OpsCommand) -> Result<ExitCode, String> {
    let rid = cli_request_id();
    let err = |e: crate::core::CoreError| e.to_string();
    let now = core.now();
    match cmd {
        OpsCommand::Accounts {
            parent,
            reseller,
            q,
            paging,
            out,
        } => {
            let filter = AccountFilter {
                parent,
                reseller: reseller.then_some(true),
                q,
                after_id: paging.after,
            };
            let rows = core
                .operator_accounts(filter, paging.limit)
                .await
                .map_err(err)?;
            next_page_hint(rows.len() as i64, paging.limit, rows.last().map(|a| a.id));
            emit(out, rows.iter().map(account_json).collect());
        }
        OpsCommand::Account { username, out } => {
            let d = core.operator_account(&username).await.map_err(err)?;
            let mut v = account_json(&d.account);
            v["ancestors"] = d.ancestors.iter().map(brief).collect();
            v["holdings"] = json!(d.holdings);
            v["keys"] = json!(d.keys);
            emit(out, vec![v]);
        }
        OpsCommand::Suspend { username, out } => {
            let a = core
                .set_suspended(&username, true, &rid)
                .await
                .map_err(err)?;
            emit(
                out,
                vec![json!({"id": a.id, "username": a.username, "suspended": true})],
            );
        }
        OpsCommand::Resume { username, out } => {
            let a = core
                .set_suspended(&username, false, &rid)
                .await
                .map_err(err)?;
            emit(
                out,
                vec![json!({"id": a.id, "username": a.username, "suspended": false})],
            );
        }
        OpsCommand::SetPassword {
            username,
            password,
            out,
        } => {
            let password = password.unwrap_or_default();
            let (a, revoked) = core
                .set_password(&username, &password, &rid)
                .await
                .map_err(err)?;
            emit(
                out,
                vec![json!({"id": a.id, "username": a.username, "sessions_revoked": revoked})],
            );
        }
        OpsCommand::Keys { username, out } => {
            let (owner, keys) = core.operator_keys(&username).await.map_err(err)?;
            emit(out, keys.iter().map(|k| key_json(k, &owner)).collect());
        }
        OpsCommand::RevokeKey { id, out } => {
            let (key, owner) = core.operator_revoke_key(id, &rid).await.map_err(err)?;
            emit(out, vec![key_json(&key, &owner)]);
        }
        OpsCommand::Numbers {
            state,
            country,
            holder,
            paging,
            out,
        } => {
            let filter = NumberFilter {
                state: state.map(Into::into),
                country: country.map(|c| c.to_ascii_uppercase()),
                holder,
                after_id: paging.after,
            };
            let rows = core
                .operator_numbers(filter, paging.limit)
                .await
                .map_err(err)?;
            next_page_hint(rows.len() as i64, paging.limit, rows.last().map(|n| n.id));
            emit(out, rows.iter().map(|n| number_json(n, now)).collect());
        }
        OpsCommand::Number { e164, out } => {
            let d = core.operator_number(&e164).await.map_err(err)?;
            let mut v = number_json(&d.number, now);
            v["owner"] = d.owner.as_ref().map(brief).unwrap_or(Value::Null);
            v["held_for"] = d.held_for.as_ref().map(brief).unwrap_or(Value::Null);
            v["until"] = d
                .number
                .reservation_at(now)
                .map(|r| r.until)
                .or(d.number.quarantine_at(now).map(|q| q.until))
                .map(|t| json!(iso8601_utc(t)))
                .unwrap_or(Value::Null);
            v["grants"] = grant_tree(&d.grants, d.owner.as_ref().map(|o| o.id));
            emit(out, vec![v]);
        }
        OpsCommand::History {
            e164,
            limit,
            before,
            out,
        } => {
            let rows = core
                .operator_history(&e164, before, limit)
                .await
                .map_err(err)?;
            let name = |a: &Option<std::sync::Arc<Account>>| {
                a.as_deref().map(brief).unwrap_or(Value::Null)
            };
            let rows = rows
                .iter()
                .map(|h| {
                    json!({
                        "id": h.id,
                        "at": iso8601_utc(h.at),
                        "action": &*h.action,
                        "actor": name(&h.actor),
                        "target": name(&h.target),
                        "granted_by": name(&h.granted_by),
                        "send": h.perms.map(|p| p.send),
                        "gets": h.perms.map(|p| p.gets),
                        "request_id": &*h.request_id,
                    })
                })
                .collect();
            emit(out, rows);
        }
        OpsCommand::ExportNumbers => return export(core).await,
        OpsCommand::Check => return check(core).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// On standard error, where the next page starts, when this one is full.
fn next_page_hint(got: i64, limit: i64, last: Option<i64>) {
    if let Some(last) = last.filter(|_| got >= limit) {
        eprintln!("next page: --after {last}");
    }
}

/// The live grants as a tree: those the owner made at the top, each with
/// the grants its grantee made beneath it. A grant whose granter holds
/// nothing here (which `admin check` reports) is listed at the top too.
fn grant_tree(grants: &[(crate::store::Grant, Account, Account)], owner: Option<i64>) -> Value {
    fn node(
        grants: &[(crate::store::Grant, Account, Account)],
        i: usize,
        seen: &mut Vec<bool>,
    ) -> Value {
        seen[i] = true;
        let (g, to, by) = &grants[i];
        let mut children = Vec::new();
        for j in 0..grants.len() {
            if !seen[j] && grants[j].0.granted_by == g.account_id {
                children.push(node(grants, j, seen));
            }
        }
        json!({
            "account": brief(to),
            "granted_by": brief(by),
            "send": g.send,
            "gets": g.gets,
            "expires_at": g.expires_at.map(iso8601_utc),
            "grants": children,
        })
    }
    let mut seen = vec![false; grants.len()];
    let mut top = Vec::new();
    for i in 0..grants.len() {
        if !seen[i] && Some(grants[i].0.granted_by) == owner {
            top.push(node(grants, i, &mut seen));
        }
    }
    for i in 0..grants.len() {
        if !seen[i] {
            top.push(node(grants, i, &mut seen));
        }
    }
    Value::Array(top)
}

/// Prints `rows`: a JSON object per line, or a table.
fn emit(out: Out, rows: Vec<Value>) {
    match out.format {
        Format::Json => rows.iter().for_each(print_json),
        Format::Table => print!("{}", table(&rows)),
    }
}

/// A cell: text as is, nothing for null, anything else as compact JSON
/// (a list of accounts as their usernames).
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("username") && m.len() == 2 => {
            m["username"].as_str().unwrap_or_default().to_owned()
        }
        Value::Array(items) if items.iter().all(|i| i.get("username").is_some()) => items
            .iter()
            .map(|i| i["username"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" > "),
        other => other.to_string(),
    }
}

/// Rows of objects as aligned columns under a header (one object: a
/// `key  value` line per field).
pub fn table(rows: &[Value]) -> String {
    let keys: Vec<String> = match rows.first() {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => return String::new(),
    };
    let mut out = String::new();
    if rows.len() == 1 {
        let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
        for k in &keys {
            let line = format!("{k:<width$}  {}", cell(&rows[0][k]));
            out.push_str(line.trim_end());
            out.push('\n');
        }
        return out;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keys.iter().map(|k| cell(&r[k])).collect())
        .collect();
    let widths: Vec<usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([k.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |items: &[String]| {
        let mut l = items
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l.push('\n');
        l
    };
    out.push_str(&line(&keys));
    for r in &cells {
        out.push_str(&line(r));
    }
    out
}

/// Progress on standard error: a bar (spinner with a count) on a
/// terminal, else a plain line at most every two seconds and at the end.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    last: Instant,
}

impl Progress {
    fn new(what: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} [{elapsed}]")
            {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            what,
            last: Instant::now(),
        }
    }

    fn message(&mut self, what: &'static str) {
        self.what = what;
        match &self.bar {
            Some(bar) => bar.set_message(what),
            None => eprintln!("{what}"),
        }
    }

    fn set(&mut self, n: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(n),
            None if self.last.elapsed() >= Duration::from_secs(2) => {
                self.last = Instant::now();
                eprintln!("{} {n}", self.what);
            }
            None => {}
        }
    }

    fn finish(self, line: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

/// Rows per page of the export.
const EXPORT_PAGE: i64 = 5_000;

/// Streams every number as CSV to standard output, a page at a time.
async fn export(core: &Core) -> Result<ExitCode, String> {
    let stdout = std::io::stdout();
    let mut w = csv::Writer::from_writer(stdout.lock());
    let io = |e: csv::Error| format!("cannot write the export: {e}");
    w.write_record([
        "number",
        "operator_id",
        "alias",
        "monthly_price",
        "yearly_price",
    ])
    .map_err(io)?;
    let mut progress = Progress::new("exporting numbers:");
    let (mut after, mut n) = (0, 0u64);
    loop {
        let page = core
            .numbers_page(after, EXPORT_PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for num in &page {
            w.write_record([
                num.number.clone(),
                num.operator_id.map(|o| o.to_string()).unwrap_or_default(),
                num.alias.clone().unwrap_or_default(),
                num.monthly_price.to_string(),
                num.yearly_price.to_string(),
            ])
            .map_err(io)?;
        }
        w.flush()
            .map_err(|e| format!("cannot write the export: {e}"))?;
        n += page.len() as u64;
        progress.set(n);
    }
    progress.finish(&format!("exported {n} numbers"));
    Ok(ExitCode::SUCCESS)
}

/// Every invariant over one snapshot of the database.
async fn check(core: &Core) -> Result<ExitCode, String> {
    let mut progress = Progress::new("reading the database");
    progress.message("reading the database");
    let snapshot = core.snapshot().await.map_err(|e| e.to_string())?;
    progress.message("checking the invariants");
    let broken = crate::core::invariants::violations(&snapshot);
    progress.finish(&format!(
        "checked {} accounts, {} numbers, {} grants",
        snapshot.accounts.len(),
        snapshot.numbers.len(),
        snapshot.grants.len()
    ));
    for v in &broken {
        print_json(&json!({ "violation": v }));
    }
    print_json(&json!({
        "violations": broken.len(),
        "accounts": snapshot.accounts.len(),
        "numbers": snapshot.numbers.len(),
        "grants": snapshot.grants.len(),
    }));
    if broken.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("{} invariant violation(s)", broken.len()))
    }
}

/// The new password: prompted for twice without echo on a terminal, else
/// the first line of standard input.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        if line.is_empty() {
            return Err("no password: give --password or one line on standard input".into());
        }
        return Ok(line);
    }
    let first = prompt_hidden("New password: ")?;
    let second = prompt_hidden("Again: ")?;
    if first != second {
        return Err("the passwords differ; nothing changed".into());
    }
    Ok(first)
}

/// Reads a line from the terminal on standard input with echo off.
fn prompt_hidden(prompt: &str) -> Result<String, String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: tcgetattr/tcsetattr on standard input with a zeroed termios
    // that tcgetattr fills; the original settings are restored below.
    let mut original: libc::termios = unsafe { std::mem::zeroed() };
    let hidden = unsafe { libc::tcgetattr(fd, &mut original) } == 0;
    if hidden {
        let mut quiet = original;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &original) };
    }
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_table_aligns_its_columns() {
        let rows = [
            json!({"id": 1, "username": "admin", "parent": null}),
            json!({"id": 22, "username": "u", "parent": {"id": 1, "username": "admin"}}),
        ];
        assert_eq!(
            super::table(&rows),
            "id  username  parent\n1   admin\n22  u         admin\n"
        );
        assert_eq!(
            super::table(&rows[..1]),
            "id        1\nusername  admin\nparent\n"
        );
    }
}
