//! Worker heartbeats: one row per worker, updated after every pass.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::schema::worker_heartbeats;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = worker_heartbeats)]
pub struct Heartbeat {
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub embedded: bool,
    pub poll_interval_ms: i64,
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

/// Workers, most recently started first.
pub fn list(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<Heartbeat>> {
    let mut query = worker_heartbeats::table.select(Heartbeat::as_select()).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(worker_heartbeats::id.lt(after.clone()));
    }
    query.order(worker_heartbeats::id.desc()).limit(page.fetch()).load(conn)
}
