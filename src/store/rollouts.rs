//! Rollouts and their waves, the accounts' stable buckets, and the outcome
//! reports and failed deliveries that say how a wave's installations fare.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::PageRequest;
use crate::db::DbConnection;
use crate::domain::event::{DeliveryStatus, EventType};
use crate::domain::rollout::{Advance, Cohort, ReportOutcome, WaveStatus};
use crate::schema::{
    account_group_members, account_group_packs, installation_reports, pushes, rollout_buckets, rollout_cohorts,
    rollout_waves, rollouts, webhook_deliveries,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rollouts)]
pub struct Rollout {
    pub release_id: String,
    pub advance: Advance,
    pub halt_at_failed_percent: Option<i64>,
    pub previous_release_id: Option<String>,
    /// The last wave that went out (0 before the first).
    pub current_wave: i64,
    pub next_due_at: Option<NaiveDateTime>,
    pub halted_reason: Option<String>,
    pub halted_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub health_since: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rollout_waves)]
pub struct Wave {
    pub release_id: String,
    /// 1-based.
    pub wave: i64,
    pub account_group_id: Option<String>,
    pub percent: Option<i64>,
    pub status: WaveStatus,
    pub due_at: Option<NaiveDateTime>,
    pub started_at: Option<NaiveDateTime>,
    pub targeted: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = installation_reports)]
pub struct Report {
    pub release_id: String,
    pub installation_id: String,
    pub account_id: String,
    pub outcome: ReportOutcome,
    pub detail: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub reported_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, rollout: &Rollout, waves: &[Wave]) -> QueryResult<()> {
    diesel::insert_into(rollouts::table).values(rollout).execute(conn)?;
    super::on_backend!(conn, |c| diesel::insert_into(rollout_waves::table).values(waves).execute(c))?;
    Ok(())
}

/// The rollouts of these releases, with their waves in order, by release id.
pub fn for_releases(
    conn: &mut DbConnection,
    release_ids: &[String],
) -> QueryResult<HashMap<String, (Rollout, Vec<Wave>)>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let plans: Vec<Rollout> =
        rollouts::table.filter(rollouts::release_id.eq_any(release_ids)).select(Rollout::as_select()).load(conn)?;
    if plans.is_empty() {
        return Ok(HashMap::new());
    }
    let waves: Vec<Wave> = rollout_waves::table
        .filter(rollout_waves::release_id.eq_any(release_ids))
        .order((rollout_waves::release_id.asc(), rollout_waves::wave.asc()))
        .select(Wave::as_select())
        .load(conn)?;
    let mut by_release: HashMap<String, (Rollout, Vec<Wave>)> =
        plans.into_iter().map(|r| (r.release_id.clone(), (r, Vec::new()))).collect();
    for wave in waves {
        if let Some((_, list)) = by_release.get_mut(&wave.release_id) {
            list.push(wave);
        }
    }
    Ok(by_release)
}

/// The rollout of one release with its waves.
pub fn find(conn: &mut DbConnection, release_id: &str) -> QueryResult<Option<(Rollout, Vec<Wave>)>> {
    Ok(for_releases(conn, &[release_id.to_string()])?.remove(release_id))
}

pub fn save(conn: &mut DbConnection, rollout: &Rollout) -> QueryResult<usize> {
    diesel::update(rollouts::table.find(&rollout.release_id))
        .set((
            rollouts::current_wave.eq(rollout.current_wave),
            rollouts::next_due_at.eq(rollout.next_due_at),
            rollouts::halted_reason.eq(&rollout.halted_reason),
            rollouts::halted_at.eq(rollout.halted_at),
            rollouts::health_since.eq(rollout.health_since),
            rollouts::updated_at.eq(rollout.updated_at),
        ))
        .execute(conn)
}

/// Marks a wave gone out, with how many installations it moved.
pub fn start_wave(
    conn: &mut DbConnection,
    release_id: &str,
    wave: i64,
    at: NaiveDateTime,
    targeted: i64,
) -> QueryResult<usize> {
    diesel::update(rollout_waves::table.find((release_id, wave)))
        .set((
            rollout_waves::status.eq(WaveStatus::Started),
            rollout_waves::started_at.eq(Some(at)),
            rollout_waves::targeted.eq(Some(targeted)),
        ))
        .execute(conn)
}

