//! SQLite: the default store, one file with no set-up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::{Dialect, SqlStore};
use crate::{redact_url, Error, Result};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool. SQLite runs one writer at a time; WAL lets readers proceed.
const MAX_CONNECTIONS: u32 = 8;

/// The store on a SQLite database file (WAL mode, foreign keys on, busy timeout).
pub type SqliteStore = SqlStore<sqlx::Sqlite>;

impl Dialect for sqlx::Sqlite {
    const BACKEND: &'static str = "sqlite";

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path`, and its directory.
    pub async fn open_file(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Self::with_options(SqliteConnectOptions::new().filename(path), false).await
    }

    /// Opens the database a `sqlite:` URL names, e.g. `sqlite://data/meshbench.db` or
    /// `sqlite::memory:` (one connection, so every query sees the same in-memory database).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
        }
        Self::with_options(options, in_memory).await
    }

    async fn with_options(options: SqliteConnectOptions, in_memory: bool) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = if in_memory {
            // An in-memory database lives as long as its connections: keep exactly one.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .connect_with(options)
                .await?
        };
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (its connect options are used as they are).
    pub fn from_pool(pool: SqlitePool) -> Self {
        SqlStore { pool }
    }

    /// The connection pool, for diagnostics and tests.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
