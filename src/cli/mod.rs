//! The command line: `serve` and `admin ...`. Other tooling drives these, so
//! their arguments and outputs are a contract: every `admin` command prints
//! one JSON object on its last line of standard output (`create-key` the key
//! alone), and bad arguments get a message on standard error, a non-zero exit
//! and no change.

pub mod bench;
mod bulk;
mod demo;
mod import;
mod ops;
pub mod output;
pub mod stress;
mod webhook_test;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Args, Parser, Subcommand};
use serde_json::json;

use crate::config::{Config, ConfigFile, LogFormat, Overrides};
use crate::core::Core;
use crate::core::admin::{AccountSpec, NumberSpec};
use crate::domain::{E164, SystemClock};
use crate::server::{self as app, Settings};
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
    /// Prints the configuration `serve` would run with (same flags, file and
    /// environment), as TOML (or JSON), with the database password redacted.
    Config(ShowConfigArgs),
    /// Administrative commands; they work while the server is running.
    Admin(AdminArgs),
    /// Concurrent random operations against running servers, then an
    /// invariant check of the database; exits non-zero on any violation.
    Stress(StressArgs),
    /// Seeds a temporary database, starts a server on it and measures each
    /// scenario against the server's own ceiling (loopback only).
    Bench(BenchArgs),
    /// Prints a shell completion script: `source <(linekeeper completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Prints the man page (roff): `linekeeper man | man -l -`.
    Man,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
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
    /// Only these scenarios (comma-separated names as the table prints
    /// them, `feed` and `sweep` for those measurements); `ceiling` always runs, as
    /// every ratio is to it. Default: all of them.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
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
    /// Run for this many seconds instead of stopping after --ops operations.
    #[arg(long)]
    duration: Option<f64>,
    /// A failover happens during the run: clean 503s (and a load balancer's
    /// 502s for requests in flight on an instance that died) are counted, not
    /// failed; every write answered 200 must still be in the database, and
    /// no answer may take longer than 12 s.
    #[arg(long)]
    expect_outage: bool,
    /// The servers' database, where the world is built and the invariants checked.
    #[command(flatten)]
    db: Db,
}

/// The database of `admin` and `stress`: `--database-url` (or
/// `DATABASE_URL`), else the configuration file's, else the default.
#[derive(Args)]
struct Db {
    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    #[command(flatten)]
    config: ConfigFile,
}

impl Db {
    fn url(&self) -> Result<String, String> {
        let overrides = Overrides {
            database_url: self.database_url.clone(),
            ..Overrides::default()
        };
        Config::load(self.config.path.as_deref(), overrides).map(|c| c.database_url)
    }
}

#[derive(Args)]
struct ServeArgs {
    /// On an empty database, create a small demo world and print how to call it.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Where the settings come from: the file, then the environment and flags.
#[derive(Args)]
struct ConfigArgs {
    #[command(flatten)]
    file: ConfigFile,
    #[command(flatten)]
    overrides: Overrides,
}

impl ConfigArgs {
    fn load(self) -> Result<Config, String> {
        Config::load(self.file.path.as_deref(), self.overrides)
    }
}

#[derive(Args)]
struct ShowConfigArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Print JSON instead of TOML.
    #[arg(long)]
    json: bool,
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
        #[arg(long, allow_negative_numbers = true)]
        operator_id: Option<i64>,
        #[arg(long)]
        alias: Option<String>,
        /// Allot the number to this account as its owner (subscribed, monthly).
        #[arg(long)]
        owner: Option<String>,
        /// Monthly price in minor units. (A negative figure is read as a
        /// number, so it gets the "must not be negative" refusal rather than
        /// clap's "unexpected argument".)
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        monthly_price: i64,
        /// Yearly price in minor units.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
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
    /// Applies grant commands from a CSV file (op, number, account, send,
    /// gets, expires_at) as an administrator, each line on its own, 1000 to
    /// a transaction; one JSON report per line (see `cli/bulk.rs`).
    Bulk {
        /// The CSV file.
        file: PathBuf,
        /// The administrator (root account) to act as.
        #[arg(long = "as")]
        admin: String,
    },
    /// Sends a signed sample event to a webhook receiver, as every delivery
    /// is sent, and prints the request's signature headers and what the
    /// receiver answered; exits non-zero unless it answered 2xx.
    WebhookTest {
        /// The receiver's http:// or https:// URL.
        url: String,
        /// Sign with this whsec_ secret (a fresh one, printed, when not given).
        #[arg(long)]
        secret: Option<String>,
        /// Allow a loopback, link-local or private address.
        #[arg(long)]
        allow_private: bool,
        /// The longest the receiver may take, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    #[command(flatten)]
    Ops(ops::OpsCommand),
}

/// Runs the command line; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => return completions(shell),
        Command::Man => return man_page(),
        _ => {}
    }
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
            Command::Config(args) => show_config(args),
            Command::Admin(args) => admin(args).await,
            Command::Stress(args) => stress(args).await,
            Command::Bench(args) => run_bench(args).await,
            Command::Completions { .. } | Command::Man => ExitCode::SUCCESS,
        }
    })
}