/// The waves not gone out yet are canceled (an abort).
pub fn cancel_pending_waves(conn: &mut DbConnection, release_id: &str) -> QueryResult<usize> {
    diesel::update(
        rollout_waves::table
            .filter(rollout_waves::release_id.eq(release_id))
            .filter(rollout_waves::status.eq(WaveStatus::Pending)),
    )
    .set(rollout_waves::status.eq(WaveStatus::Canceled))
    .execute(conn)
}

/// Sets the due instants of the pending waves (`None` clears them).
pub fn set_wave_due(
    conn: &mut DbConnection,
    release_id: &str,
    due: &[(i64, Option<NaiveDateTime>)],
) -> QueryResult<()> {
    for (wave, at) in due {
        diesel::update(rollout_waves::table.find((release_id, *wave)))
            .set(rollout_waves::due_at.eq(*at))
            .execute(conn)?;
    }
    Ok(())
}

/// When the next wave of any rollout is due.
pub fn next_due_at(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    rollouts::table.select(diesel::dsl::min(rollouts::next_due_at)).first(conn)
}

/// Adds to the rollout's cohort the subscribed accounts of the pack that
/// `cohort` holds (members of its groups, or bucketed below its share) and
/// it does not have yet, in one statement. Returns how many it added.
pub fn extend_cohort(conn: &mut DbConnection, release_id: &str, pack_id: &str, cohort: &Cohort) -> QueryResult<usize> {
    let below = cohort.below.unwrap_or(crate::domain::rollout::BUCKETS);
    let bucketed = rollout_buckets::table
        .filter(rollout_buckets::pack_id.eq(pack_id))
        .filter(rollout_buckets::bucket.lt(below))
        .select(rollout_buckets::account_id);
    let cohort_members = diesel::alias!(account_group_members as cohort_members);
    let grouped = cohort_members
        .filter(cohort_members.field(account_group_members::group_id).eq_any(cohort.groups.clone()))
        .select(cohort_members.field(account_group_members::account_id));
    let taken =
        rollout_cohorts::table.filter(rollout_cohorts::release_id.eq(release_id)).select(rollout_cohorts::account_id);
    let sharing = account_group_packs::table
        .filter(account_group_packs::pack_id.eq(pack_id))
        .select(account_group_packs::group_id);
    let rows = account_group_members::table
        .filter(account_group_members::group_id.eq_any(sharing))
        .filter(
            account_group_members::account_id.eq_any(bucketed).or(account_group_members::account_id.eq_any(grouped)),
        )
        .filter(diesel::dsl::not(account_group_members::account_id.eq_any(taken)))
        .select((release_id.into_sql::<diesel::sql_types::Text>(), account_group_members::account_id))
        .distinct();
    super::on_backend!(conn, |c| diesel::insert_into(rollout_cohorts::table)
        .values(rows)
        .into_columns((rollout_cohorts::release_id, rollout_cohorts::account_id))
        .execute(c))
}

/// Drops from the rollout's cohort the accounts that are no longer
/// subscribed to the pack (they left its groups since a wave took them): a
/// wave reaches subscribed accounts only.
pub fn prune_cohort(conn: &mut DbConnection, release_id: &str, pack_id: &str) -> QueryResult<usize> {
    let sharing = account_group_packs::table
        .filter(account_group_packs::pack_id.eq(pack_id))
        .select(account_group_packs::group_id);
    let subscribed = account_group_members::table
        .filter(account_group_members::group_id.eq_any(sharing))
        .select(account_group_members::account_id);
    diesel::delete(
        rollout_cohorts::table
            .filter(rollout_cohorts::release_id.eq(release_id))
            .filter(diesel::dsl::not(rollout_cohorts::account_id.eq_any(subscribed))),
    )
    .execute(conn)
}

