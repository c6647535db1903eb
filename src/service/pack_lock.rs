//! The pack lock. Every writer that changes whom a release of a pack reaches
//! (releasing, installing, uninstalling, applying early, group membership,
//! sharing, the pack's own edits) takes it first and works on the pack as
//! re-read under it, so such writers and a release run one after the other:
//! an installation made while a release runs is either reached by it or made
//! on the new release, never left behind.

use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
use crate::store::packs::{self, Pack};

/// Locks these packs (in id order, duplicates once) and returns them as they
/// are now; packs deleted meanwhile are missing from the answer.
pub(crate) fn lock_packs(conn: &mut DbConnection, ids: &[String]) -> AppResult<Vec<Pack>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(packs::lock(conn, &ids)?)
}

/// Locks one pack and returns it as it is now: 404 when it was deleted meanwhile.
pub(crate) fn lock_pack(conn: &mut DbConnection, id: &str) -> AppResult<Pack> {
    lock_packs(conn, &[id.to_string()])?.pop().ok_or(AppError::NotFound)
}
