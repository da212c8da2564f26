//! The command line: `serve` and `admin ...`. Other tooling drives these, so
//! their arguments and outputs are a contract: every `admin` command prints
//! one JSON object on its last line of standard output (`create-key` the key
//! alone), and bad arguments get a message on standard error, a non-zero exit
//! and no change.

pub mod bench;
mod demo;
mod import;
pub mod output;
pub mod stress;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Args, Parser, Subcommand};
use serde_json::json;

use crate::core::Core;
use crate::core::admin::{AccountSpec, NumberSpec};
use crate::domain::{E164, SystemClock};
use crate::http::limits::Limits;
use crate::server::{self as app, DEFAULT_DATABASE_URL, Settings};
use crate::store::StoreOptions;
use output::print_json;

#[derive(Parser)]
#[command(
    name = "linekeeper",
    version,
    about = "Number (line) management for an SMS platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server (both faces).
    Serve(ServeArgs),
    /// Administrative commands; they work while the server is running.
    Admin(AdminArgs),
    /// Concurrent random operations against running servers, then an
    /// invariant check of the database; exits non-zero on any violation.
    Stress(StressArgs),
    /// Seeds a temporary database, starts a server on it and measures each
    /// scenario against the server's own ceiling (loopback only).
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// A PostgreSQL server to bench on (a fresh database is created on it and
    /// dropped afterwards); without it, a temporary SQLite database.
    #[arg(long)]
    database_url: Option<String>,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Numbers in the world (60% owned, 40% in the pool).
    #[arg(long, default_value_t = 100_000)]
    numbers: usize,
    /// Accounts in the world.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Levels of the reseller tree.
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StressArgs {
    /// The servers, comma-separated (http://HOST:PORT or HOST:PORT; loopback only).
    #[arg(long, value_delimiter = ',', required = true)]
    url: Vec<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Operations in all.
    #[arg(long, default_value_t = 5000)]
    ops: usize,
    /// Seed of the world and of every client's operations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The servers' database, where the world is built and the invariants checked.
    #[command(flatten)]
    db: Db,
}

/// Store tuning for `serve`.
#[derive(Args)]
struct Tuning {
    /// Reader threads (SQLite) or connections (PostgreSQL) per process.
    #[arg(long, env = "LINEKEEPER_POOL_SIZE", default_value_t = 4)]
    pool_size: usize,
    /// PostgreSQL statement timeout, in milliseconds.
    #[arg(long, env = "LINEKEEPER_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    statement_timeout_ms: u64,
    /// How often a transaction is retried after a serialization failure or deadlock.
    #[arg(long, env = "LINEKEEPER_MAX_RETRIES", default_value_t = 10)]
    max_retries: u32,
    /// Seconds a process trusts a credential it read (revocations made by
    /// another instance take effect within this time); 0 turns it off.
    #[arg(long, env = "LINEKEEPER_AUTH_CACHE_TTL_SECS", default_value_t = 5)]
    auth_cache_ttl_secs: u64,
}

impl Tuning {
    fn options(&self) -> StoreOptions {
        StoreOptions {
            readers: self.pool_size.max(1),
            statement_timeout_ms: self.statement_timeout_ms,
            max_retries: self.max_retries,
            ..StoreOptions::default()
        }
    }
}

