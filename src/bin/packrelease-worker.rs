//! `packrelease-worker`: runs the worker's jobs (due releases, webhook deliveries, housekeeping)
//! until SIGTERM/SIGINT, or one pass of each with `--once`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use packrelease::clock::{Clock, SystemClock};
use packrelease::config::{DatabaseArgs, LogArgs, WorkerArgs};
use packrelease::db::{self, DatabaseUrl};
use packrelease::worker::DUE_RELEASES;

#[derive(Parser)]
#[command(name = "packrelease-worker", version, about = "Carry out scheduled integration pack releases.")]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Run one pass over what is due now and exit (non-zero if the database cannot be reached).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    logging: LogArgs,
}

fn main() -> ExitCode {
    packrelease::db::prepare_postgres_client();
    let cli = Cli::parse();
    let _flushed_at_exit = packrelease::config::init_logging(&cli.logging);
    packrelease::config::exit_code(run(cli))
}

fn run(cli: Cli) -> Result<(), String> {
    let url = DatabaseUrl::parse(&cli.database.database_url)?;
    let pool = db::open(&url, 2)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if cli.once {
        let mut worker = cli.worker.register(pool, clock, false)?;
        let report = worker.pass();
        worker.finish();
        if let Some(error) = report.first_error() {
            return Err(format!("the pass failed: {error}"));
        }
        tracing::info!(carried_out = report.done(DUE_RELEASES), "pass complete");
        return Ok(());
    }
    // Handlers first, so a SIGTERM that comes as soon as the worker is up still stops it cleanly.
    let system = actix_web::rt::System::new();
    let signals = system.block_on(async { Signals::install() }).map_err(|e| format!("cannot handle signals: {e}"))?;
    let worker = cli.worker.register(pool, clock, false)?;
    let handle = worker.spawn();
    system.block_on(signals.wait());
    tracing::info!("stopping: finishing the release in hand");
    handle.stop();
    Ok(())
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    terminate: actix_web::rt::signal::unix::Signal,
    interrupt: actix_web::rt::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        Ok(Self { terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }

    async fn wait(mut self) {
        let terminated = std::pin::pin!(self.terminate.recv());
        let interrupted = std::pin::pin!(self.interrupt.recv());
        futures_util::future::select(terminated, interrupted).await;
    }
}
