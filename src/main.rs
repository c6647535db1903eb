//! The `packrelease` command: `serve` (the default), `migrate`, `openapi`, and
//! operator commands for admin tokens and publisher accounts.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use packrelease::app::{Application, ServerConfig};
use packrelease::clock::{Clock, SystemClock};
use packrelease::config::{DatabaseArgs, LogArgs, ServeArgs};
use packrelease::db::{self, DatabaseUrl};
use packrelease::http::metrics::MetricsAt;
use packrelease::service::accounts;
use packrelease::worker::Worker;

#[derive(Parser)]
#[command(name = "packrelease", version, about = "Publish integration packs to subscriber accounts.")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    logging: LogArgs,
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s options, also accepted with no subcommand.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI contract as JSON.
    Openapi,
    /// Mint a new admin token and print it (shown once).
    AdminToken,
    /// Create a publisher account and print it with a new token for it.
    CreatePublisher {
        /// The publisher's display name.
        name: String,
    },
}

fn main() -> ExitCode {
    packrelease::db::prepare_postgres_client();
    let cli = Cli::parse();
    let _flushed_at_exit = packrelease::config::init_logging(&cli.logging);
    packrelease::config::exit_code(run(cli))
}

fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.serve)));
    if let Command::Openapi = command {
        let contract = packrelease::http::openapi();
        println!("{}", serde_json::to_string_pretty(&contract).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let url = DatabaseUrl::parse(&cli.database.database_url)?;
    match command {
        Command::Serve(args) => serve(&url, *args),
        Command::Migrate => {
            let mut conn = url.connect_at_startup(std::time::Duration::from_secs(10))?;
            let applied = db::run_migrations(&mut conn)?;
            println!("applied {applied} migration(s) to {}", url.redacted());
            Ok(())
        }
        Command::AdminToken => {
            let mut conn = db::open(&url, 1)?.get().map_err(|e| e.to_string())?;
            let token =
                accounts::mint_admin_token(&mut conn, SystemClock.now().naive_utc()).map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::CreatePublisher { name } => {
            let mut conn = db::open(&url, 1)?.get().map_err(|e| e.to_string())?;
            let (account, token) =
                accounts::create_publisher(&mut conn, SystemClock.now(), &name).map_err(|e| e.to_string())?;
            let out =
                serde_json::json!({ "id": account.id, "name": account.name, "kind": account.kind, "token": token });
            println!("{out}");
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

fn serve(url: &DatabaseUrl, args: ServeArgs) -> Result<(), String> {
    let pool = db::open(url, args.pool_size)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if args.admin_token.is_none() {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        if let Some(token) =
            accounts::first_admin_token(&mut conn, clock.now().naive_utc()).map_err(|e| e.to_string())?
        {
            println!("No admin token was configured, so one was created. It is shown only this once:\n\n    {token}\n");
            println!("Mint another any time with `packrelease admin-token`, or set PACKRELEASE_ADMIN_TOKEN.");
        }
    }
    let worker = match args.no_worker {
        true => None,
        false => Some(args.worker.register(pool.clone(), clock.clone(), true)?),
    };
    let config = ServerConfig {
        bind: args.bind.clone(),
        admin_token: args.admin_token,
        max_body_bytes: args.max_body_bytes,
        body_read_timeout: args.body_read_timeout,
        release_time_zone: args.release.release_time_zone,
        cors_allowed_origins: args.cors_allowed_origins,
        idempotency_wait: packrelease::config::IDEMPOTENCY_WAIT,
        webhook_guard: args.worker.webhooks.url_guard()?,
        metrics: args.metrics,
        // Schedule changes made through this API wake the embedded worker at once.
        doorbell: worker.as_ref().map(Worker::doorbell).unwrap_or_default(),
    };
    let worker = worker.map(Worker::spawn);
    let served = actix_web::rt::System::new().block_on(async move {
        let app =
            Application::build(&config, pool, clock).map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        if let (MetricsAt::Bind(address), Some(port)) = (&config.metrics, app.metrics_port()) {
            tracing::info!("metrics at http://{}:{port}/metrics", host_of(address));
        }
        tracing::info!(
            database = %url.redacted(),
            "packrelease listening on http://{}:{} (Swagger UI at /swagger-ui/)",
            host_of(&config.bind),
            app.port()
        );
        app.run().await.map_err(|e| e.to_string())
    });
    // The server has stopped (SIGINT/SIGTERM): let the worker finish the release in hand.
    if let Some(worker) = worker {
        worker.stop();
    }
    served
}

/// The host of a bind address such as `127.0.0.1:8080`.
fn host_of(bind: &str) -> &str {
    bind.rsplit_once(':').map_or("127.0.0.1", |(host, _)| host)
}
