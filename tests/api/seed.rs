//! Bulk seeding for tests and benchmarks: subscriber accounts in a group, each
//! with `per_account` installations of a pack, written in batches.

use chrono::Utc;
use diesel::prelude::*;
use packrelease::db::DbConnection;
use packrelease::schema::{account_group_members, accounts, installations};

/// Seeds `n` installations of `pack` (running `release`), `per_account` per new
/// subscriber account of `publisher`, every account a member of `group`.
pub fn installations(
    conn: &mut DbConnection,
    publisher: &str,
    group: &str,
    pack: &str,
    release: &str,
    n: usize,
    per_account: usize,
) {
    let now = Utc::now().naive_utc();
    let account_ids: Vec<String> = (0..n.div_ceil(per_account)).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let account_rows: Vec<_> = account_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                accounts::id.eq(id.clone()),
                accounts::name.eq(format!("Subscriber {i}")),
                accounts::kind.eq("subscriber"),
                accounts::parent_id.eq(Some(publisher.to_string())),
                accounts::created_at.eq(now),
            )
        })
        .collect();
    let member_rows: Vec<_> = account_ids
        .iter()
        .map(|id| {
            (
                account_group_members::group_id.eq(group.to_string()),
                account_group_members::account_id.eq(id.clone()),
                account_group_members::added_at.eq(now),
            )
        })
        .collect();
    let installation_rows: Vec<_> = (0..n)
        .map(|k| {
            let name = if per_account == 1 { String::new() } else { format!("site {}", k % per_account) };
            (
                installations::id.eq(uuid::Uuid::now_v7().to_string()),
                installations::account_id.eq(account_ids[k / per_account].clone()),
                installations::pack_id.eq(pack.to_string()),
                installations::override_name.eq((!name.is_empty()).then(|| name.clone())),
                installations::name_key.eq(name),
                installations::release_id.eq(Some(release.to_string())),
                installations::installed_at.eq(now),
                installations::updated_at.eq(now),
            )
        })
        .collect();
    // Batches stay under SQLite's limit of bound variables per statement; batch
    // inserts need the concrete connection.
    macro_rules! insert_all {
        ($c:expr) => {{
            for batch in account_rows.chunks(2_000) {
                diesel::insert_into(accounts::table).values(batch).execute($c)?;
            }
            for batch in member_rows.chunks(2_000) {
                diesel::insert_into(account_group_members::table).values(batch).execute($c)?;
            }
            for batch in installation_rows.chunks(2_000) {
                diesel::insert_into(installations::table).values(batch).execute($c)?;
            }
        }};
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        match conn {
            DbConnection::Sqlite(c) => insert_all!(c),
            DbConnection::Postgresql(c) => insert_all!(c),
        }
        Ok(())
    })
    .expect("seed installations");
}
