//! The delivery job: each pass claims as many due deliveries as there are
//! free slots and hands them to a small async runtime that sends them
//! concurrently (never inside a transaction); a recorder writes the outcomes
//! in batches and rings the doorbell, so the next pass claims more at once.
//! A worker that dies mid-send leaves its claims to lapse and be sent again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::jobs::{Job, JobContext, JobPass};
use super::Doorbell;
use crate::clock::Clock;
use crate::db::{DbConnection, DbPool};
use crate::delivery::{Attempt, Sender};
use crate::error::{AppError, AppResult};
use crate::service::deliveries::{self, DeliveryRules, Outbound};

/// The job that sends webhook deliveries.
pub const DELIVERIES: &str = "deliveries";

/// Outcomes recorded in one transaction at most.
const RECORD_BATCH: usize = 256;

pub struct Deliveries {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    sender: Sender,
    rules: Arc<DeliveryRules>,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    in_flight: Arc<AtomicUsize>,
    /// Where sends report; the recorder starts with the first pass (it needs the doorbell).
    results: Option<mpsc::UnboundedSender<(Outbound, Attempt)>>,
}

impl Deliveries {
    pub fn new(pool: DbPool, clock: Arc<dyn Clock>, sender: Sender, rules: DeliveryRules) -> AppResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("webhook-delivery")
            .enable_all()
            .build()
            .map_err(AppError::internal)?;
        Ok(Self {
            pool,
            clock,
            sender,
            rules: Arc::new(rules),
            runtime: Some(runtime),
            in_flight: Arc::new(AtomicUsize::new(0)),
            results: None,
        })
    }

    /// Deliveries sent or being recorded right now (tests wait for zero).
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until the job is dropped")
    }

    fn results(&mut self, doorbell: &Doorbell) -> mpsc::UnboundedSender<(Outbound, Attempt)> {
        if let Some(results) = &self.results {
            return results.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Recorder {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            rules: self.rules.clone(),
            in_flight: self.in_flight.clone(),
            doorbell: doorbell.clone(),
        };
        self.runtime().spawn(recorder.run(rx));
        self.results = Some(tx.clone());
        tx
    }
}

impl Job for Deliveries {
    fn kind(&self) -> &'static str {
        DELIVERIES
    }

    fn run(&mut self, conn: &mut DbConnection, ctx: &JobContext) -> AppResult<JobPass> {
        let results = self.results(ctx.doorbell);
        let made = deliveries::make_deliveries(conn, ctx.now())?;
        if made > 0 {
            tracing::debug!(made, "made webhook deliveries");
        }
        let free = self.rules.max_in_flight.saturating_sub(self.in_flight.load(Ordering::SeqCst));
        let claimed = deliveries::claim_due(conn, ctx.now(), &self.rules, free)?;
        let full = claimed.len() == free;
        self.in_flight.fetch_add(claimed.len(), Ordering::SeqCst);
        let pass = JobPass { done: claimed.len(), ..JobPass::default() };
        for outbound in claimed {
            let (sender, results) = (self.sender.clone(), results.clone());
            self.runtime().spawn(async move {
                let attempt = sender.send(&outbound.message).await;
                // The recorder lives as long as the runtime; should it be gone, the lease lapses.
                let _ = results.send((outbound, attempt));
            });
        }
        // With every slot taken, the recorder's ring says when one frees.
        let next_due = if full { None } else { deliveries::next_due_at(conn, ctx.now())? };
        Ok(JobPass { next_due, ..pass })
    }
}

impl Drop for Deliveries {
    /// Gives sends in flight a moment to finish and be recorded; what is cut
    /// off keeps its lease and is sent again once it lapses. Inside another
    /// runtime (a test's), nothing may block: they are cut off at once.
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

/// Writes outcomes as they arrive, a batch per transaction, and frees their slots.
struct Recorder {
    pool: DbPool,
    clock: Arc<dyn Clock>,
    rules: Arc<DeliveryRules>,
    in_flight: Arc<AtomicUsize>,
    doorbell: Doorbell,
}

impl Recorder {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<(Outbound, Attempt)>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let results = std::mem::take(&mut batch);
            let count = results.len();
            let (pool, clock, rules) = (self.pool.clone(), self.clock.clone(), self.rules.clone());
            let recorded = tokio::task::spawn_blocking(move || {
                let mut conn = pool.get()?;
                let recorded = deliveries::record_attempts(&mut conn, clock.now(), &rules, &results)?;
                // Failed deliveries count against a rollout's current wave. A
                // check that cannot be made now is made when its next wave comes due.
                let releases = &recorded.unhealthy_candidates;
                if let Err(error) = crate::service::rollouts::check_health(&mut conn, releases, clock.now()) {
                    tracing::warn!(error = %error.chain(), ?releases, "cannot check the rollouts' health after failed deliveries; their next wave will");
                }
                Ok::<_, crate::error::AppError>(recorded)
            })
            .await;
            match recorded {
                Ok(Ok(_)) => {}
                // Unrecorded attempts keep their lease; it lapses and they are sent again.
                Ok(Err(error)) => {
                    tracing::warn!(error = %error.chain(), count, "cannot record webhook attempts; they will be retried")
                }
                Err(error) => tracing::error!(%error, count, "recording webhook attempts panicked"),
            }
            self.in_flight.fetch_sub(count, Ordering::SeqCst);
            self.doorbell.ring(DELIVERIES);
        }
    }
}
