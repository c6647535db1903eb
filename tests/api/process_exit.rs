//! A process that exits while other threads may still use PostgreSQL
//! connections must not have OpenSSL (libpq's TLS) free its state at exit:
//! CI once saw the test binary end in SIGSEGV after every test had passed.

use std::ffi::c_int;
use std::process::Command;

use packrelease::db::DatabaseUrl;

const CHILD: &str = "PACKRELEASE_TEST_EXIT_CHILD";
/// The child's exit status when OpenSSL had been cleaned up before its own exit handler ran.
const CLEANED_UP: c_int = 3;

extern "C" {
    fn atexit(callback: extern "C" fn()) -> c_int;
    fn _exit(status: c_int) -> !;
}

/// Runs after every exit handler registered later, OpenSSL's included. A live
/// OpenSSL still initialises; one whose state was freed refuses.
extern "C" fn after_openssl_exit_handler() {
    // SAFETY: FFI into the linked OpenSSL, with the documented null settings.
    let alive = unsafe { openssl_sys::OPENSSL_init_ssl(0, std::ptr::null()) } == 1;
    if !alive {
        // SAFETY: ends the process at once, as an exit handler may.
        unsafe { _exit(CLEANED_UP) }
    }
}

/// The child's part: an exit handler first, then a PostgreSQL connection over TLS, then exit.
#[test]
fn exiting_child() {
    let Ok(url) = std::env::var(CHILD) else { return };
    // SAFETY: registers a plain C callback.
    assert_eq!(unsafe { atexit(after_openssl_exit_handler) }, 0);
    let mut conn = DatabaseUrl::parse(&url).expect("url").establish().expect("connect");
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "SELECT 1").expect("query");
    std::mem::forget(conn);
    std::process::exit(0);
}

#[test]
fn openssl_keeps_its_state_until_the_process_is_gone() {
    let Some(server) = crate::helpers::postgres_server() else { return };
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "process_exit::exiting_child", "--test-threads=1"])
        .env(CHILD, &server)
        .output()
        .unwrap();
    assert_eq!(
        child.status.code(),
        Some(0),
        "{:?}; 3 means OpenSSL ran its exit-time cleanup\n{}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );
}
