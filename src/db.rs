//! Database access shared by every binary: the SQLite/PostgreSQL connection,
//! URL parsing, start-up connection with a clear failure, migrations and the pool.

use std::time::{Duration, Instant};

use diesel::connection::{
    AnsiTransactionManager, BoxableConnection, SimpleConnection, TransactionDepthChange, TransactionManager,
    TransactionManagerStatus,
};
use diesel::migration::{Migration, MigrationMetadata, MigrationName, MigrationSource};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sqlite::Sqlite;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Every migration, with the SQLite variant of those that need one.
pub const MIGRATION_SOURCE: Migrations = Migrations;

/// Migrations whose SQL differs by backend: the version, and SQLite's up and
/// down (the folder's own SQL is PostgreSQL's). Both run outside diesel's
/// transaction, with foreign keys off on SQLite (see `SqliteRebuild`).
const SQLITE_VARIANTS: [(&str, &str, &str); 3] = [
    (
        "20261202000013",
        include_str!("../migrations/2026-12-02-000013_rollout_statuses/sqlite/up.sql"),
        include_str!("../migrations/2026-12-02-000013_rollout_statuses/sqlite/down.sql"),
    ),
    (
        "20261203000017",
        include_str!("../migrations/2026-12-03-000017_events_type_check_sqlite/sqlite/up.sql"),
        include_str!("../migrations/2026-12-03-000017_events_type_check_sqlite/sqlite/down.sql"),
    ),
    (
        "20261204000018",
        // The same up as PostgreSQL's; only the way down spells ids otherwise.
        include_str!("../migrations/2026-12-04-000018_event_members/up.sql"),
        include_str!("../migrations/2026-12-04-000018_event_members/sqlite/down.sql"),
    ),
];

/// Migrations that only PostgreSQL runs (a storage setting SQLite has no
/// equivalent for; a check SQLite's own foreign key makes cheaply); SQLite
/// records them as applied and changes nothing.
const POSTGRES_ONLY: [&str; 2] = ["20261203000014", "20261203000015"];

/// The embedded migrations, each run as its backend needs.
#[derive(Debug, Clone, Copy)]
pub struct Migrations;

impl MigrationSource<MultiBackend> for Migrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<MultiBackend>>>> {
        let embedded = MigrationSource::<MultiBackend>::migrations(&MIGRATIONS)?;
        Ok(embedded
            .into_iter()
            .map(|migration| {
                let version = migration.name().version().to_string();
                if POSTGRES_ONLY.contains(&version.as_str()) {
                    return Box::new(PostgresOnly { migration }) as Box<dyn Migration<_>>;
                }
                match SQLITE_VARIANTS.iter().find(|(v, _, _)| *v == version) {
                    Some(&(_, up, down)) => Box::new(SqliteRebuild { migration, up, down }) as Box<dyn Migration<_>>,
                    None => migration,
                }
            })
            .collect())
    }
}

/// A migration that runs on PostgreSQL only: on SQLite it does nothing (and
/// is recorded as applied, so both backends list the same migrations).
struct PostgresOnly {
    migration: Box<dyn Migration<MultiBackend>>,
}

impl Migration<MultiBackend> for PostgresOnly {
    fn run(&self, conn: &mut dyn BoxableConnection<MultiBackend>) -> diesel::migration::Result<()> {
        match SqliteRebuild::is_sqlite(conn) {
            true => Ok(()),
            false => self.migration.run(conn),
        }
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<MultiBackend>) -> diesel::migration::Result<()> {
        match SqliteRebuild::is_sqlite(conn) {
            true => Ok(()),
            false => self.migration.revert(conn),
        }
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self.migration.metadata()
    }

    fn name(&self) -> &dyn MigrationName {
        self.migration.name()
    }
}

