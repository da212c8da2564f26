//! The command line: `serve` and `admin ...`. Other tooling drives these, so
//! their arguments and outputs are a contract: every `admin` command prints
//! one JSON object on its last line of standard output (`create-key` the key
//! alone), and bad arguments get a message on standard error, a non-zero exit
//! and no change.

mod demo;
mod import;
pub mod output;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Args, Parser, Subcommand};
use serde_json::json;

use crate::app::{self, DEFAULT_DATABASE_URL, Settings};
use crate::core::Core;
use crate::core::admin::{AccountSpec, NumberSpec};
use crate::domain::{E164, SystemClock};
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
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("linekeeper: {message}");
    ExitCode::FAILURE
}

async fn open(url: &str) -> Result<Core, String> {
    let settings = Settings {
        database_url: url.to_owned(),
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
    let core = match open(&args.db.database_url).await {
        Ok(core) => core,
        Err(e) => return fail(&e),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    if args.demo {
        match demo::seed(&core).await {
            Ok(Some(world)) => println!("{}", demo::instructions(&world, addr)),
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
    match app::launch(core, listener, shutdown_signal()).await {
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

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEKEEPER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
