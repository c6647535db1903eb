//! Installations of packs in subscriber accounts, and the pushes that record
//! each release reaching each installation.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::events::EventGroup;
use super::releases::Release;
use super::PageRequest;
use crate::db::{Backend, DbConnection};
use crate::domain::release::{PushOutcome, ReleaseStatus};
use crate::schema::{
    account_group_members, account_group_packs, event_members, installations, integration_packs, pushes, releases,
    rollout_cohorts,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = installations)]
pub struct Installation {
    pub id: String,
    pub account_id: String,
    pub pack_id: String,
    pub override_name: Option<String>,
    pub name_key: String,
    pub release_id: Option<String>,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub installed_at: NaiveDateTime,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub updated_at: NaiveDateTime,
    pub uninstalled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pushes)]
pub struct Push {
    pub release_id: String,
    pub installation_id: String,
    pub account_id: String,
    pub outcome: PushOutcome,
    #[diesel(deserialize_as = super::columns::Stamp)]
    pub pushed_at: NaiveDateTime,
    pub pushed_by: String,
    /// The token that acted (`None` for pushes recorded before tokens were kept).
    pub token_id: Option<String>,
}

pub fn insert(conn: &mut DbConnection, installation: &Installation) -> QueryResult<()> {
    diesel::insert_into(installations::table).values(installation).execute(conn).map(drop)
}

/// A live (not uninstalled) installation.
pub fn find_live(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Installation>> {
    installations::table
        .find(id)
        .filter(installations::uninstalled_at.is_null())
        .select(Installation::as_select())
        .first(conn)
        .optional()
}

pub fn name_taken(conn: &mut DbConnection, account_id: &str, pack_id: &str, name_key: &str) -> QueryResult<bool> {
    diesel::select(exists(
        installations::table
            .filter(installations::account_id.eq(account_id))
            .filter(installations::pack_id.eq(pack_id))
            .filter(installations::name_key.eq(name_key))
            .filter(installations::uninstalled_at.is_null()),
    ))
    .get_result(conn)
}

pub struct InstallationFilter<'a> {
    pub account: &'a str,
    pub pack: Option<&'a str>,
    /// Only installations of this publisher's packs.
    pub publisher: Option<&'a str>,
}

