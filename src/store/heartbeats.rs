//! Worker heartbeats: one row per worker, updated after every pass, and one
//! row per kind of job it runs.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::{worker_heartbeats, worker_job_totals, worker_jobs};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = worker_heartbeats)]
pub struct Heartbeat {
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub embedded: bool,
    pub poll_interval_ms: i64,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub started_at: NaiveDateTime,
    pub last_pass_at: Option<NaiveDateTime>,
    pub passes: i64,
    pub releases_carried_out: i64,
    pub last_error: Option<String>,
    pub stopped_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, heartbeat: &Heartbeat) -> QueryResult<()> {
    diesel::insert_into(worker_heartbeats::table).values(heartbeat).execute(conn).map(drop)
}

/// Records a completed pass (clearing any error).
pub fn record_pass(conn: &mut DbConnection, id: &str, at: NaiveDateTime, carried_out: i64) -> QueryResult<usize> {
    diesel::update(worker_heartbeats::table.find(id))
        .set((
            worker_heartbeats::last_pass_at.eq(Some(at)),
            worker_heartbeats::passes.eq(worker_heartbeats::passes + 1),
            worker_heartbeats::releases_carried_out.eq(worker_heartbeats::releases_carried_out + carried_out),
            worker_heartbeats::last_error.eq(None::<String>),
        ))
        .execute(conn)
}

pub fn record_error(conn: &mut DbConnection, id: &str, error: &str) -> QueryResult<usize> {
    diesel::update(worker_heartbeats::table.find(id)).set(worker_heartbeats::last_error.eq(Some(error))).execute(conn)
}

pub fn record_stop(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(worker_heartbeats::table.find(id)).set(worker_heartbeats::stopped_at.eq(Some(at))).execute(conn)
}

/// Removes the rows (and job rows) of workers stopped before `cutoff`, or
/// silent since before it, but `me`'s; returns how many.
pub fn remove_stale(conn: &mut DbConnection, cutoff: NaiveDateTime, me: &str) -> QueryResult<usize> {
    let stale = worker_heartbeats::stopped_at.lt(cutoff).or(worker_heartbeats::stopped_at.is_null().and(
        worker_heartbeats::last_pass_at
            .lt(cutoff)
            .or(worker_heartbeats::last_pass_at.is_null().and(worker_heartbeats::started_at.lt(cutoff))),
    ));
    let ids: Vec<String> = worker_heartbeats::table
        .filter(stale)
        .filter(worker_heartbeats::id.ne(me))
        .select(worker_heartbeats::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let jobs: Vec<JobStats> =
        worker_jobs::table.filter(worker_jobs::worker_id.eq_any(&ids)).select(JobStats::as_select()).load(conn)?;
    retire(conn, &jobs)?;
    diesel::delete(worker_jobs::table.filter(worker_jobs::worker_id.eq_any(&ids))).execute(conn)?;
    diesel::delete(worker_heartbeats::table.filter(worker_heartbeats::id.eq_any(&ids))).execute(conn)
}

/// What removed workers counted, per job.
#[derive(Debug, Clone, Default, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = worker_job_totals)]
pub struct RetiredTotals {
    pub job: String,
    pub passes: i64,
    pub done: i64,
    pub failed: i64,
    pub errors: i64,
}

/// Adds the counts of job rows about to be removed to the retired totals
/// (one row per kind of job: a handful of statements).
fn retire(conn: &mut DbConnection, jobs: &[JobStats]) -> QueryResult<()> {
    let mut totals: HashMap<&str, RetiredTotals> = HashMap::new();
    for row in jobs {
        let total =
            totals.entry(&row.job).or_insert_with(|| RetiredTotals { job: row.job.clone(), ..Default::default() });
        total.passes += row.passes;
        total.done += row.done;
        total.failed += row.failed;
        total.errors += row.errors;
    }
    use diesel::upsert::excluded;
    use worker_job_totals as t;
    for total in totals.values() {
        super::on_backend!(conn, |c| diesel::insert_into(t::table)
            .values(total)
            .on_conflict(t::job)
            .do_update()
            .set((
                t::passes.eq(t::passes + excluded(t::passes)),
                t::done.eq(t::done + excluded(t::done)),
                t::failed.eq(t::failed + excluded(t::failed)),
                t::errors.eq(t::errors + excluded(t::errors)),
            ))
            .execute(c))?;
    }
    Ok(())
}

pub fn retired_totals(conn: &mut DbConnection) -> QueryResult<Vec<RetiredTotals>> {
    worker_job_totals::table.select(RetiredTotals::as_select()).load(conn)
}

/// Workers, most recently started first.
pub fn list(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<Heartbeat>> {
    let mut query = worker_heartbeats::table.select(Heartbeat::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(worker_heartbeats::id.lt(after.clone()));
    }
    query.order(worker_heartbeats::id.desc()).limit(page.fetch()).load(conn)
}

/// One kind of job of one worker.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = worker_jobs)]
pub struct JobStats {
    pub worker_id: String,
    pub job: String,
    pub passes: i64,
    pub done: i64,
    pub failed: i64,
    pub errors: i64,
    pub last_pass_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub next_run_at: Option<NaiveDateTime>,
}

pub fn insert_jobs(conn: &mut DbConnection, jobs: &[JobStats]) -> QueryResult<()> {
    super::on_backend!(conn, |c| diesel::insert_into(worker_jobs::table).values(jobs).execute(c)).map(drop)
}

/// Records a completed pass of a job (clearing its error).
pub fn record_job_pass(
    conn: &mut DbConnection,
    worker_id: &str,
    job: &str,
    at: NaiveDateTime,
    (done, failed): (i64, i64),
    next_run_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(worker_jobs::table.find((worker_id, job)))
        .set((
            worker_jobs::passes.eq(worker_jobs::passes + 1),
            worker_jobs::done.eq(worker_jobs::done + done),
            worker_jobs::failed.eq(worker_jobs::failed + failed),
            worker_jobs::last_pass_at.eq(Some(at)),
            worker_jobs::last_error.eq(None::<String>),
            worker_jobs::next_run_at.eq(Some(next_run_at)),
        ))
        .execute(conn)
}

/// Records a pass of a job that could not be made.
pub fn record_job_error(
    conn: &mut DbConnection,
    worker_id: &str,
    job: &str,
    at: NaiveDateTime,
    error: &str,
    next_run_at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(worker_jobs::table.find((worker_id, job)))
        .set((
            worker_jobs::errors.eq(worker_jobs::errors + 1),
            worker_jobs::last_error.eq(Some(error)),
            worker_jobs::last_error_at.eq(Some(at)),
            worker_jobs::next_run_at.eq(Some(next_run_at)),
        ))
        .execute(conn)
}

/// The jobs of these workers by worker id, each worker's by name.
pub fn jobs_of(conn: &mut DbConnection, worker_ids: &[String]) -> QueryResult<HashMap<String, Vec<JobStats>>> {
    if worker_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<JobStats> = worker_jobs::table
        .filter(worker_jobs::worker_id.eq_any(worker_ids))
        .order((worker_jobs::worker_id.asc(), worker_jobs::job.asc()))
        .select(JobStats::as_select())
        .load(conn)?;
    let mut by_worker: HashMap<String, Vec<JobStats>> = HashMap::new();
    for row in rows {
        by_worker.entry(row.worker_id.clone()).or_default().push(row);
    }
    Ok(by_worker)
}