/// Limits for `serve` (see `crate::http::limits`).
#[derive(Args)]
struct LimitArgs {
    /// Longest a request may take, its body's arrival included; beyond it the
    /// answer is 408 (the body had not all arrived) or 503.
    #[arg(long, env = "LINEKEEPER_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Requests per second per credential (token bucket); 0 turns the limit off.
    #[arg(long, env = "LINEKEEPER_RATE_LIMIT_PER_SEC", default_value_t = 200)]
    rate_limit_per_sec: u32,
    /// How many requests a credential may send at once.
    #[arg(long, env = "LINEKEEPER_RATE_LIMIT_BURST", default_value_t = 400)]
    rate_limit_burst: u32,
    /// Seconds over which failed logins are counted.
    #[arg(long, env = "LINEKEEPER_LOGIN_WINDOW_SECS", default_value_t = 900)]
    login_window_secs: i64,
    /// Failed logins for one username within the window before it is refused.
    #[arg(
        long,
        env = "LINEKEEPER_LOGIN_MAX_FAILURES_PER_USER",
        default_value_t = 5
    )]
    login_max_failures_per_user: u32,
    /// Failed logins from one client address within the window before it is refused.
    #[arg(
        long,
        env = "LINEKEEPER_LOGIN_MAX_FAILURES_PER_ADDR",
        default_value_t = 20
    )]
    login_max_failures_per_addr: u32,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms.max(1)),
            rate_per_sec: self.rate_limit_per_sec,
            rate_burst: self.rate_limit_burst,
            login_window_secs: self.login_window_secs.max(1),
            login_max_per_user: self.login_max_failures_per_user,
            login_max_per_addr: self.login_max_failures_per_addr,
            ..Limits::default()
        }
    }
}

#[derive(Args)]
struct Db {
    /// The database: sqlite://PATH (created if missing).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "LINEKEEPER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// On an empty database, create a small demo world and print how to call it.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    db: Db,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
}

/// The number's life (see `crate::core::lifecycle`).
#[derive(Args)]
struct LifecycleArgs {
    /// Days an unsubscribed number stays in quarantine (0: back to the pool at once).
    #[arg(long, env = "LINEKEEPER_QUARANTINE_DAYS", default_value_t = 30)]
    quarantine_days: u32,
    /// Reservations one account may hold at once.
    #[arg(long, env = "LINEKEEPER_RESERVATION_CAP", default_value_t = 20)]
    reservation_cap: u32,
    /// Seconds between sweeps of what is due (grant ends, quarantine and
    /// reservation ends); 0 runs no sweeper in this process.
    #[arg(long, env = "LINEKEEPER_SWEEP_INTERVAL_SECS", default_value_t = 5)]
    sweep_interval_secs: u64,
}

impl LifecycleArgs {
    fn lifecycle(&self) -> crate::core::Lifecycle {
        crate::core::Lifecycle {
            quarantine_secs: i64::from(self.quarantine_days) * crate::core::lifecycle::DAY,
            reservation_cap: i64::from(self.reservation_cap),
            sweep_interval: (self.sweep_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(self.sweep_interval_secs)),
            ..crate::core::Lifecycle::default()
        }
    }
}

#[derive(Args)]
struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
    #[command(flatten)]
    db: Db,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates an account; prints {"id": N, "username": "U"}.
    CreateAccount {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
        /// A root account (administrator); takes no --parent.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        reseller: bool,
        /// The parent's username; required unless --admin.
        #[arg(long)]
        parent: Option<String>,
        /// Enable postpaid billing for the virtual-number face.
        #[arg(long)]
        postpaid: bool,
    },
    /// Adds a number to the pool (or allots it to --owner); prints {"id", "uid", "number"}.
    AddNumber {
        #[arg(long)]
        number: String,
        #[arg(long)]
        operator_id: Option<i64>,
        #[arg(long)]
        alias: Option<String>,
        /// Allot the number to this account as its owner (subscribed, monthly).
        #[arg(long)]
        owner: Option<String>,
        /// Monthly price in minor units.
        #[arg(long, default_value_t = 0)]
        monthly_price: i64,
        /// Yearly price in minor units.
        #[arg(long, default_value_t = 0)]
        yearly_price: i64,
    },
    /// Creates an API key for an account; prints the key alone on its last line.
    CreateKey {
        #[arg(long)]
        username: String,
    },
    /// Switches postpaid billing (the virtual-number face's purchase-postpaid)
    /// for an account; prints {"id", "username", "postpaid"}.
    SetPostpaid {
        #[arg(long)]
        username: String,
        /// `true` or `false`, spelled exactly so.
        #[arg(long, action = ArgAction::Set)]
        enabled: bool,
    },
    /// Ends a number's quarantine early: it is back in the pool; prints
    /// {"id", "number", "state": "available"}.
    ReleaseNumber {
        #[arg(long)]
        number: String,
    },
    /// Adds the numbers of a CSV file to the pool, all or nothing; prints
    /// {"imported": N}. The header row names the columns: number (required),
    /// operator_id, alias, monthly_price, yearly_price.
    ImportNumbers {
        /// The CSV file.
        file: PathBuf,
    },
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Admin(args) => admin(args).await,
            Command::Stress(args) => stress(args).await,
            Command::Bench(args) => run_bench(args).await,
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("linekeeper: {message}");
    ExitCode::FAILURE
}