pub fn list(
    conn: &mut DbConnection,
    filter: &InstallationFilter,
    page: &PageRequest,
) -> QueryResult<Vec<Installation>> {
    let mut query = installations::table
        .inner_join(integration_packs::table)
        .filter(installations::account_id.eq(filter.account.to_string()))
        .filter(installations::uninstalled_at.is_null())
        .select(Installation::as_select())
        .into_boxed();
    if let Some(pack) = filter.pack {
        query = query.filter(installations::pack_id.eq(pack.to_string()));
    }
    if let Some(publisher) = filter.publisher {
        query = query.filter(integration_packs::publisher_id.eq(publisher.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(installations::id.gt(after.clone()));
    }
    query.order(installations::id.asc()).limit(page.fetch()).load(conn)
}

pub fn uninstall(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(installations::table.find(id))
        .set((installations::uninstalled_at.eq(Some(at)), installations::updated_at.eq(at)))
        .execute(conn)
}

/// Of these (account, pack) pairs, the subscribed ones (one of the account's groups has the pack).
pub fn subscriptions(
    conn: &mut DbConnection,
    account_ids: &[String],
    pack_ids: &[String],
) -> QueryResult<HashSet<(String, String)>> {
    if account_ids.is_empty() || pack_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(String, String)> = account_group_members::table
        .inner_join(account_group_packs::table.on(account_group_packs::group_id.eq(account_group_members::group_id)))
        .filter(account_group_packs::pack_id.eq_any(pack_ids))
        .filter(account_group_members::account_id.eq_any(account_ids))
        .select((account_group_members::account_id, account_group_packs::pack_id))
        .distinct()
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The live installations of the pack not yet on `release_id`, subscribed or not.
macro_rules! not_yet_on {
    ($pack_id:expr, $release_id:expr) => {
        installations::table
            .filter(installations::pack_id.eq($pack_id))
            .filter(installations::uninstalled_at.is_null())
            .filter(installations::release_id.is_null().or(installations::release_id.ne($release_id)))
    };
}

/// The members of the groups that have the pack (an account once per such group).
macro_rules! subscribers_of {
    ($pack_id:expr) => {
        account_group_members::table
            .inner_join(
                account_group_packs::table.on(account_group_packs::group_id.eq(account_group_members::group_id)),
            )
            .filter(account_group_packs::pack_id.eq($pack_id))
    };
}

/// The subscribed live installations of the pack not yet on `release_id`.
/// Subscription is an uncorrelated `account_id IN (...)`, which PostgreSQL plans
/// once (a hashed subplan) whatever its statistics say, even right after a bulk load.
macro_rules! targets_of {
    ($pack_id:expr, $release_id:expr) => {
        not_yet_on!($pack_id, $release_id).filter(
            installations::account_id.eq_any(subscribers_of!($pack_id).select(account_group_members::account_id)),
        )
    };
}

/// Whose installations a batch of events goes to.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Every installation the release would reach now (the pushes' predicate).
    Release,
    /// The installations whose subscription to the pack starts or ends as
    /// accounts gain or lose it through `group_id`: `account_id`'s (a member
    /// joining or leaving), or every member's (the group gaining or losing the
    /// pack, or going). Chosen before the change: live installations not on
    /// the release whose account has the pack through no other group.
    Subscription { group_id: &'a str, account_id: Option<&'a str> },
    /// Those of the release's targets whose account is in its rollout's
    /// cohort so far (`rollout_cohorts`, extended by each wave before it goes
    /// out): found from those accounts, so a wave costs what it reaches. A
    /// cohort of everyone is `Release`.
    Wave,
}

/// The installations of `targets` (see `Targets`) of the release.
macro_rules! targets {
    ($targets:expr, $release:expr, |$query:ident| $body:expr) => {{
        let (release_id, pack_id) = ($release.id.as_str(), $release.pack_id.as_str());
        match $targets {
            Targets::Release => {
                let $query = targets_of!(pack_id, release_id);
                $body
            }
            Targets::Subscription { group_id, account_id } => {
                let through_others = subscribers_of!(pack_id)
                    .filter(account_group_members::group_id.ne(group_id))
                    .select(account_group_members::account_id);
                let members = account_group_members::table
                    .filter(account_group_members::group_id.eq(group_id))
                    .select(account_group_members::account_id);
                // One account, or (`account_id` None) every member: ids are never empty.
                let changing = installations::account_id.eq(account_id.unwrap_or_default()).or(account_id
                    .is_none()
                    .into_sql::<diesel::sql_types::Bool>()
                    .and(installations::account_id.eq_any(members)));
                let $query = not_yet_on!(pack_id, release_id)
                    .filter(changing)
                    .filter(diesel::dsl::not(installations::account_id.eq_any(through_others)));
                $body
            }
            Targets::Wave => {
                let cohort = rollout_cohorts::table
                    .filter(rollout_cohorts::release_id.eq(release_id))
                    .select(rollout_cohorts::account_id);
                // Subscribed: the cohort holds only accounts subscribed now (see
                // `rollouts::extend_cohort`), and subscriptions wait for the pack's lock.
                let $query = not_yet_on!(pack_id, release_id).filter(installations::account_id.eq_any(cohort));
                $body
            }
        }
    }};
}

/// Pushes the release to every subscribed installation of the pack that is not
/// on it yet (early appliers are), in two set-based statements: one push per
/// installation, then those installations move to the release, both chosen by
/// the same predicate. Every writer that changes what it selects holds the
/// pack's lock, which the release holds too, so both statements see the same
/// installations; should they ever differ, the release fails here (and is
/// undone) rather than move an installation without its push.
/// Returns how many were pushed.
pub fn push_release(
    conn: &mut DbConnection,
    release: &Release,
    targets: Targets,
    wave: Option<i64>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let release_id = release.id.as_str();
    // (A wave's cohort is small and drives its statements by index.)
    if let (DbConnection::Postgresql(pg), Targets::Release) = (&mut *conn, targets) {
        // On tables just loaded and not yet analyzed, PostgreSQL estimates a
        // handful of installations and plans a nested loop over every
        // subscribed account for each one (6.5 s for 100,000 installations of
        // 1,000 accounts); hash joins take 0.3 s whatever the statistics.
        // Until the end of this transaction only.
        diesel::sql_query("SET LOCAL enable_nestloop = off").execute(pg)?;
    }
    let pushed = targets!(targets, release, |query| {
        let rows = query.select((
            release_id.into_sql::<Text>(),
            installations::id,
            installations::account_id,
            PushOutcome::Applied.into_sql::<Text>(),
            at.into_sql::<Timestamp>(),
            release.requested_by.as_str().into_sql::<Text>(),
            release.requested_with_token.as_deref().into_sql::<Nullable<Text>>(),
            wave.into_sql::<Nullable<BigInt>>(),
        ));
        super::on_backend!(conn, |c| diesel::insert_into(pushes::table)
            .values(rows)
            .into_columns((
                pushes::release_id,
                pushes::installation_id,
                pushes::account_id,
                pushes::outcome,
                pushes::pushed_at,
                pushes::pushed_by,
                pushes::token_id,
                pushes::wave,
            ))
            .execute(c))
    })?;
    // The same installations, by the same predicate (not by joining the pushes
    // just written, which have no planner statistics yet).
    let moved = targets!(targets, release, |query| {
        diesel::update(query)
            .set((installations::release_id.eq(Some(release_id)), installations::updated_at.eq(at)))
            .execute(conn)
    })?;
    if moved != pushed {
        return Err(diesel::result::Error::QueryBuilderError(
            format!("release {release_id} pushed {pushed} installations but moved {moved}").into(),
        ));
    }
    Ok(pushed)
}

/// The releases that the installations of `targets` run now (`None`: an
/// installation that never got one): their events tell what changes.
pub fn prior_releases_of_targets(
    conn: &mut DbConnection,
    release: &Release,
    targets: Targets,
) -> QueryResult<Vec<Option<String>>> {
    targets!(targets, release, |query| query.select(installations::release_id).distinct().load(conn))
}

/// One member event of `group` for every installation of `targets` that runs
/// `prior` now, in one statement, and the group itself when it has any.
/// Returns how many members.
pub fn insert_target_events(
    conn: &mut DbConnection,
    release: &Release,
    targets: Targets,
    prior: Option<&str>,
    group: &EventGroup,
) -> QueryResult<usize> {
    // `release_id = prior`, or `release_id IS NULL` when there is none (ids are never empty).
    let runs_prior = installations::release_id
        .eq(prior.unwrap_or_default())
        .or(installations::release_id.is_null().and(prior.is_none().into_sql::<diesel::sql_types::Bool>()));
    // An ordinal need only be unique in its group, which tells each
    // installation once. On SQLite it is the installation's rowid (numbering
    // the rows with a window function buffered all of them first: a third of
    // this statement, 0.1 s at 100,000); PostgreSQL numbers them as they stream.
    let ordinal = diesel::dsl::sql::<BigInt>(match conn.backend() {
        Backend::Sqlite => "installations.rowid",
        Backend::Postgres => "row_number() OVER ()",
    });
    let members = targets!(targets, release, |query| {
        let rows = query.filter(runs_prior).select((
            group.id.as_str().into_sql::<Text>(),
            ordinal,
            installations::account_id,
            installations::id,
        ));
        super::on_backend!(conn, |c| diesel::insert_into(event_members::table)
            .values(rows)
            .into_columns((
                event_members::group_id,
                event_members::ordinal,
                event_members::account_id,
                event_members::installation_id,
            ))
            .execute(c))
    })?;
    if members > 0 {
        super::events::insert_group(conn, group)?;
    }
    Ok(members)
}

/// One scheduled release's count in `awaiting`.
#[derive(QueryableByName)]
struct Awaiting {
    #[diesel(sql_type = Text)]
    release_id: String,
    #[diesel(sql_type = BigInt)]
    awaiting: i64,
}

/// `awaiting`'s statement for `n` releases, with the backend's placeholders.
/// Each branch is `targets_of!` counted from the subscribed accounts' side: a
/// correlated count per account, which runs as one index range scan per
/// account however stale the statistics. (Counted from the installations'
/// side, PostgreSQL planned a nested loop over every account for every
/// installation on tables just loaded: 5 s for 100,000, against 0.1 s so.)
fn awaiting_sql(n: usize, placeholder: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|k| {
            let p = |i: usize| placeholder(4 * k + i);
            format!(
                "SELECT CAST({release} AS TEXT) AS release_id, CAST(COALESCE(SUM((\
                   SELECT COUNT(*) FROM installations \
                   WHERE installations.pack_id = {pack} AND installations.account_id = accounts.id \
                     AND installations.uninstalled_at IS NULL \
                     AND (installations.release_id IS NULL OR installations.release_id <> {release_again}))), 0) AS BIGINT) AS awaiting \
                 FROM accounts WHERE accounts.id IN (\
                   SELECT account_group_members.account_id FROM account_group_members \
                   INNER JOIN account_group_packs ON account_group_packs.group_id = account_group_members.group_id \
                   WHERE account_group_packs.pack_id = {pack_again})",
                release = p(1),
                pack = p(2),
                release_again = p(3),
                pack_again = p(4),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// How many subscribed installations of each pack are not yet on its
/// scheduled release (the installations the release will push to), by release
/// id, for `(pack, release)` pairs, in one statement whatever their number.
pub fn awaiting(conn: &mut DbConnection, scheduled: &[(&str, &str)]) -> QueryResult<HashMap<String, i64>> {
    if scheduled.is_empty() {
        return Ok(HashMap::new());
    }
    macro_rules! load {
        ($conn:expr, $placeholder:expr) => {{
            let mut query = diesel::sql_query(awaiting_sql(scheduled.len(), $placeholder)).into_boxed();
            for &(pack, release) in scheduled {
                query =
                    query.bind::<Text, _>(release).bind::<Text, _>(pack).bind::<Text, _>(release).bind::<Text, _>(pack);
            }
            query.load::<Awaiting>($conn)?
        }};
    }
    let rows = match conn {
        DbConnection::Postgresql(pg) => load!(pg, |i| format!("${i}")),
        DbConnection::Sqlite(sqlite) => load!(sqlite, |_| "?".to_string()),
    };
    Ok(rows.into_iter().map(|row| (row.release_id, row.awaiting)).collect())
}

/// The subscriber applies a pending update early: its installation moves to the release.
pub fn apply_early(
    conn: &mut DbConnection,
    installation: &Installation,
    release_id: &str,
    (by, token): (&str, Option<&str>),
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(pushes::table)
        .values(&Push {
            release_id: release_id.to_string(),
            installation_id: installation.id.clone(),
            account_id: installation.account_id.clone(),
            outcome: PushOutcome::AppliedEarly,
            pushed_at: at,
            pushed_by: by.to_string(),
            token_id: token.map(str::to_string),
        })
        .execute(conn)?;
    diesel::update(installations::table.find(&installation.id))
        .set((installations::release_id.eq(Some(release_id)), installations::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

pub struct PushFilter<'a> {
    pub release: &'a str,
    pub outcome: Option<PushOutcome>,
    /// Only this account's pushes (a subscriber's view).
    pub account: Option<&'a str>,
}

/// A release's pushes by installation id.
pub fn pushes_of_release(conn: &mut DbConnection, filter: &PushFilter, page: &PageRequest) -> QueryResult<Vec<Push>> {
    let mut query =
        pushes::table.filter(pushes::release_id.eq(filter.release.to_string())).select(Push::as_select()).into_boxed();
    if let Some(outcome) = filter.outcome {
        query = query.filter(pushes::outcome.eq(outcome));
    }
    if let Some(account) = filter.account {
        query = query.filter(pushes::account_id.eq(account.to_string()));
    }
    if let Some(after) = &page.after {
        query = query.filter(pushes::installation_id.gt(after.clone()));
    }
    query.order(pushes::installation_id.asc()).limit(page.fetch()).load(conn)
}

/// Push counts by release and outcome: all of each release's pushes, counted
/// in the primary key's index, less those applied early, read from the
/// partial index that holds only those (`pushes_early_idx`). Neither reads a
/// push's row, so a release of 100,000 counts in a fifth of the time.
pub fn push_counts(
    conn: &mut DbConnection,
    release_ids: &[String],
) -> QueryResult<HashMap<(String, PushOutcome), i64>> {
    if release_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let all: Vec<(String, i64)> = pushes::table
        .filter(pushes::release_id.eq_any(release_ids))
        .group_by(pushes::release_id)
        .select((pushes::release_id, diesel::dsl::count_star()))
        .load(conn)?;
    // Written out, not bound: a planner matches a partial index's condition
    // only against the same condition in the statement's text.
    let applied_early = format!("pushes.outcome = '{}'", PushOutcome::AppliedEarly.as_str());
    let early: HashMap<String, i64> = pushes::table
        .filter(pushes::release_id.eq_any(release_ids))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&applied_early))
        .group_by(pushes::release_id)
        .select((pushes::release_id, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let mut counts = HashMap::new();
    for (release, total) in all {
        let early = early.get(&release).copied().unwrap_or(0);
        for (outcome, n) in [(PushOutcome::Applied, total - early), (PushOutcome::AppliedEarly, early)] {
            if n > 0 {
                counts.insert((release.clone(), outcome), n);
            }
        }
    }
    Ok(counts)
}

/// The installations' update history, newest first, by installation id.
pub fn history(conn: &mut DbConnection, installation_ids: &[String]) -> QueryResult<HashMap<String, Vec<Push>>> {
    if installation_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Push> = pushes::table
        .filter(pushes::installation_id.eq_any(installation_ids))
        .select(Push::as_select())
        .order((pushes::pushed_at.desc(), pushes::release_id.desc()))
        .load(conn)?;
    let mut by_installation: HashMap<String, Vec<Push>> = HashMap::new();
    for push in rows {
        by_installation.entry(push.installation_id.clone()).or_default().push(push);
    }
    Ok(by_installation)
}

/// What a new installation of the pack runs: the release rolling out (in
/// progress), or else the most recent carried-out one (so the previous
/// release while a rollout is halted or after it was aborted).
pub fn current_release(conn: &mut DbConnection, pack_id: &str) -> QueryResult<Option<String>> {
    let rolling: Option<String> = releases::table
        .filter(releases::pack_id.eq(pack_id))
        .filter(releases::status.eq(ReleaseStatus::InProgress))
        .select(releases::id)
        .first(conn)
        .optional()?;
    match rolling {
        Some(id) => Ok(Some(id)),
        None => last_released(conn, pack_id),
    }
}

/// The pack's most recent carried-out release.
pub fn last_released(conn: &mut DbConnection, pack_id: &str) -> QueryResult<Option<String>> {
    releases::table
        .filter(releases::pack_id.eq(pack_id))
        .filter(releases::status.eq(ReleaseStatus::Released))
        .order((releases::released_at.desc(), releases::id.desc()))
        .select(releases::id)
        .first(conn)
        .optional()
}

/// Whether the pack was ever released.
pub fn ever_released(conn: &mut DbConnection, pack_id: &str) -> QueryResult<bool> {
    current_release(conn, pack_id).map(|r| r.is_some())
}

/// Whether the pack has live installations (it cannot be deleted then).
pub fn pack_installed(conn: &mut DbConnection, pack_id: &str) -> QueryResult<bool> {
    diesel::select(exists(
        installations::table.filter(installations::pack_id.eq(pack_id)).filter(installations::uninstalled_at.is_null()),
    ))
    .get_result(conn)
}
