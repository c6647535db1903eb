//! A scratch database for a benchmark, shared by the benches that need one.

use diesel::prelude::*;
use diesel::PgConnection;
use packrelease::db::{Backend, DatabaseUrl};

/// Whether `BENCH_KEEP_DB=1` asks to keep the scratch database (and the
/// snapshot a bench takes with `snapshot`) instead of dropping it.
pub fn keep() -> bool {
    std::env::var("BENCH_KEEP_DB").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A scratch database: a SQLite temp file, or a PostgreSQL database created
/// on BENCH_POSTGRES_URL's server and dropped afterwards (both kept, and
/// named on stderr, with `BENCH_KEEP_DB=1`).
pub fn database() -> (DatabaseUrl, &'static str, Box<dyn FnOnce()>) {
    let keep = keep();
    match std::env::var("BENCH_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            packrelease::db::prepare_postgres_client();
            let name = format!("packrelease_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::establish(&server).expect("connect to PostgreSQL");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).expect("create database");
            let url = format!("{}/{name}", server_base(&server));
            let drop_db = Box::new(move || {
                if keep {
                    eprintln!("kept database {name}");
                } else if let Ok(mut conn) = PgConnection::establish(&server) {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
                }
            });
            (DatabaseUrl::parse(&url).expect("url"), "postgres", drop_db)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bench.db");
            let url = DatabaseUrl::parse(path.to_str().expect("path")).expect("url");
            let cleanup: Box<dyn FnOnce()> = if keep {
                Box::new(move || eprintln!("kept database {}", dir.keep().join("bench.db").display()))
            } else {
                Box::new(move || drop(dir))
            };
            (url, "sqlite", cleanup)
        }
    }
}

/// The server part of a PostgreSQL URL (without its database and options).
fn server_base(server: &str) -> &str {
    let base = server.split('?').next().unwrap_or(server);
    base.rsplit_once('/').map_or(base, |(head, _)| head)
}

/// With `BENCH_KEEP_DB=1`, a copy of the scratch database as it is now (at
/// rest: no transaction open, SQLite's WAL checkpointed), named on stderr:
/// `<name>_before` on PostgreSQL, `bench_before.db` next to SQLite's file.
/// On PostgreSQL it also has the server log every statement of the scratch
/// database from now on (`log_min_duration_statement = 0`, with its
/// parameters): the pool's connections are closed for the copy, and the
/// ones that replace them log. Call `warm` before timing anything after it.
#[allow(dead_code)]
pub fn snapshot(url: &DatabaseUrl) -> Option<String> {
    if !keep() {
        return None;
    }
    let copy = match url.backend {
        Backend::Sqlite => {
            let copy = std::path::Path::new(&url.target).with_file_name("bench_before.db");
            std::fs::copy(&url.target, &copy).expect("copy the database file");
            copy.display().to_string()
        }
        Backend::Postgres => {
            let server = std::env::var("BENCH_POSTGRES_URL").expect("BENCH_POSTGRES_URL");
            let name = url.target.split('?').next().and_then(|u| u.rsplit_once('/')).expect("database name").1;
            let copy = format!("{name}_before");
            let mut conn = PgConnection::establish(&server).expect("connect to PostgreSQL");
            diesel::sql_query(format!("ALTER DATABASE \"{name}\" SET log_min_duration_statement = 0"))
                .execute(&mut conn)
                .expect("log statements");
            // A template must have no other connection: the pool's idle ones go
            // (r2d2 replaces a closed connection when it is next checked out).
            let mut tries = 0;
            loop {
                diesel::sql_query(format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .execute(&mut conn)
                .expect("close the pool's connections");
                match diesel::sql_query(format!("CREATE DATABASE \"{copy}\" TEMPLATE \"{name}\"")).execute(&mut conn) {
                    Ok(_) => break,
                    Err(error) if tries < 50 => {
                        tries += 1;
                        eprintln!("snapshot: {error}; again");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(error) => panic!("snapshot of {name}: {error}"),
                }
            }
            copy
        }
    };
    eprintln!("snapshot {copy}");
    Some(copy)
}

/// With `BENCH_TRACE=1`, prints every statement that takes over 2 ms, with
/// its time, on stderr: where a bench's time goes, statement by statement.
pub fn trace_statements() {
    if !std::env::var("BENCH_TRACE").is_ok_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    use diesel::connection::{set_default_instrumentation, InstrumentationEvent};
    set_default_instrumentation(|| {
        let mut start = std::time::Instant::now();
        Some(Box::new(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { .. } => start = std::time::Instant::now(),
            InstrumentationEvent::FinishQuery { query, .. } if start.elapsed().as_millis() > 2 => {
                let text: String = query.to_string().chars().take(300).collect();
                eprintln!("{:8.1} ms  {text}", start.elapsed().as_secs_f64() * 1000.0);
            }
            _ => {}
        }))
    })
    .expect("statement tracing");
}