/// A migration that rebuilds tables on SQLite (to change a CHECK constraint)
/// and alters them in place on PostgreSQL. On SQLite, dropping a table that
/// others reference would cascade to their rows, so foreign keys are turned
/// off around its own transaction (the pragma is a no-op inside one), and it
/// commits only when `PRAGMA foreign_key_check` finds no broken reference.
struct SqliteRebuild {
    migration: Box<dyn Migration<MultiBackend>>,
    up: &'static str,
    down: &'static str,
}

impl SqliteRebuild {
    fn rebuild(conn: &mut dyn BoxableConnection<MultiBackend>, sql: &str) -> diesel::migration::Result<()> {
        conn.batch_execute("PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE;")?;
        let checked = conn.batch_execute(sql).map_err(Into::into).and_then(|()| {
            let sqlite = conn.as_any_mut().downcast_mut::<DbConnection>().and_then(|c| match c {
                DbConnection::Sqlite(sqlite) => Some(sqlite),
                DbConnection::Postgresql(_) => None,
            });
            let broken = match sqlite {
                Some(sqlite) => diesel::sql_query("PRAGMA foreign_key_check").load::<ForeignKeyViolation>(sqlite)?,
                None => Vec::new(),
            };
            match broken.first() {
                None => Ok(()),
                Some(row) => Err(format!("the rebuild broke a foreign key of table {}", row.table).into()),
            }
        });
        let end = if checked.is_ok() { "COMMIT;" } else { "ROLLBACK;" };
        let ended = conn.batch_execute(&format!("{end} PRAGMA foreign_keys = ON;"));
        checked.and(ended.map_err(Into::into))
    }

    fn is_sqlite(conn: &mut dyn BoxableConnection<MultiBackend>) -> bool {
        matches!(conn.as_any().downcast_ref::<DbConnection>(), Some(DbConnection::Sqlite(_)))
    }
}

#[derive(QueryableByName)]
struct ForeignKeyViolation {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table: String,
}

impl Migration<MultiBackend> for SqliteRebuild {
    fn run(&self, conn: &mut dyn BoxableConnection<MultiBackend>) -> diesel::migration::Result<()> {
        match Self::is_sqlite(conn) {
            true => Self::rebuild(conn, self.up),
            false => self.migration.run(conn),
        }
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<MultiBackend>) -> diesel::migration::Result<()> {
        match Self::is_sqlite(conn) {
            true => Self::rebuild(conn, self.down),
            false => self.migration.revert(conn),
        }
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self.migration.metadata()
    }

    fn name(&self) -> &dyn MigrationName {
        self.migration.name()
    }
}

/// Arbitrary constant key of the advisory lock that serialises migrations
/// across replicas starting at once.
const MIGRATION_LOCK_KEY: i64 = 0x0070_6163_6b72_656c;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

