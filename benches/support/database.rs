//! A scratch database for a benchmark, shared by the benches that need one.

use diesel::prelude::*;
use diesel::PgConnection;
use packrelease::db::DatabaseUrl;

/// A scratch database: a SQLite temp file, or a PostgreSQL database created
/// on BENCH_POSTGRES_URL's server and dropped afterwards.
pub fn database() -> (DatabaseUrl, &'static str, Box<dyn FnOnce()>) {
    match std::env::var("BENCH_POSTGRES_URL") {
        Ok(server) if !server.is_empty() => {
            packrelease::db::prepare_postgres_client();
            let name = format!("packrelease_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::establish(&server).expect("connect to PostgreSQL");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).expect("create database");
            let base = server.split('?').next().unwrap_or(&server);
            let url = format!("{}/{name}", base.rsplit_once('/').map_or(base, |(head, _)| head));
            let drop_db = Box::new(move || {
                if let Ok(mut conn) = PgConnection::establish(&server) {
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
            (url, "sqlite", Box::new(move || drop(dir)))
        }
    }
}