async fn open(url: &str) -> Result<Core, String> {
    open_with(url, StoreOptions::default()).await
}

async fn open_with(url: &str, store: StoreOptions) -> Result<Core, String> {
    let settings = Settings {
        database_url: url.to_owned(),
        store,
        clock: Arc::new(SystemClock),
        ..Settings::default()
    };
    tokio::task::spawn_blocking(move || app::open(&settings))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// A request id for changes made from the command line.
fn cli_request_id() -> String {
    format!("cli-{}", std::process::id())
}

async fn serve(args: ServeArgs) -> ExitCode {
    init_tracing();
    let core = match open_with(&args.db.database_url, args.tuning.options()).await {
        Ok(core) => core
            .with_auth_cache_ttl(std::time::Duration::from_secs(
                args.tuning.auth_cache_ttl_secs,
            ))
            .with_lifecycle(args.lifecycle.lifecycle()),
        Err(e) => return fail(&e),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    if args.demo {
        match demo::seed(&core).await {
            Ok(Some(world)) => println!(
                "{}",
                demo::instructions(&world, addr, core.lifecycle().quarantine_secs)
            ),
            Ok(None) => println!(
                "The database {} is not empty: serving it without seeding the demo world.",
                args.db.database_url
            ),
            Err(e) => return fail(&format!("seeding the demo world: {e}")),
        }
    }
    println!(
        "linekeeper listening on http://{addr} (database {})",
        args.db.database_url
    );
    println!("  health:  curl http://{addr}/healthz");
    println!("  create an account and a key with `linekeeper admin ...`; see README.md");
    match app::launch_with(core, args.limits.limits(), listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("server error: {e}")),
    }
}

async fn admin(args: AdminArgs) -> ExitCode {
    // Check what can be checked before touching the database.
    if let AdminCommand::AddNumber {
        number,
        monthly_price,
        yearly_price,
        ..
    } = &args.command
    {
        if E164::parse(number).is_none() {
            return fail(&format!(
                "invalid --number {number:?}: expected E.164 (+ and 8 to 15 digits)"
            ));
        }
        if *monthly_price < 0 || *yearly_price < 0 {
            return fail("prices must not be negative");
        }
    }
    if let AdminCommand::ReleaseNumber { number } = &args.command
        && E164::parse(number).is_none()
    {
        return fail(&format!(
            "invalid --number {number:?}: expected E.164 (+ and 8 to 15 digits)"
        ));
    }
    if let AdminCommand::CreateAccount {
        username,
        password,
        admin,
        parent,
        ..
    } = &args.command
    {
        let spec = AccountSpec {
            username: username.clone(),
            password: password.clone(),
            admin: *admin,
            parent: parent.clone(),
            ..Default::default()
        };
        if let Err(e) = spec.check() {
            return fail(&e.to_string());
        }
    }
    // Read the file before opening (and perhaps creating) the database.
    let import_data = match &args.command {
        AdminCommand::ImportNumbers { file } => match std::fs::read(file) {
            Ok(data) => Some(data),
            Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
        },
        _ => None,
    };
    let core = match open(&args.db.database_url).await {
        Ok(core) => core,
        Err(e) => return fail(&e),
    };
    let rid = cli_request_id();
    let outcome = match args.command {
        AdminCommand::CreateAccount {
            username,
            password,
            admin,
            reseller,
            parent,
            postpaid,
        } => {
            let spec = AccountSpec {
                username,
                password,
                admin,
                is_reseller: reseller,
                parent,
                postpaid,
                ..Default::default()
            };
            core.create_account(spec, &rid)
                .await
                .map(|a| print_json(&json!({"id": a.id, "username": a.username})))
        }
        AdminCommand::AddNumber {
            number,
            operator_id,
            alias,
            owner,
            monthly_price,
            yearly_price,
        } => {
            let Some(e164) = E164::parse(&number) else {
                return fail("invalid --number");
            };
            let spec = NumberSpec {
                operator_id,
                alias,
                owner,
                monthly_price,
                yearly_price,
                ..NumberSpec::new(e164)
            };
            core.add_number(spec, &rid)
                .await
                .map(|n| print_json(&json!({"id": n.id, "uid": n.uid, "number": n.number})))
        }
        AdminCommand::CreateKey { username } => core
            .create_key(&username, &rid)
            .await
            .map(|key| println!("{}", key.expose())),
        AdminCommand::SetPostpaid { username, enabled } => {
            core.set_postpaid(&username, enabled, &rid).await.map(|a| {
                print_json(&json!({"id": a.id, "username": a.username, "postpaid": a.postpaid}))
            })
        }
        AdminCommand::ReleaseNumber { number } => {
            let Some(e164) = E164::parse(&number) else {
                return fail("invalid --number");
            };
            core.release_number(&e164, &rid)
                .await
                .map(|n| print_json(&json!({"id": n.id, "number": n.number, "state": "available"})))
        }
        AdminCommand::ImportNumbers { .. } => {
            let data = import_data.unwrap_or_default();
            return match import::run(&core, &data, &rid).await {
                Ok(n) => {
                    print_json(&json!({"imported": n}));
                    ExitCode::SUCCESS
                }
                // The reasons, one a line; the last line says what it means.
                Err(lines) => match lines.split_last() {
                    Some((last, reasons)) => {
                        for line in reasons {
                            eprintln!("{line}");
                        }
                        fail(last)
                    }
                    None => fail("the import failed"),
                },
            };
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

async fn stress(args: StressArgs) -> ExitCode {
    let mut servers = Vec::new();
    for url in &args.url {
        let hostport = url
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        match hostport.parse::<SocketAddr>() {
            // Load goes only to this machine.
            Ok(addr) if addr.ip().is_loopback() => servers.push(addr),
            Ok(addr) => {
                return fail(&format!(
                    "refusing to load {addr}: stress only targets loopback addresses"
                ));
            }
            Err(_) => {
                return fail(&format!(
                    "bad --url {url:?}: expected http://127.0.0.1:PORT"
                ));
            }
        }
    }
    if args.clients == 0 || args.ops == 0 {
        return fail("--clients and --ops must be at least 1");
    }
    let core = match open(&args.db.database_url).await {
        Ok(core) => core,
        Err(e) => return fail(&e),
    };
    let plan = stress::Plan {
        servers,
        clients: args.clients,
        ops: args.ops,
        seed: args.seed,
    };
    match stress::run(&core, &plan).await {
        Ok((report, ok)) => {
            print_json(&report);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(&e),
    }
}

async fn run_bench(args: BenchArgs) -> ExitCode {
    if args.connections == 0
        || args.numbers == 0
        || args.accounts < 2
        || args.depth < 2
        || args.duration <= 0.0
    {
        return fail(
            "--connections and --numbers must be at least 1, --accounts and --depth at least 2, --duration positive",
        );
    }
    let mut tag = [0u8; 6];
    crate::domain::random_bytes(&mut tag);
    let tag = crate::domain::hex(&tag);
    let dir = std::env::temp_dir().join(format!("linekeeper-bench-{tag}"));
    // (database URL for the bench, PostgreSQL server and database to drop after)
    let (url, pg) = match &args.database_url {
        None => {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return fail(&format!("cannot create {}: {e}", dir.display()));
            }
            (format!("sqlite://{}", dir.join("bench.db").display()), None)
        }
        Some(server) if crate::store::postgres::is_postgres_url(server) => {
            let name = format!("lk_bench_{tag}");
            if let Err(e) = pg_admin(server, &format!("CREATE DATABASE {name}")).await {
                return fail(&format!("cannot create a bench database on {server}: {e}"));
            }
            (
                bench_database_url(server, &name),
                Some((server.clone(), name)),
            )
        }
        Some(other) => {
            return fail(&format!(
                "bench takes a postgres:// URL (or none, for SQLite), not {other:?}"
            ));
        }
    };
    let plan = bench::Plan {
        duration: std::time::Duration::from_secs_f64(args.duration),
        connections: args.connections,
        numbers: args.numbers,
        accounts: args.accounts,
        depth: args.depth,
    };
    let outcome = bench_on(&url, &plan, args.json).await;
    if let Some((server, name)) = pg {
        let _ = pg_admin(
            &server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok((text, clean)) => {
            println!("{text}");
            if clean {
                ExitCode::SUCCESS
            } else {
                fail("some requests failed (see the errors column)")
            }
        }
        Err(e) => fail(&e),
    }
}

async fn bench_on(url: &str, plan: &bench::Plan, json: bool) -> Result<(String, bool), String> {
    // Seeding is a bulk load: a page cache big enough for the indexes being
    // filled keeps it linear (the server under test keeps its defaults).
    let seeding = StoreOptions {
        cache_kib: 1_024 * 1_024,
        ..StoreOptions::default()
    };
    let core = open_with(url, seeding).await?;
    let started = std::time::Instant::now();
    let world = std::sync::Arc::new(bench::seed(&core, url, plan).await?);
    eprintln!(
        "seeded {} numbers, {} accounts, {} grants in {:.1} s",
        plan.numbers,
        plan.accounts,
        world.grants,
        started.elapsed().as_secs_f64()
    );
    drop(core);
    let server = bench::Server::start(url)?;
    let mut figures = Vec::new();
    for scenario in bench::Scenario::ALL {
        let f = bench::measure(world.clone(), scenario, server.addr, plan).await;
        eprintln!(
            "{:<22} {:>8.0} req/s  p99 {:.2} ms  errors {}",
            f.name, f.rps, f.p99_ms, f.errors
        );
        figures.push(f);
    }
    let rss = server.peak_rss_mb();
    drop(server);
    let clean = figures.iter().all(|f| f.errors == 0);
    Ok((bench::report(&figures, rss, json), clean))
}

/// Runs one statement on a PostgreSQL server (database administration).
pub(crate) async fn pg_admin(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
        client.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// `url` naming database `name` on the same server.
fn bench_database_url(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = base[scheme_end..]
        .find('/')
        .map(|i| &base[..scheme_end + i])
        .unwrap_or(base);
    format!("{root}/{name}{query}")
}

/// Logs to standard error: `LINEKEEPER_LOG` filters (default `info`), and
/// `LINEKEEPER_LOG_FORMAT=json` gives one JSON object a line. Every line of a
/// request carries its span (id, method, matched route; status and latency
/// once answered).
fn init_tracing() {
    let json = std::env::var("LINEKEEPER_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Colours only for a terminal, not for a file or a collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing::subscriber::set_global_default(log_subscriber(json, ansi, std::io::stderr));
}

/// The subscriber `serve` logs through, writing to `writer` (public so a test
/// can capture what the server logs).
pub fn log_subscriber<W>(
    json: bool,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEKEEPER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        Box::new(
            fmt.json()
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        )
    } else {
        Box::new(fmt.with_ansi(ansi).finish())
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