impl DbConnection {
    /// A read-write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, so
    /// a transaction that reads and then writes never fails with SQLITE_BUSY
    /// half-way; on PostgreSQL it is a plain transaction. Inside another
    /// transaction it is a savepoint of that one (which holds the write lock).
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let DbConnection::Sqlite(sqlite) = self else { return self.transaction(f) };
        if Self::in_transaction(sqlite)? {
            return self.transaction(f);
        }
        AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
        // The multi-connection's transaction manager delegates to the inner
        // connection's, which now holds the open transaction.
        match f(self) {
            Ok(value) => {
                <Self as TransactionManager<Self>>::commit_transaction(self)?;
                Ok(value)
            }
            Err(error) => match <Self as TransactionManager<Self>>::rollback_transaction(self) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback_error) => Err(rollback_error.into()),
            },
        }
    }

    /// Reads in one snapshot. On SQLite a deferred transaction: its statements
    /// see the same state and share one WAL read lock (taken once, not once per
    /// statement). On PostgreSQL each statement runs on its own, as without it
    /// (a transaction there would cost two more round trips). For reads only.
    pub fn read_snapshot<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let DbConnection::Sqlite(sqlite) = self else { return f(self) };
        if Self::in_transaction(sqlite)? {
            return f(self);
        }
        // Prepared once per connection (`batch_execute` would parse them every
        // time); diesel's transaction manager is told, as by its own `BEGIN`.
        SnapshotBegin.execute(sqlite)?;
        change_depth(sqlite, TransactionDepthChange::IncreaseDepth)?;
        let result = f(self);
        let DbConnection::Sqlite(sqlite) = self else { unreachable!("still the SQLite connection") };
        // Should a rollback fail, the manager marks the connection broken and
        // the pool discards it (`has_broken`).
        let rollback = <AnsiTransactionManager as TransactionManager<SqliteConnection>>::rollback_transaction;
        if result.is_err() {
            let _ = rollback(sqlite);
        } else if let Err(error) = SnapshotCommit.execute(sqlite) {
            let _ = rollback(sqlite);
            return Err(error.into());
        } else {
            change_depth(sqlite, TransactionDepthChange::DecreaseDepth)?;
        }
        result
    }

    fn in_transaction(sqlite: &mut SqliteConnection) -> QueryResult<bool> {
        let status =
            <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(sqlite);
        Ok(status.transaction_depth()?.is_some())
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgresql(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A statement of fixed text that diesel prepares once per connection and
/// caches by its type.
macro_rules! fixed_statement {
    ($name:ident, $sql:literal) => {
        #[derive(diesel::query_builder::QueryId)]
        struct $name;

        impl QueryFragment<Sqlite> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<SqliteConnection> for $name {}
    };
}

fixed_statement!(SnapshotBegin, "BEGIN");
fixed_statement!(SnapshotCommit, "COMMIT");

/// Tells diesel's transaction manager of a transaction begun or ended without it.
fn change_depth(sqlite: &mut SqliteConnection, change: TransactionDepthChange) -> QueryResult<()> {
    match <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(sqlite) {
        TransactionManagerStatus::Valid(status) => status.change_transaction_depth(change),
        TransactionManagerStatus::InError => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database location, checked before anything connects to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the backend's driver is given: a file path for SQLite, a libpq URL for PostgreSQL.
    pub target: String,
}

impl DatabaseUrl {
    /// Accepts a `postgres://` or `postgresql://` URL, a `sqlite://` URL, or a plain file path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the database URL is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let rest = raw.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
            if rest.is_empty() || rest.starts_with('/') && rest.len() == 1 {
                return Err(format!("the PostgreSQL URL '{raw}' names no server"));
            }
            // Without a connect timeout libpq waits minutes for a host that never answers.
            let target = if raw.contains("connect_timeout=") {
                raw.to_string()
            } else if raw.contains('?') {
                format!("{raw}&connect_timeout=5")
            } else {
                format!("{raw}?connect_timeout=5")
            };
            return Ok(Self { backend: Backend::Postgres, target });
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("the sqlite:// URL names no file".into());
            }
            return Ok(Self { backend: Backend::Sqlite, target: path.to_string() });
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(format!(
                "unsupported database URL scheme '{scheme}://': use a SQLite file path, sqlite://PATH or postgres://..."
            ));
        }
        Ok(Self { backend: Backend::Sqlite, target: raw.to_string() })
    }

    /// The URL without its password, for messages and logs.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.target.clone(),
            Backend::Postgres => match (self.target.find("://"), self.target.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    let userinfo = &self.target[scheme_end + 3..at];
                    let user = userinfo.split(':').next().unwrap_or_default();
                    format!("{}{}:***{}", &self.target[..scheme_end + 3], user, &self.target[at..])
                }
                _ => self.target.clone(),
            },
        }
    }

    /// One direct connection, with the per-connection settings SQLite needs.
    pub fn establish(&self) -> Result<DbConnection, ConnectError> {
        match self.backend {
            Backend::Postgres => {
                prepare_postgres_client();
                let mut conn =
                    PgConnection::establish(&self.target).map_err(|e| ConnectError::classify(e.to_string()))?;
                // A client killed mid-statement leaves its backend running, holding
                // its locks, until the statement ends; this makes it notice within
                // a second (PostgreSQL 14+; older servers just keep the default).
                if let Err(error) = conn.batch_execute("SET client_connection_check_interval = '1s'") {
                    tracing::debug!(%error, "client_connection_check_interval not set");
                }
                Ok(DbConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(&self.target).map_err(|e| ConnectError::Fatal(e.to_string()))?;
                // No connection checkpoints on commit (a request would pay for copying
                // the whole WAL back); `spawn_checkpointer` does it in the background.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
                )
                .map_err(|e| ConnectError::Fatal(format!("cannot open {}: {e}", self.target)))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    /// Connects at start-up: an unreachable server is retried for `patience`,
    /// anything else (bad credentials, missing database, unwritable file) fails at once.
    pub fn connect_at_startup(&self, patience: Duration) -> Result<DbConnection, String> {
        let started = Instant::now();
        loop {
            match self.establish() {
                Ok(conn) => return Ok(conn),
                Err(ConnectError::Transient(message)) if started.elapsed() < patience => {
                    tracing::warn!(database = %self.redacted(), %message, "database not reachable yet, retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(ConnectError::Transient(message) | ConnectError::Fatal(message)) => {
                    return Err(format!("cannot connect to {}: {}", self.redacted(), message.trim()))
                }
            }
        }
    }
}

#[derive(Debug)]
pub enum ConnectError {
    /// The server may come up in a moment (refused, timed out, starting up).
    Transient(String),
    Fatal(String),
}

impl ConnectError {
    fn classify(message: String) -> Self {
        const TRANSIENT: [&str; 5] = [
            "Connection refused",
            "timeout expired",
            "timed out",
            "the database system is starting up",
            "No such file or directory",
        ];
        if TRANSIENT.iter().any(|needle| message.contains(needle)) {
            Self::Transient(message)
        } else {
            Self::Fatal(message)
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transient(m) | Self::Fatal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Applies pending migrations; on PostgreSQL under an advisory lock so two
/// replicas starting together never race.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let lock = conn.backend() == Backend::Postgres;
    if lock {
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(conn)
            .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    }
    let result = conn
        .run_pending_migrations(MIGRATION_SOURCE)
        .map(|applied| applied.len())
        .map_err(|e| format!("migration failed: {e}"))
        .and_then(|applied| {
            // Derived values SQL cannot compute the same way on both backends.
            crate::store::packs::repair_name_keys(conn).map_err(|e| format!("cannot repair pack name keys: {e}"))?;
            Ok(applied)
        });
    if lock {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .execute(conn)
            .map_err(|e| format!("cannot release the migration lock: {e}"))?;
    }
    result
}

/// Readies OpenSSL, which libpq uses for TLS, before the first PostgreSQL
/// connection. By default OpenSSL frees its global state in an exit handler,
/// and a thread still using a connection at exit (a pool's, a worker's) can
/// then crash the process in freed memory: CI saw the test binary end in
/// SIGSEGV after every test had passed. Initialising it first, through
/// `openssl-sys` (which asks for `OPENSSL_INIT_NO_ATEXIT`), leaves the exit
/// handler out; the kernel frees the memory anyway. Call it before any other
/// code connects to PostgreSQL; later calls do nothing.
pub fn prepare_postgres_client() {
    openssl_sys::init();
}

/// The r2d2 manager: connects with the backend the URL names (never by trial,
/// which is what makes a multi-connection swallow the real error).
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.url.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(|e| ConnectError::Transient(e.to_string()))
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// Copies a SQLite WAL back into the database file every second, off the
/// request path, without blocking readers or writers (PASSIVE). Stops when the
/// database file is gone.
fn spawn_checkpointer(url: &DatabaseUrl) {
    let path = std::path::PathBuf::from(&url.target);
    let target = url.target.clone();
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if !path.exists() {
            return;
        }
        if let Ok(mut conn) = SqliteConnection::establish(&target) {
            if let Err(error) = conn.batch_execute("PRAGMA busy_timeout = 1000; PRAGMA wal_checkpoint(PASSIVE);") {
                tracing::debug!(%error, "WAL checkpoint skipped");
            }
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the WAL checkpointer; the WAL will grow until restart");
    }
}

/// Connects (with start-up patience), migrates, and builds the pool.
pub fn open(url: &DatabaseUrl, pool_size: u32) -> Result<DbPool, String> {
    if url.backend == Backend::Sqlite {
        disable_sqlite_memstatus();
    }
    let mut conn = url.connect_at_startup(Duration::from_secs(10))?;
    let applied = run_migrations(&mut conn)?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    drop(conn);
    if url.backend == Backend::Sqlite {
        spawn_checkpointer(url);
    }
    r2d2::Pool::builder()
        .max_size(pool_size)
        // A SQLite file connection does not go stale; PostgreSQL's are checked on check-out.
        .test_on_check_out(url.backend == Backend::Postgres)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .build(ConnectionManager { url: url.clone() })
        .map_err(|e| format!("cannot build the connection pool for {}: {e}", url.redacted()))
}

/// SQLite keeps memory statistics under one process-wide mutex that every
/// allocation of every connection takes; nothing here reads them. Must run
/// before SQLite initialises (the first connection); later it is refused,
/// harmlessly.
fn disable_sqlite_memstatus() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: sqlite3_config with an int argument, as SQLITE_CONFIG_MEMSTATUS
    // takes; before initialisation it applies, after it returns SQLITE_MISUSE.
    ONCE.call_once(|| unsafe {
        libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether SQLite itself has a transaction open (diesel's manager aside).
    fn sqlite_in_transaction(conn: &mut DbConnection) -> bool {
        let DbConnection::Sqlite(sqlite) = conn else { unreachable!() };
        // `BEGIN` fails inside a transaction.
        match sqlite.batch_execute("BEGIN; ROLLBACK;") {
            Ok(()) => false,
            Err(_) => true,
        }
    }

    #[test]
    fn a_read_snapshot_ends_its_transaction_whatever_its_outcome() {
        use diesel::sql_types::Integer;
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(dir.path().join("snapshot.db").to_str().unwrap()).unwrap();
        let mut conn = url.establish().unwrap();
        for _ in 0..2 {
            let read: QueryResult<i32> = conn.read_snapshot(|c| diesel::select(7.into_sql::<Integer>()).get_result(c));
            assert_eq!(read, Ok(7));
            assert!(!sqlite_in_transaction(&mut conn));
            let failed: QueryResult<i32> = conn.read_snapshot(|_| Err(diesel::result::Error::NotFound));
            assert_eq!(failed, Err(diesel::result::Error::NotFound));
            assert!(!sqlite_in_transaction(&mut conn));
        }
        // Inside it, diesel knows of the transaction (a nested one is a savepoint)...
        let nested: QueryResult<bool> = conn.read_snapshot(|c| {
            let DbConnection::Sqlite(sqlite) = c else { unreachable!() };
            let depth = DbConnection::in_transaction(sqlite)?;
            c.transaction(|c| diesel::select(1.into_sql::<Integer>()).get_result::<i32>(c))?;
            Ok(depth)
        });
        assert_eq!(nested, Ok(true));
        // ... and a write transaction starts normally once it has ended.
        conn.write_transaction(|c| c.batch_execute("CREATE TABLE t (x INTEGER)")).unwrap();
        assert!(!sqlite_in_transaction(&mut conn));
    }

    #[test]
    fn plain_paths_and_sqlite_urls_are_sqlite() {
        assert_eq!(DatabaseUrl::parse("packrelease.db").unwrap().backend, Backend::Sqlite);
        let url = DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!((url.backend, url.target.as_str()), (Backend::Sqlite, "/tmp/x.db"));
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout() {
        let url = DatabaseUrl::parse("postgres://u:secret@h/db").unwrap();
        assert_eq!(url.target, "postgres://u:secret@h/db?connect_timeout=5");
        assert_eq!(url.redacted(), "postgres://u:***@h/db?connect_timeout=5");
    }

    #[test]
    fn unknown_schemes_and_empty_urls_are_refused() {
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("  ").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
