//! The release worker: a loop that carries out due releases, shared by the
//! `packrelease-worker` binary and the loop `serve` runs in-process. Each
//! release is one transaction (see `service::releases::execute_next_due`), so
//! a crash leaves it wholly done or still scheduled, and several workers on
//! one PostgreSQL never carry out a release twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::db::DbPool;
use crate::error::{AppError, AppResult};
use crate::service::releases::{execute_next_due, Executed};
use crate::store::heartbeats::{self, Heartbeat};

/// Waits between failed passes grow to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Worker {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    id: String,
    poll_interval: Duration,
    stopping: Arc<AtomicBool>,
}

impl Worker {
    /// Registers the worker's heartbeat row.
    pub fn register(pool: DbPool, clock: Arc<dyn Clock>, poll_interval: Duration, embedded: bool) -> AppResult<Self> {
        let id = uuid::Uuid::now_v7().to_string();
        let heartbeat = Heartbeat {
            id: id.clone(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_string())
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            pid: i64::from(std::process::id()),
            embedded,
            poll_interval_ms: i64::try_from(poll_interval.as_millis()).unwrap_or(i64::MAX),
            started_at: clock.now().naive_utc(),
            last_pass_at: None,
            passes: 0,
            releases_carried_out: 0,
            last_error: None,
            stopped_at: None,
        };
        heartbeats::insert(&mut *pool.get()?, &heartbeat)?;
        tracing::info!(worker = %id, poll_interval_ms = heartbeat.poll_interval_ms, embedded, "release worker started");
        Ok(Self { pool, clock, id, poll_interval, stopping: Arc::new(AtomicBool::new(false)) })
    }

    /// One pass: carries out every release due now, oldest first, one
    /// transaction each, stopping early (between releases) when asked to.
    pub fn pass(&self) -> AppResult<Vec<Executed>> {
        let mut conn = self.pool.get()?;
        let mut done = Vec::new();
        while !self.stopping.load(Ordering::SeqCst) {
            let started = Instant::now();
            let Some(outcome) = execute_next_due(&mut conn, self.clock.now())? else { break };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &outcome.failure {
                None => tracing::info!(
                    release = %outcome.release_id,
                    pack = %outcome.pack_id,
                    pushed = outcome.pushed,
                    elapsed_ms,
                    late = outcome.late_by_seconds.is_some(),
                    late_by_seconds = outcome.late_by_seconds.unwrap_or(0),
                    "carried out release"
                ),
                Some(reason) => {
                    tracing::error!(release = %outcome.release_id, pack = %outcome.pack_id, %reason, "release failed")
                }
            }
            done.push(outcome);
        }
        crate::service::idempotency::expire(&mut conn, self.clock.now())?;
        heartbeats::record_pass(&mut conn, &self.id, self.clock.now().naive_utc(), done.len() as i64)?;
        Ok(done)
    }

    /// Passes every poll interval until `stop` says so; a failed pass (the
    /// database is down, say) is logged and retried with growing waits.
    fn run(&self, stop: &mpsc::Receiver<()>) {
        let mut backoff = Duration::from_secs(1);
        let mut wait = Duration::ZERO;
        // A message, or the handle dropped, means stop; a timeout means pass again.
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(wait) {
            match self.pass() {
                Ok(_) => {
                    backoff = Duration::from_secs(1);
                    wait = self.poll_interval;
                }
                Err(error) => {
                    tracing::warn!(worker = %self.id, error = %error_chain(&error), retry_in_s = backoff.as_secs(), "worker pass failed");
                    if let Ok(mut conn) = self.pool.get() {
                        let _ = heartbeats::record_error(&mut conn, &self.id, &error.to_string());
                    }
                    wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Ok(mut conn) = self.pool.get() {
            let _ = heartbeats::record_stop(&mut conn, &self.id, self.clock.now().naive_utc());
        }
        tracing::info!(worker = %self.id, "release worker stopped");
    }

    /// Runs the loop on its own thread.
    pub fn spawn(self) -> WorkerHandle {
        let (sender, receiver) = mpsc::channel();
        let stopping = self.stopping.clone();
        let thread = std::thread::Builder::new()
            .name("release-worker".into())
            .spawn(move || self.run(&receiver))
            .expect("spawn the worker thread");
        WorkerHandle { sender, stopping, thread }
    }

    /// Marks the worker stopped (for `--once`).
    pub fn finish(&self) {
        if let Ok(mut conn) = self.pool.get() {
            let _ = heartbeats::record_stop(&mut conn, &self.id, self.clock.now().naive_utc());
        }
    }
}

fn error_chain(error: &AppError) -> String {
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

pub struct WorkerHandle {
    sender: mpsc::Sender<()>,
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the loop to stop and waits: a release in hand is finished first.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.sender.send(());
        let _ = self.thread.join();
    }
}
