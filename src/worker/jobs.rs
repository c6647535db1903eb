//! The kinds of job the worker runs. Each claims its own work from the
//! database and handles its own failures, so one bad item never stops the
//! others, and says when it next has work so the runner can wake for it.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::doorbell::Doorbell;
use crate::clock::Clock;
use crate::db::DbConnection;
use crate::error::AppResult;
use crate::service::{deliveries, idempotency, releases, rollouts, workers};

/// The job that carries out due releases.
pub const DUE_RELEASES: &str = "due_releases";
/// The job that removes what has expired.
pub const HOUSEKEEPING: &str = "housekeeping";

/// What a job is given for one pass.
pub struct JobContext<'a> {
    pub clock: &'a dyn Clock,
    /// The worker running the job.
    pub worker_id: &'a str,
    pub(super) doorbell: &'a Doorbell,
}

impl JobContext<'_> {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether the worker was asked to stop: a job stops between items.
    pub fn stopping(&self) -> bool {
        self.doorbell.is_stopped()
    }
}

/// How one pass of a job went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobPass {
    /// Items done (releases carried out, expired rows removed).
    pub done: usize,
    /// Items set aside as failed.
    pub failed: usize,
    /// When the job next has work, if it knows; otherwise the poll finds out.
    pub next_due: Option<DateTime<Utc>>,
}

pub trait Job: Send {
    /// A stable name, used in logs, heartbeats and doorbell rings.
    fn kind(&self) -> &'static str;

    /// Does the work due now. An error means the pass could not be made (the
    /// database is unavailable, say): the runner retries it with backoff.
    fn run(&mut self, conn: &mut DbConnection, ctx: &JobContext) -> AppResult<JobPass>;
}

/// Carries out every due release, one transaction each, oldest first (a
/// release that meets an unexpected error is failed and the rest go on),
/// then every due wave of a rollout, likewise.
pub struct DueReleases;

impl Job for DueReleases {
    fn kind(&self) -> &'static str {
        DUE_RELEASES
    }

    fn run(&mut self, conn: &mut DbConnection, ctx: &JobContext) -> AppResult<JobPass> {
        let mut pass = JobPass::default();
        while !ctx.stopping() {
            let started = Instant::now();
            let Some(outcome) = releases::execute_next_due(conn, ctx.now())? else { break };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &outcome.failure {
                None => {
                    pass.done += 1;
                    tracing::info!(
                        release = %outcome.release_id,
                        pack = %outcome.pack_id,
                        pushed = outcome.pushed,
                        elapsed_ms,
                        late = outcome.late_by_seconds.is_some(),
                        late_by_seconds = outcome.late_by_seconds.unwrap_or(0),
                        "carried out release"
                    );
                }
                Some(reason) => {
                    pass.failed += 1;
                    tracing::error!(release = %outcome.release_id, pack = %outcome.pack_id, %reason, "release failed");
                }
            }
        }
        // Then the rollouts' due waves, each like a release: one transaction.
        while !ctx.stopping() {
            let started = Instant::now();
            let Some(run) = rollouts::execute_next_due_wave(conn, ctx.now())? else { break };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match run {
                rollouts::WaveRun::Started { release_id, pushed, finished } => {
                    pass.done += 1;
                    tracing::info!(release = %release_id, pushed, finished, elapsed_ms, "carried out a rollout wave");
                }
                rollouts::WaveRun::Halted { release_id, reason } => {
                    tracing::warn!(release = %release_id, %reason, "rollout halted");
                }
                rollouts::WaveRun::Skipped => break,
            }
        }
        let waves = rollouts::next_due_at(conn)?;
        pass.next_due = match (releases::next_due_at(conn)?, waves) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(pass)
    }
}

/// How long the row of a worker that stopped, or went silent, is kept.
const STALE_WORKER_AFTER: chrono::Duration = chrono::Duration::days(1);

/// How long events and finished deliveries are kept by default.
pub const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// Removes expired idempotency keys, the heartbeats of workers stopped or
/// silent for a day (so cron-style `--once` runs do not pile up), and events
/// and finished deliveries older than the retention.
pub struct Housekeeping {
    pub retention: chrono::Duration,
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self { retention: DEFAULT_RETENTION }
    }
}

impl Job for Housekeeping {
    fn kind(&self) -> &'static str {
        HOUSEKEEPING
    }

    fn run(&mut self, conn: &mut DbConnection, ctx: &JobContext) -> AppResult<JobPass> {
        let expired = idempotency::expire(conn, ctx.now())?;
        let stale = workers::remove_stale(conn, ctx.now() - STALE_WORKER_AFTER, ctx.worker_id)?;
        let old = deliveries::remove_older_than(conn, ctx.now() - self.retention)?;
        Ok(JobPass { done: expired + stale + old, ..JobPass::default() })
    }
}