/// `linekeeper completions SHELL`, from the clap definitions.
fn completions(shell: CompletionShell) -> ExitCode {
    use clap::CommandFactory;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "linekeeper", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `linekeeper man`: the man page, with a section per subcommand.
fn man_page() -> ExitCode {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    let mut render = || -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        man.render_options_section(&mut out)?;
        man.render_subcommands_section(&mut out)?;
        // Each `admin` command, with its own options.
        for sub in cmd.get_subcommands() {
            for inner in sub.get_subcommands() {
                let name = format!("{} {}", sub.get_name(), inner.get_name());
                writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
                let page = clap_mangen::Man::new(inner.clone());
                page.render_description_section(&mut out)?;
                page.render_options_section(&mut out)?;
            }
        }
        man.render_version_section(&mut out)
    };
    use std::io::Write;
    match render() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write the man page: {e}")),
    }
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
    let config = match args.config.load() {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log) {
        return fail(&format!("bad log filter {:?}: {e}", config.log));
    }
    init_tracing(&config);
    let core = match open_with(&config.database_url, config.store_options()).await {
        Ok(core) => core
            .with_auth_cache_ttl(config.auth_cache_ttl())
            .with_lifecycle(config.lifecycle())
            .with_webhooks(config.webhooks()),
        Err(e) => return fail(&e),
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", config.listen)),
    };
    let addr = listener.local_addr().unwrap_or(config.listen);
    if args.demo {
        match demo::seed(&core).await {
            Ok(Some(world)) => println!(
                "{}",
                demo::instructions(
                    &world,
                    addr,
                    core.lifecycle().quarantine_secs,
                    &config.database_url
                )
            ),
            Ok(None) => println!(
                "The database {} is not empty: serving it without seeding the demo world.\n{}",
                crate::config::redact_url(&config.database_url),
                demo::restart_hint(&config.database_url)
            ),
            Err(e) => return fail(&format!("seeding the demo world: {e}")),
        }
    }
    println!(
        "linekeeper listening on http://{addr} (database {})",
        crate::config::redact_url(&config.database_url)
    );
    println!("  health:  curl http://{addr}/healthz");
    println!(
        "  accounts and keys: `{} admin --help`; see README.md",
        demo::command_prefix()
    );
    if let Some(n) = config.nats() {
        println!(
            "  events:  published to NATS JetStream at {} (stream {}, subjects {}.<type>)",
            n.url, n.stream, n.prefix
        );
    }
    match app::launch_full(
        core,
        config.limits(),
        config.nats(),
        listener,
        shutdown_signal(),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("server error: {e}")),
    }
}

fn show_config(args: ShowConfigArgs) -> ExitCode {
    let config = match args.config.load() {
        Ok(config) => config.redacted(),
        Err(e) => return fail(&e),
    };
    if args.json {
        match serde_json::to_value(&config) {
            Ok(value) => print_json(&value),
            Err(e) => return fail(&format!("cannot render the configuration: {e}")),
        }
    } else {
        print!("{}", config.to_toml());
    }
    ExitCode::SUCCESS
}

