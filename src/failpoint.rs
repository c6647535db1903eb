//! Failpoints for tests that need a process to fail at an exact spot: an
//! error or a panic while carrying out one release, a crash inside its
//! transaction. Compiled into debug builds only; in a release build `hit`
//! does nothing.
//!
//! `PACKRELEASE_FAILPOINT=name[@key]:action[,...]`: the failpoint `name`
//! fires (for the item `key` only, when given, such as a pack id) with the
//! action `error` (an unexpected error), `panic`, or `pause` (log "failpoint
//! reached" and sleep for an hour, so a test can look at the process there
//! and kill it).

use crate::error::AppResult;

/// The failpoint `name`, reached for the item `key`.
#[cfg(debug_assertions)]
pub fn hit(name: &str, key: &str) -> AppResult<()> {
    let Ok(spec) = std::env::var("PACKRELEASE_FAILPOINT") else { return Ok(()) };
    for (point, action) in spec.split(',').filter_map(|entry| entry.split_once(':')) {
        let (point, only) = point.split_once('@').map_or((point, None), |(p, k)| (p, Some(k)));
        if point != name || only.is_some_and(|only| only != key) {
            continue;
        }
        match action {
            "error" => {
                return Err(crate::error::AppError::internal(std::io::Error::other(format!("failpoint {name}"))))
            }
            "panic" => panic!("failpoint {name}"),
            "pause" => {
                tracing::warn!(failpoint = name, key, "failpoint reached: pausing");
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
            _ => tracing::warn!(failpoint = name, action, "unknown failpoint action"),
        }
    }
    Ok(())
}

#[cfg(not(debug_assertions))]
pub fn hit(_name: &str, _key: &str) -> AppResult<()> {
    Ok(())
}
