//! The worker: a small runner of named jobs (`jobs`), shared by the
//! `packrelease-worker` binary and the runner `serve` starts in-process. Each
//! job has its own schedule, backoff and heartbeat counters, so one job's
//! trouble never holds up another. The runner sleeps until the earliest
//! instant a job says it next has work (a release's `due_at`), until the
//! doorbell rings (the same process's API wrote work), or at most one poll
//! interval, which notices work written by other processes.

mod deliveries;
mod doorbell;
pub mod jobs;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use deliveries::{Deliveries, DELIVERIES};
pub use doorbell::{Doorbell, Wake};
pub use jobs::{Housekeeping, Job, JobContext, JobPass, DUE_RELEASES, HOUSEKEEPING};

/// Every kind of job a worker runs.
pub const JOB_KINDS: [&str; 3] = [DUE_RELEASES, DELIVERIES, HOUSEKEEPING];

use crate::clock::Clock;
use crate::db::DbPool;
use crate::error::{AppError, AppResult};
use crate::store::heartbeats::{self, Heartbeat, JobStats};

/// A failed job is retried after 1 s, then waits that double up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// How soon a job looks again at work it knows is due but could not take
/// (another worker holds it).
const RECHECK: Duration = Duration::from_secs(1);

/// A job and when the runner runs it next.
struct Slot {
    job: Box<dyn Job>,
    next_run: DateTime<Utc>,
    backoff: Duration,
}

pub struct Worker {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    id: String,
    poll_interval: Duration,
    slots: Vec<Slot>,
    doorbell: Doorbell,
}

/// How a pass over every job went.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Per kind of job that ran: its pass, or why it could not be made.
    pub jobs: Vec<(&'static str, Result<JobPass, String>)>,
}

impl PassReport {
    /// Items the job `kind` did in this pass.
    pub fn done(&self, kind: &str) -> usize {
        self.jobs.iter().filter(|(k, _)| *k == kind).filter_map(|(_, pass)| pass.as_ref().ok()).map(|p| p.done).sum()
    }

    /// The first job error, if any job's pass could not be made.
    pub fn first_error(&self) -> Option<String> {
        self.jobs.iter().find_map(|(kind, pass)| pass.as_ref().err().map(|e| format!("{kind}: {e}")))
    }
}

impl Worker {
    /// Registers the worker's heartbeat row, with the default jobs: due
    /// releases and housekeeping.
    pub fn register(pool: DbPool, clock: Arc<dyn Clock>, poll_interval: Duration, embedded: bool) -> AppResult<Self> {
        let jobs: Vec<Box<dyn Job>> = vec![Box::new(jobs::DueReleases), Box::new(jobs::Housekeeping::default())];
        Self::with_jobs(pool, clock, poll_interval, embedded, jobs)
    }