async fn admin(args: AdminArgs) -> ExitCode {
    let args = match args.command {
        AdminCommand::Ops(cmd) => return ops::main(cmd, &args.db).await,
        AdminCommand::WebhookTest {
            url,
            secret,
            allow_private,
            timeout_ms,
        } => {
            return webhook_test::main(webhook_test::Test {
                url,
                secret,
                allow_private,
                timeout_ms,
            })
            .await;
        }
        command => AdminArgs { command, ..args },
    };
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
    let url = match args.db.url() {
        Ok(url) => url,
        Err(e) => return fail(&e),
    };
    // Read the file before opening (and perhaps creating) the database.
    let import_data = match &args.command {
        AdminCommand::ImportNumbers { file } => match std::fs::read(file) {
            Ok(data) => Some(data),
            Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
        },
        AdminCommand::Bulk { file, .. } => match std::fs::read(file) {
            Ok(data) => Some(data),
            Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
        },
        _ => None,
    };
    let core = match open(&url).await {
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
            core.release_number(&e164, None, &rid)
                .await
                .map(|n| print_json(&json!({"id": n.id, "number": n.number, "state": "available"})))
        }
        AdminCommand::Bulk { admin, .. } => {
            let data = import_data.unwrap_or_default();
            return bulk::run(&core, &data, &admin, &rid).await;
        }
        AdminCommand::Ops(_) => unreachable!("handled by ops::main"),
        AdminCommand::WebhookTest { .. } => unreachable!("handled by webhook_test::main"),
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
    let duration = match args.duration {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Some(std::time::Duration::from_secs_f64(s))
        }
        Some(_) => return fail("--duration must be a positive number of seconds (at most a day)"),
    };
    let core = match args.db.url() {
        Ok(url) => match open(&url).await {
            Ok(core) => core,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    let plan = stress::Plan {
        servers,
        clients: args.clients,
        ops: args.ops,
        seed: args.seed,
        duration,
        expect_outage: args.expect_outage,
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
    if cfg!(debug_assertions) {
        eprintln!(
            "linekeeper: warning: not a release build; the figures are only meaningful from `cargo run --release -- bench`"
        );
    }
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
    if let Some(bad) = args.scenarios.iter().find(|s| {
        !["sweep", "feed"].contains(&s.as_str())
            && !bench::Scenario::ALL.iter().any(|a| a.name() == s.as_str())
    }) {
        let names: Vec<&str> = bench::Scenario::ALL.iter().map(|a| a.name()).collect();
        return fail(&format!(
            "no scenario {bad:?}; the scenarios: {}, feed, sweep",
            names.join(", ")
        ));
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
    let outcome = bench_on(&url, &plan, &args.scenarios, args.json).await;
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

async fn bench_on(
    url: &str,
    plan: &bench::Plan,
    only: &[String],
    json: bool,
) -> Result<(String, bool), String> {
    // The scenarios asked for (all when none were named); ceiling always.
    let wanted =
        |name: &str| only.is_empty() || name == "ceiling" || only.iter().any(|o| o == name);
    let scenarios: Vec<bench::Scenario> = bench::Scenario::ALL
        .into_iter()
        .filter(|s| wanted(s.name()))
        .collect();
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
    // Seeding wrote its events without giving them their ids (PostgreSQL
    // stages them); a server does that as it goes, so give them theirs now
    // rather than leave the server under test a backlog of hundreds of
    // thousands (which also holds back the routing table's proof).
    let started = std::time::Instant::now();
    let moved = core
        .store
        .sequence_events()
        .await
        .map_err(|e| e.to_string())?;
    if moved > 0 {
        eprintln!(
            "sequenced {moved} seeded events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    drop(core);
    let server = bench::Server::start(url)?;
    let mut figures = Vec::new();
    let mut webhooks = None;
    let mut receiver = None;
    for &scenario in &scenarios {
        if scenario == bench::Scenario::AssignUnassignWebhook {
            // One endpoint, subscribed to everything, from here on.
            let r = bench::Receiver::start().await?;
            let id = subscribe(server.addr, bench::admin_key(&world), &r.url).await?;
            receiver = Some((r, id));
        }
        let f = bench::measure(world.clone(), scenario, server.addr, plan).await;
        eprintln!(
            "{:<22} {:>8.0} req/s  p99 {:.2} ms  errors {}",
            f.name, f.rps, f.p99_ms, f.errors
        );
        if scenario == bench::Scenario::AssignUnassignWebhook
            && let Some((r, id)) = receiver.take()
        {
            webhooks = Some(delivery_figures(&world, &r).await);
            // The scenarios after it run without the endpoint.
            unsubscribe(server.addr, bench::admin_key(&world), id).await?;
        }
        figures.push(f);
    }
    // The feed's lag, with no other load (before the sweep, which makes
    // events of its own).
    let feed = if wanted("feed") {
        let f = bench::feed_lag(world.clone(), server.addr, plan).await?;
        eprintln!(
            "{:<22} {} changes, lag p50 {:.2} ms, p99 {:.2} ms",
            "feed", f.samples, f.p50_ms, f.p99_ms
        );
        Some(f)
    } else {
        None
    };
    // Last, as it gives the big holder's numbers to the small holder: grants
    // ending at one second, swept while assign_unassign runs.
    let sweep = if wanted("sweep") {
        let core = open_with(url, StoreOptions::default()).await?;
        Some(bench::sweep(&core, url, world.clone(), server.addr, plan).await?)
    } else {
        None
    };
    if let Some(sweep) = &sweep {
        eprintln!(
            "{:<22} {:>8.0} req/s  p99 {:.2} ms  errors {}; {}",
            sweep.during.name,
            sweep.during.rps,
            sweep.during.p99_ms,
            sweep.during.errors,
            swept(sweep)
        );
        figures.push(sweep.during.clone());
    }
    // The items this build's bulk_assign sent; a baseline's count afresh.
    let bulk_items = world
        .bulk_items
        .swap(0, std::sync::atomic::Ordering::Relaxed);
    let rss = server.peak_rss_mb();
    drop(server);
    // An earlier build on the same world, for a before/after in one run.
    let baseline = match std::env::var_os(bench::BASELINE_ENV) {
        Some(exe) => {
            let exe = std::path::PathBuf::from(exe);
            let server = bench::Server::start_exe(&exe, url)?;
            let mut base = Vec::new();
            for &scenario in &scenarios {
                let f = bench::measure(world.clone(), scenario, server.addr, plan).await;
                eprintln!(
                    "baseline {:<13} {:>8.0} req/s  p99 {:.2} ms  errors {}",
                    f.name, f.rps, f.p99_ms, f.errors
                );
                base.push(f);
            }
            // The sweep again, on the baseline's sweeper: this build's ended
            // every grant it gave, so the same grants can be given again.
            let base_sweep = if sweep.is_some() {
                let core = open_with(url, StoreOptions::default()).await?;
                let s = bench::sweep(&core, url, world.clone(), server.addr, plan).await?;
                eprintln!(
                    "baseline {:<13} {:>8.0} req/s  p99 {:.2} ms  errors {}; {}",
                    s.during.name,
                    s.during.rps,
                    s.during.p99_ms,
                    s.during.errors,
                    swept(&s)
                );
                base.push(s.during.clone());
                Some(s)
            } else {
                None
            };
            Some((exe, base, server.peak_rss_mb(), base_sweep))
        }
        None => None,
    };
    // The database's own ceiling, once linekeeper's server is gone.
    let pg = if crate::store::postgres::is_postgres_url(url) {
        let pg = bench::pgbench(url, plan.duration).await?;
        eprintln!(
            "{:<22} {:>8.0} tps\n{:<22} {:>8.0} tps",
            "pgbench -N", pg.write_tps, "pgbench -S", pg.read_tps
        );
        Some(pg)
    } else {
        None
    };
    let clean = figures.iter().all(|f| f.errors == 0);
    let mut text = bench::report(&figures, rss, pg.as_ref(), json);
    if let Some(sweep) = &sweep {
        text = with_sweep(text, &figures, sweep, json)?;
    }
    // bulk_assign counts requests; its items per second against
    // assign_unassign's operations per second is the ratio.
    if let Some((per_request, items_per_s, ratio)) = bulk_ratio(&figures, bulk_items) {
        let round = |x: f64| (x * 10.0).round() / 10.0;
        if json {
            let mut v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| e.to_string())?;
            v["bulk"] = serde_json::json!({"items_per_request": round(per_request),
                "items_per_s": round(items_per_s), "vs_assign_unassign": round(ratio)});
            text = v.to_string();
        } else {
            text.push_str(&format!(
                "bulk_assign: {items_per_s:.0} items/s ({per_request:.0} items a request), {ratio:.1}x assign_unassign's operations/s\n"
            ));
        }
    }
    if let Some(f) = feed {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        if json {
            let mut v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| e.to_string())?;
            v["feed"] = serde_json::json!({"changes": f.samples, "lag_p50_ms": round(f.p50_ms),
                "lag_p99_ms": round(f.p99_ms), "lag_max_ms": round(f.max_ms)});
            text = v.to_string();
        } else {
            text.push_str(&format!(
                "feed: {} changes one at a time, each to a reader waiting on GET /lk/v1/events; lag (answer to the reader's receipt) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
                f.samples, f.p50_ms, f.p99_ms, f.max_ms
            ));
        }
    }
    if let Some(w) = webhooks {
        let rps = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .map_or(0.0, |f| f.rps)
        };
        let ratio = match rps("assign_unassign") {
            0.0 => 0.0,
            base => rps("assign_unassign_webhook") / base,
        };
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        if json {
            let mut v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| e.to_string())?;
            v["webhooks"] = serde_json::json!({
                "rps_ratio_with_endpoint": round(ratio),
                "deliveries": w.delivered,
                "lag_p50_ms": round(w.p50),
                "lag_p99_ms": round(w.p99),
                "lag_max_ms": round(w.max),
                "undelivered_5s_after": w.missing,
            });
            text = v.to_string();
        } else {
            text.push_str(&format!(
                "webhooks: assign_unassign with one endpoint at {:.1}% of without; {} deliveries, lag (answer to receiver) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; undelivered 5 s after: {}\n",
                ratio * 100.0,
                w.delivered,
                w.p50,
                w.p99,
                w.max,
                w.missing
            ));
        }
    }
    if let Some((exe, base, base_rss, base_sweep)) = baseline {
        let mut other = bench::report(&base, base_rss, pg.as_ref(), json);
        if let Some(sweep) = &base_sweep {
            other = with_sweep(other, &base, sweep, json)?;
        }
        let items = world.bulk_items.load(std::sync::atomic::Ordering::Relaxed);
        if let (false, Some((per_request, items_per_s, ratio))) = (json, bulk_ratio(&base, items)) {
            other.push_str(&format!(
                "bulk_assign: {items_per_s:.0} items/s ({per_request:.0} items a request), {ratio:.1}x assign_unassign's operations/s\n"
            ));
        }
        text = if json {
            format!(
                "{{\"run\":{text},\"baseline\":{{\"server\":{},\"report\":{other}}}}}",
                serde_json::Value::from(exe.display().to_string())
            )
        } else {
            format!("{text}\nbaseline server {}:\n{other}", exe.display())
        };
    }
    Ok((text, clean))
}

/// `report` (one server's) with the sweep's figures: how long it took, and
/// assign_unassign's p99 during it against that server's own without it.
fn with_sweep(
    report: String,
    figures: &[bench::Figures],
    sweep: &bench::SweepFigures,
    json: bool,
) -> Result<String, String> {
    let Some(alone) = figures.iter().find(|f| f.name == "assign_unassign") else {
        return Ok(report);
    };
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    // None when the sweep was over before the connections had opened (a
    // small world): nothing was measured during it.
    let p99_ratio = match (sweep.during.requests, alone.p99_ms) {
        (0, _) => None,
        (_, 0.0) => Some(0.0),
        (_, base) => Some(sweep.during.p99_ms / base),
    };
    if json {
        let mut v: serde_json::Value = serde_json::from_str(&report).map_err(|e| e.to_string())?;
        v["sweep"] = serde_json::json!({"grants": sweep.grants,
            "started_after_s": sweep.started_after.map(round1),
            "swept_after_s": sweep.swept_after.map(round1),
            "assign_unassign_p99_ratio": p99_ratio.map(round1)});
        Ok(v.to_string())
    } else {
        Ok(format!(
            "{report}sweep: {} grants ending at one second, {}; assign_unassign meanwhile: {}\n",
            sweep.grants,
            swept(sweep),
            p99_ratio.map_or(
                "not measured (the sweep was over before its connections opened)".to_owned(),
                |r| format!("p99 {r:.1}x its own")
            )
        ))
    }
}

/// When the sweep started and ended, from the grants' end.
fn swept(sweep: &bench::SweepFigures) -> String {
    let wait = bench::SWEEP_WAIT.as_secs();
    match (sweep.started_after, sweep.swept_after) {
        (None, _) => format!("the sweeper did not start on them within {wait} s"),
        (Some(a), None) => format!("first swept {a:.1} s after, not all within {wait} s"),
        (Some(a), Some(b)) => format!("first swept {a:.1} s after, all {b:.1} s after"),
    }
}

/// bulk_assign's items a request, items per second, and their ratio to
/// assign_unassign's operations per second, from one server's figures and
/// the items its bulk_assign sent.
fn bulk_ratio(figures: &[bench::Figures], items: u64) -> Option<(f64, f64, f64)> {
    let find = |name: &str| figures.iter().find(|f| f.name == name);
    let (b, a) = (find("bulk_assign")?, find("assign_unassign")?);
    if b.requests == 0 || a.rps <= 0.0 {
        return None;
    }
    // Items sent per request made (every request of a step is answered,
    // the last step's too, and counted in `requests`).
    let per_request = items as f64 / b.requests as f64;
    let items_per_s = b.rps * per_request;
    Some((per_request, items_per_s, items_per_s / a.rps))
}

/// The webhook scenario's deliveries, once they stop arriving (5 s at most).
struct DeliveryFigures {
    delivered: usize,
    p50: f64,
    p99: f64,
    max: f64,
    missing: usize,
}

async fn delivery_figures(world: &bench::World, r: &bench::Receiver) -> DeliveryFigures {
    let answered = world.answered.lock().map(|a| a.clone()).unwrap_or_default();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until && r.lags(&answered).1 > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (lags, missing) = r.lags(&answered);
    DeliveryFigures {
        delivered: lags.len(),
        p50: bench::quantile(&lags, 0.50),
        p99: bench::quantile(&lags, 0.99),
        max: lags.last().copied().unwrap_or(0.0),
        missing,
    }
}

/// Deletes the bench's webhook endpoint.
async fn unsubscribe(addr: std::net::SocketAddr, key: &str, id: i64) -> Result<(), String> {
    let mut http = crate::client::HttpClient::new(addr);
    let auth = format!("Bearer {key}");
    let res = http
        .request(
            "DELETE",
            &format!("/lk/v1/webhooks/{id}"),
            &[("authorization", &auth)],
            b"",
        )
        .await
        .map_err(|e| format!("deleting the bench's webhook endpoint: {e}"))?;
    match res.status {
        204 => Ok(()),
        s => Err(format!("deleting the bench's webhook endpoint: {s}")),
    }
}

/// Creates the bench's webhook endpoint through the server's native face;
/// its id.
async fn subscribe(addr: std::net::SocketAddr, key: &str, url: &str) -> Result<i64, String> {
    let mut http = crate::client::HttpClient::new(addr);
    let auth = format!("Bearer {key}");
    let body = serde_json::json!({"url": url, "types": ["*"]}).to_string();
    let res = http
        .request(
            "POST",
            "/lk/v1/webhooks",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            body.as_bytes(),
        )
        .await
        .map_err(|e| format!("creating the bench's webhook endpoint: {e}"))?;
    match (res.status, res.json()["id"].as_i64()) {
        (201, Some(id)) => Ok(id),
        (s, _) => Err(format!(
            "creating the bench's webhook endpoint: {s} {}",
            String::from_utf8_lossy(&res.body)
        )),
    }
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

/// Logs to standard error, filtered by the configuration's `log`, in its
/// `log_format` (`json`: one JSON object a line). Every line of a request
/// carries its span (id, method, matched route; status and latency once
/// answered).
fn init_tracing(config: &Config) {
    let json = config.log_format == LogFormat::Json;
    // Colours only for a terminal, not for a file or a collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing::subscriber::set_global_default(log_subscriber(
        &config.log,
        json,
        ansi,
        std::io::stderr,
    ));
}

/// The subscriber `serve` logs through: `filter` in `EnvFilter` syntax
/// (`info` if it does not parse), writing to `writer` (public so a test can
/// capture what the server logs).
pub fn log_subscriber<W>(
    filter: &str,
    json: bool,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
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
