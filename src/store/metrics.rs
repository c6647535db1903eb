//! What `/metrics` reads from the database: small aggregates over the release
//! schedule, the workers' job rows and the delivery queue.

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::heartbeats::{JobStats, RetiredTotals};
use crate::db::DbConnection;
use crate::schema::{releases, rollout_waves, rollouts, webhook_deliveries, worker_jobs};

/// Rows per value of a status column.
pub type StatusCounts = Vec<(String, i64)>;

pub fn releases_by_status(conn: &mut DbConnection) -> QueryResult<StatusCounts> {
    releases::table.group_by(releases::status).select((releases::status, count_star())).load(conn)
}

/// Dated releases whose time has come and that the worker has not carried
/// out yet, and nightly rollout waves likewise.
pub fn due_not_done(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<(i64, i64)> {
    let releases = releases::table
        .filter(releases::status.eq("scheduled"))
        .filter(releases::due_at.le(now))
        .count()
        .get_result(conn)?;
    let waves = rollouts::table
        .inner_join(releases::table)
        .filter(releases::status.eq("in_progress"))
        .filter(rollouts::next_due_at.le(now))
        .count()
        .get_result(conn)?;
    Ok((releases, waves))
}

/// `(due_at, went out)` of every dated release the worker carried out: when a
/// plain release was released, or when a rollout's first wave started.
pub fn carried_out(conn: &mut DbConnection) -> QueryResult<Vec<(NaiveDateTime, NaiveDateTime)>> {
    let plain: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = releases::table
        .filter(releases::schedule.eq("on_date"))
        .filter(releases::released_at.is_not_null())
        .filter(releases::id.ne_all(rollouts::table.select(rollouts::release_id)))
        .select((releases::due_at, releases::released_at))
        .load(conn)?;
    let rolled: Vec<(NaiveDateTime, Option<NaiveDateTime>)> = rollout_waves::table
        .inner_join(rollouts::table.inner_join(releases::table))
        .filter(releases::schedule.eq("on_date"))
        .filter(rollout_waves::wave.eq(0))
        .filter(rollout_waves::started_at.is_not_null())
        .select((releases::due_at, rollout_waves::started_at))
        .load(conn)?;
    Ok(plain.into_iter().chain(rolled).filter_map(|(due, out)| out.map(|out| (due, out))).collect())
}

/// Every live worker's job rows (a handful per worker), and what removed
/// workers had counted.
pub fn worker_jobs(conn: &mut DbConnection) -> QueryResult<(Vec<JobStats>, Vec<RetiredTotals>)> {
    Ok((worker_jobs::table.select(JobStats::as_select()).load(conn)?, super::heartbeats::retired_totals(conn)?))
}

pub fn deliveries_by_status(conn: &mut DbConnection) -> QueryResult<StatusCounts> {
    webhook_deliveries::table
        .group_by(webhook_deliveries::status)
        .select((webhook_deliveries::status, count_star()))
        .load(conn)
}

/// When the oldest delivery still waiting to be sent was made.
pub fn oldest_pending_delivery(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq("pending"))
        .select(min(webhook_deliveries::created_at))
        .first(conn)
}

/// The size of a SQLite database's write-ahead log in bytes; `None` on
/// PostgreSQL (or an in-memory database).
pub fn sqlite_wal_bytes(conn: &mut DbConnection) -> QueryResult<Option<u64>> {
    #[derive(QueryableByName)]
    struct File {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    let DbConnection::Sqlite(sqlite) = conn else { return Ok(None) };
    let main: Option<File> =
        diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'").get_result(sqlite).optional()?;
    Ok(main.filter(|m| !m.file.is_empty()).map(|m| {
        // No WAL file (nothing written since the last checkpoint truncated it) is an empty one.
        std::fs::metadata(format!("{}-wal", m.file)).map_or(0, |meta| meta.len())
    }))
}