/// Subscribed accounts of the pack that have no bucket yet.
pub fn accounts_without_bucket(conn: &mut DbConnection, pack_id: &str) -> QueryResult<Vec<String>> {
    let bucketed =
        rollout_buckets::table.filter(rollout_buckets::pack_id.eq(pack_id)).select(rollout_buckets::account_id);
    account_group_members::table
        .inner_join(account_group_packs::table.on(account_group_packs::group_id.eq(account_group_members::group_id)))
        .filter(account_group_packs::pack_id.eq(pack_id))
        .filter(diesel::dsl::not(account_group_members::account_id.eq_any(bucketed)))
        .select(account_group_members::account_id)
        .distinct()
        .load(conn)
}

pub fn insert_buckets(conn: &mut DbConnection, pack_id: &str, buckets: &[(String, i64)]) -> QueryResult<usize> {
    let rows: Vec<_> = buckets
        .iter()
        .map(|(account, bucket)| {
            (
                rollout_buckets::pack_id.eq(pack_id),
                rollout_buckets::account_id.eq(account.as_str()),
                rollout_buckets::bucket.eq(*bucket),
            )
        })
        .collect();
    let mut inserted = 0;
    // Within SQLite's bound on parameters per statement.
    for chunk in rows.chunks(5_000) {
        inserted += super::on_backend!(conn, |c| diesel::insert_into(rollout_buckets::table).values(chunk).execute(c))?;
    }
    Ok(inserted)
}

/// The stored buckets of these accounts in this pack.
pub fn buckets_of(conn: &mut DbConnection, pack_id: &str, account_ids: &[String]) -> QueryResult<HashMap<String, i64>> {
    if account_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = rollout_buckets::table
        .filter(rollout_buckets::pack_id.eq(pack_id))
        .filter(rollout_buckets::account_id.eq_any(account_ids))
        .select((rollout_buckets::account_id, rollout_buckets::bucket))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Which of these groups each of these accounts belongs to.
pub fn memberships(
    conn: &mut DbConnection,
    account_ids: &[String],
    group_ids: &[String],
) -> QueryResult<HashMap<String, Vec<String>>> {
    if account_ids.is_empty() || group_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = account_group_members::table
        .filter(account_group_members::account_id.eq_any(account_ids))
        .filter(account_group_members::group_id.eq_any(group_ids))
        .select((account_group_members::account_id, account_group_members::group_id))
        .load(conn)?;
    let mut by_account: HashMap<String, Vec<String>> = HashMap::new();
    for (account, group) in rows {
        by_account.entry(account).or_default().push(group);
    }
    Ok(by_account)
}

/// Records a report; a later one for the same release and installation replaces it.
pub fn upsert_report(conn: &mut DbConnection, report: &Report) -> QueryResult<usize> {
    super::on_backend!(conn, |c| diesel::insert_into(installation_reports::table)
        .values(report)
        .on_conflict((installation_reports::release_id, installation_reports::installation_id))
        .do_update()
        .set((
            installation_reports::outcome.eq(report.outcome),
            installation_reports::detail.eq(&report.detail),
            installation_reports::reported_at.eq(report.reported_at),
        ))
        .execute(c))
}

pub struct ReportFilter<'a> {
    pub release: &'a str,
    pub outcome: Option<ReportOutcome>,
    /// Only this account's reports (a subscriber's view).
    pub account: Option<&'a str>,
}

