//! The floor of packrelease's read path, for `benches/read_path.sh`: the same
//! stack doing the least an authenticated `GET /api/v1/integration-packs/{id}`
//! must do. actix-web with its default workers; diesel + r2d2 on SQLite with
//! our per-connection pragmas and pool settings (`src/db.rs`; diesel's own r2d2
//! manager, whose check-out test is a cached `SELECT 1`); per request, on
//! the blocking pool (`web::block`): SHA-256 of the bearer token looked up by
//! hash (expiry checked), then one row by id, answered as JSON with serde.
//!
//! `cargo bench --bench floor_service [BIND [DATABASE]]` (or `FLOOR_BIND`,
//! default 127.0.0.1:0, and `FLOOR_DATABASE`, default `floor.db` in a temp
//! directory) creates and seeds its schema (one token, one row), prints
//! `ready URL token=TOKEN` once listening, and serves until killed.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Shaped like our tokens (`pr_` and 64 hex digits), so hashing it costs the same.
const TOKEN: &str = "pr_f100b0e7c0ffee5ef100b0e7c0ffee5ef100b0e7c0ffee5ef100b0e7c0ffee5e";
const PACK_ID: &str = "0190d3f4-7c2a-7a3e-9b1d-5f6e7a8b9c0d";
const PUBLISHER_ID: &str = "0190d3f4-7c2a-7a3e-9b1d-000000000001";
/// Our default `--pool-size`.
const POOL_SIZE: u32 = 10;

diesel::table! {
    tokens (id) {
        id -> Text,
        account_id -> Text,
        token_hash -> Text,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    packs (id) {
        id -> Text,
        publisher_id -> Text,
        name -> Text,
        description -> Text,
        installation_type -> Text,
        deployment -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS tokens (
        id TEXT PRIMARY KEY NOT NULL, account_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE, expires_at TIMESTAMP);
    CREATE TABLE IF NOT EXISTS packs (
        id TEXT PRIMARY KEY NOT NULL, publisher_id TEXT NOT NULL, name TEXT NOT NULL,
        description TEXT NOT NULL, installation_type TEXT NOT NULL, deployment TEXT NOT NULL,
        revision BIGINT NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);";

#[derive(Queryable, Selectable)]
#[diesel(table_name = tokens)]
struct Token {
    account_id: String,
    expires_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = packs)]
struct Pack {
    id: String,
    publisher_id: String,
    name: String,
    description: String,
    installation_type: String,
    deployment: String,
    revision: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// The answer, shaped like packrelease's `IntegrationPack`.
#[derive(Serialize)]
struct PackBody {
    id: String,
    publisher_id: String,
    name: String,
    description: String,
    installation_type: String,
    deployment: String,
    revision: i64,
    scheduled_release: Option<()>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Pack> for PackBody {
    fn from(row: Pack) -> Self {
        Self {
            id: row.id,
            publisher_id: row.publisher_id,
            name: row.name,
            description: row.description,
            installation_type: row.installation_type,
            deployment: row.deployment,
            revision: row.revision,
            scheduled_release: None,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

type DbPool = Pool<ConnectionManager<SqliteConnection>>;

/// Our per-connection SQLite settings (`DatabaseUrl::establish` in src/db.rs).
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
             PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

enum Lookup {
    Pack(Pack),
    Missing,
    Unauthorized,
}

/// The token's account, then the pack if that account publishes it.
fn find(pool: &DbPool, token: &str, id: &str) -> Result<Lookup, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = pool.get()?;
    let hash = hash_token(token);
    // `get_result`, not `first`: both keys are unique, and the `LIMIT ?` of
    // `first` makes SQLite re-prepare the cached statement on every execution.
    let caller = tokens::table
        .filter(tokens::token_hash.eq(&hash))
        .select(Token::as_select())
        .get_result(&mut conn)
        .optional()?;
    let now = Utc::now().naive_utc();
    let Some(caller) = caller.filter(|t| t.expires_at.is_none_or(|expires| expires > now)) else {
        return Ok(Lookup::Unauthorized);
    };
    let pack = packs::table.find(id).select(Pack::as_select()).get_result(&mut conn).optional()?;
    Ok(match pack {
        Some(pack) if pack.publisher_id == caller.account_id => Lookup::Pack(pack),
        _ => Lookup::Missing,
    })
}

async fn get_pack(req: HttpRequest, id: web::Path<String>, pool: web::Data<DbPool>) -> HttpResponse {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = token else { return HttpResponse::Unauthorized().finish() };
    let pool = pool.into_inner();
    match web::block(move || find(&pool, &token, &id)).await {
        Ok(Ok(Lookup::Pack(pack))) => HttpResponse::Ok().json(PackBody::from(pack)),
        Ok(Ok(Lookup::Missing)) => HttpResponse::NotFound().finish(),
        Ok(Ok(Lookup::Unauthorized)) => HttpResponse::Unauthorized().finish(),
        Ok(Err(_)) | Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

fn seed(pool: &DbPool) -> QueryResult<()> {
    let mut conn = pool.get().map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    conn.batch_execute(SCHEMA)?;
    // Microseconds, as packrelease stores them.
    let now = Utc::now().naive_utc().trunc_subsecs(6);
    diesel::replace_into(tokens::table)
        .values((
            tokens::id.eq("token-1"),
            tokens::account_id.eq(PUBLISHER_ID),
            tokens::token_hash.eq(hash_token(TOKEN)),
            tokens::expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(&mut conn)?;
    diesel::replace_into(packs::table)
        .values((
            packs::id.eq(PACK_ID),
            packs::publisher_id.eq(PUBLISHER_ID),
            packs::name.eq("Orders"),
            packs::description.eq("Order sync for ERP"),
            packs::installation_type.eq("single"),
            packs::deployment.eq("packaged"),
            packs::revision.eq(1_i64),
            packs::created_at.eq(now),
            packs::updated_at.eq(now),
        ))
        .execute(&mut conn)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; only the positional arguments count.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let bind = args.next().or_else(|| std::env::var("FLOOR_BIND").ok()).unwrap_or_else(|| "127.0.0.1:0".into());
    let scratch = tempfile::tempdir()?;
    let database = args
        .next()
        .or_else(|| std::env::var("FLOOR_DATABASE").ok())
        .unwrap_or_else(|| scratch.path().join("floor.db").to_string_lossy().into_owned());

    let pool = Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::<SqliteConnection>::new(&database))?;
    seed(&pool)?;

    let listener = TcpListener::bind(&bind)?;
    let addr = listener.local_addr()?;
    let data = web::Data::new(pool);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route("/api/v1/integration-packs/{id}", web::get().to(get_pack))
        })
        .listen(listener)?
        .shutdown_timeout(1)
        .run();
        println!("ready http://{addr}/api/v1/integration-packs/{PACK_ID} token={TOKEN}");
        server.await
    })?;
    Ok(())
}