    fn with_jobs(
        pool: DbPool,
        clock: Arc<dyn Clock>,
        poll_interval: Duration,
        embedded: bool,
        jobs: Vec<Box<dyn Job>>,
    ) -> AppResult<Self> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = clock.now();
        let heartbeat = Heartbeat {
            id: id.clone(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_string())
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            pid: i64::from(std::process::id()),
            embedded,
            poll_interval_ms: i64::try_from(poll_interval.as_millis()).unwrap_or(i64::MAX),
            started_at: now.naive_utc(),
            last_pass_at: None,
            passes: 0,
            releases_carried_out: 0,
            last_error: None,
            stopped_at: None,
        };
        let stats: Vec<JobStats> = jobs.iter().map(|job| new_job_stats(&id, job.kind(), now)).collect();
        pool.get()?.write_transaction(|conn| {
            heartbeats::insert(conn, &heartbeat)?;
            heartbeats::insert_jobs(conn, &stats)
        })?;
        let kinds: Vec<&str> = jobs.iter().map(|job| job.kind()).collect();
        tracing::info!(worker = %id, poll_interval_ms = heartbeat.poll_interval_ms, embedded, jobs = ?kinds, "release worker started");
        let slots = jobs.into_iter().map(|job| Slot { job, next_run: now, backoff: FIRST_BACKOFF }).collect();
        Ok(Self { pool, clock, id, poll_interval, slots, doorbell: Doorbell::default() })
    }

    /// Adds a job, or replaces the one of the same kind (housekeeping with
    /// another retention, say).
    pub fn with_job(mut self, job: Box<dyn Job>) -> AppResult<Self> {
        let now = self.clock.now();
        match self.slots.iter_mut().find(|slot| slot.job.kind() == job.kind()) {
            Some(slot) => slot.job = job,
            None => {
                let stats = new_job_stats(&self.id, job.kind(), now);
                self.pool.get()?.write_transaction(|conn| heartbeats::insert_jobs(conn, &[stats]))?;
                self.slots.push(Slot { job, next_run: now, backoff: FIRST_BACKOFF });
            }
        }
        Ok(self)
    }

    /// The bell that wakes this worker: give it to the API of the same process.
    pub fn doorbell(&self) -> Doorbell {
        self.doorbell.clone()
    }

    /// The worker answers this bell instead (one an API was built with).
    pub fn with_doorbell(self, doorbell: Doorbell) -> Self {
        Self { doorbell, ..self }
    }

    /// One pass of every job, whatever their schedule (for `--once` and tests).
    pub fn pass(&mut self) -> PassReport {
        self.run_jobs(|_| true)
    }

    /// Runs the jobs `due` picks, each with its own connection, failure
    /// handling and next run; then records the pass in the heartbeat.
    fn run_jobs(&mut self, due: impl Fn(&Slot) -> bool) -> PassReport {
        let mut report = PassReport::default();
        for slot in self.slots.iter_mut().filter(|slot| due(slot)) {
            let ctx = JobContext { clock: self.clock.as_ref(), worker_id: &self.id, doorbell: &self.doorbell };
            let started = self.clock.now();
            let kind = slot.job.kind();
            let outcome = self.pool.get().map_err(AppError::from).and_then(|mut conn| {
                let job = &mut slot.job;
                // A panic (a bug) fails this pass of this job, not the runner.
                std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut conn, &ctx)))
                    .unwrap_or_else(|_| Err(AppError::internal(std::io::Error::other("the job panicked"))))
            });
            let now = self.clock.now();
            let recorded = match &outcome {
                Ok(pass) => {
                    slot.backoff = FIRST_BACKOFF;
                    slot.next_run = next_run(started, now, self.poll_interval, pass.next_due);
                    self.pool.get().map_err(AppError::from).and_then(|mut conn| {
                        let counts = (pass.done as i64, pass.failed as i64);
                        let next = slot.next_run.naive_utc();
                        Ok(heartbeats::record_job_pass(&mut conn, &self.id, kind, started.naive_utc(), counts, next)?)
                    })
                }
                Err(error) => {
                    tracing::warn!(worker = %self.id, job = kind, error = %error.chain(), retry_in_s = slot.backoff.as_secs(), "worker job failed");
                    slot.next_run = now + slot.backoff;
                    slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
                    self.pool.get().map_err(AppError::from).and_then(|mut conn| {
                        let next = slot.next_run.naive_utc();
                        Ok(heartbeats::record_job_error(
                            &mut conn,
                            &self.id,
                            kind,
                            now.naive_utc(),
                            &error.to_string(),
                            next,
                        )?)
                    })
                }
            };
            if let Err(error) = recorded {
                tracing::debug!(worker = %self.id, job = kind, error = %error.chain(), "cannot record the job's pass");
            }
            report.jobs.push((kind, outcome.map_err(|e| e.to_string())));
        }
        self.record_pass(&report);
        report
    }

    fn record_pass(&self, report: &PassReport) {
        let Ok(mut conn) = self.pool.get() else { return };
        let _ = match report.first_error() {
            None => heartbeats::record_pass(
                &mut conn,
                &self.id,
                self.clock.now().naive_utc(),
                report.done(DUE_RELEASES) as i64,
            ),
            Some(error) => heartbeats::record_error(&mut conn, &self.id, &error),
        };
    }

    /// Runs jobs as they come due until the doorbell says stop.
    fn run(mut self) {
        loop {
            let now = self.clock.now();
            self.run_jobs(|slot| slot.next_run <= now);
            let wake_at = self.slots.iter().map(|slot| slot.next_run).min();
            let wait = wake_at
                .map(|at| (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(self.poll_interval)
                .min(self.poll_interval);
            match self.doorbell.wait(wait) {
                Wake::Stop => break,
                Wake::Rung(kinds) => {
                    let now = self.clock.now();
                    for slot in self.slots.iter_mut().filter(|slot| kinds.contains(&slot.job.kind())) {
                        slot.next_run = slot.next_run.min(now);
                    }
                }
                Wake::Timeout => {}
            }
        }
        self.finish();
        tracing::info!(worker = %self.id, "release worker stopped");
    }

    /// Runs the loop on its own thread.
    pub fn spawn(self) -> WorkerHandle {
        let doorbell = self.doorbell.clone();
        let thread = std::thread::Builder::new()
            .name("release-worker".into())
            .spawn(move || self.run())
            .expect("spawn the worker thread");
        WorkerHandle { doorbell, thread }
    }

    /// Marks the worker stopped (for `--once`).
    pub fn finish(&self) {
        if let Ok(mut conn) = self.pool.get() {
            let _ = heartbeats::record_stop(&mut conn, &self.id, self.clock.now().naive_utc());
        }
    }
}

/// The counters of a job that has not run yet, due at once.
fn new_job_stats(worker_id: &str, kind: &str, now: DateTime<Utc>) -> JobStats {
    JobStats {
        worker_id: worker_id.to_string(),
        job: kind.to_string(),
        passes: 0,
        done: 0,
        failed: 0,
        errors: 0,
        last_pass_at: None,
        last_error: None,
        last_error_at: None,
        next_run_at: Some(now.naive_utc()),
    }
}

/// When a job whose pass began at `started` and ended at `now` runs next: when
/// it says it has work, and at least once a poll. Work that was due when the
/// pass began but is still there was taken by another worker: look again
/// shortly, not in a busy loop.
fn next_run(
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    poll_interval: Duration,
    next_due: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let poll = now + poll_interval;
    match next_due {
        Some(due) if due <= started => (now + RECHECK).min(poll),
        Some(due) => due.min(poll),
        None => poll,
    }
}

pub struct WorkerHandle {
    doorbell: Doorbell,
    thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the loop to stop and waits: a release in hand is finished first.
    pub fn stop(self) {
        self.doorbell.stop();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_next_when_its_work_comes_due_and_at_least_once_a_poll() {
        let now: DateTime<Utc> = "2026-12-02T04:59:58Z".parse().unwrap();
        let poll = Duration::from_secs(10);
        let due: DateTime<Utc> = "2026-12-02T05:00:00Z".parse().unwrap();
        assert_eq!(next_run(now, now, poll, Some(due)), due);
        assert_eq!(next_run(now, now, poll, None), now + poll);
        assert_eq!(next_run(now, now, poll, Some(now + chrono::Duration::hours(5))), now + poll);
        let taken_elsewhere = now - chrono::Duration::seconds(3);
        assert_eq!(next_run(now, now, poll, Some(taken_elsewhere)), now + RECHECK);
        // Work that came due while the pass ran is run at once.
        let later = due + chrono::Duration::milliseconds(5);
        assert_eq!(next_run(now, later, poll, Some(due)), due);
    }
}