/// A release's reports by installation id.
pub fn reports(conn: &mut DbConnection, filter: &ReportFilter, page: &PageRequest) -> QueryResult<Vec<Report>> {
    let mut query = installation_reports::table
        .filter(installation_reports::release_id.eq(filter.release.to_string()))
        .select(Report::as_select())
        .into_boxed();
    if let Some(outcome) = filter.outcome {
        query = query.filter(installation_reports::outcome.eq(outcome));
    }
    if let Some(account) = filter.account {
        query = query.filter(installation_reports::account_id.eq(account.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(installation_reports::installation_id.gt(after.clone()));
    }
    query.order(installation_reports::installation_id.asc()).limit(page.fetch()).load(conn)
}

/// How many installations of each wave (by release and wave) count as
/// failed since `since` (all time when `None`): their latest report says
/// `failed`, or a delivery of their `installation.updated` event failed 3
/// attempts. Read from the reports and failing deliveries, not from the
/// waves' pushes, so the cost follows the failures, not the waves' size.
pub fn failed_by_wave(
    conn: &mut DbConnection,
    release_ids: &[String],
    since: Option<NaiveDateTime>,
    wave: Option<i64>,
) -> QueryResult<HashMap<(String, i64), i64>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let pushed = pushes::table.on(pushes::release_id
        .eq(installation_reports::release_id)
        .and(pushes::installation_id.eq(installation_reports::installation_id)));
    let mut reported = installation_reports::table
        .inner_join(pushed)
        .filter(installation_reports::release_id.eq_any(release_ids))
        .filter(installation_reports::outcome.eq(ReportOutcome::Failed))
        .filter(pushes::wave.is_not_null())
        .select((pushes::release_id, pushes::installation_id, pushes::wave.assume_not_null()))
        .into_boxed();
    if let Some(since) = since {
        reported = reported.filter(installation_reports::reported_at.ge(since));
    }
    if let Some(wave) = wave {
        reported = reported.filter(pushes::wave.eq(wave));
    }
    let delivered = pushes::table.on(pushes::release_id
        .nullable()
        .eq(webhook_deliveries::release_id)
        .and(pushes::installation_id.nullable().eq(webhook_deliveries::installation_id)));
    let mut failing = webhook_deliveries::table
        .inner_join(delivered)
        .filter(webhook_deliveries::release_id.eq_any(release_ids))
        .filter(webhook_deliveries::event_type.eq(EventType::InstallationUpdated))
        .filter(webhook_deliveries::status.eq_any([DeliveryStatus::Pending, DeliveryStatus::Failed]))
        .filter(webhook_deliveries::attempts.ge(FAILED_ATTEMPTS))
        .filter(pushes::wave.is_not_null())
        .select((pushes::release_id, pushes::installation_id, pushes::wave.assume_not_null()))
        .into_boxed();
    if let Some(since) = since {
        failing = failing.filter(webhook_deliveries::last_attempt_at.ge(since));
    }
    if let Some(wave) = wave {
        failing = failing.filter(pushes::wave.eq(wave));
    }
    // An installation failed both ways counts once.
    let mut failed: HashSet<(String, String, i64)> = reported.load(conn)?.into_iter().collect();
    failed.extend(failing.load::<(String, String, i64)>(conn)?);
    let mut by_wave = HashMap::new();
    for (release, _, wave) in failed {
        *by_wave.entry((release, wave)).or_insert(0) += 1;
    }
    Ok(by_wave)
}

/// A delivery of `installation.updated` that failed this many attempts counts
/// its installation as failed.
pub const FAILED_ATTEMPTS: i64 = 3;

/// Succeeded reports of the releases' wave installations, by release and wave.
pub fn succeeded_by_wave(conn: &mut DbConnection, release_ids: &[String]) -> QueryResult<HashMap<(String, i64), i64>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Option<i64>, i64)> = installation_reports::table
        .inner_join(
            pushes::table.on(pushes::release_id
                .eq(installation_reports::release_id)
                .and(pushes::installation_id.eq(installation_reports::installation_id))),
        )
        .filter(installation_reports::release_id.eq_any(release_ids))
        .filter(installation_reports::outcome.eq(ReportOutcome::Succeeded))
        .filter(pushes::wave.is_not_null())
        .group_by((pushes::release_id, pushes::wave))
        .select((pushes::release_id, pushes::wave, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(release, wave, n)| Some(((release, wave?), n))).collect())
}

/// Of these deliveries, the releases whose `installation.updated` deliveries
/// have now failed 3 attempts (their rollouts' health is checked again).
pub fn releases_with_failing_updates(conn: &mut DbConnection, delivery_ids: &[String]) -> QueryResult<Vec<String>> {
    if delivery_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Option<String>> = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq_any(delivery_ids))
        .filter(webhook_deliveries::event_type.eq(EventType::InstallationUpdated))
        .filter(webhook_deliveries::attempts.ge(FAILED_ATTEMPTS))
        .filter(webhook_deliveries::status.ne(DeliveryStatus::Succeeded))
        .filter(webhook_deliveries::release_id.eq_any(rollouts::table.select(rollouts::release_id.nullable())))
        .select(webhook_deliveries::release_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}
