//! PostgreSQL: the store for more than one machine (many workers, one database).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::sql::{Dialect, SqlStore};
use crate::{redact_url, Error, Result};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections in the pool.
const MAX_CONNECTIONS: u32 = 10;
/// How long to wait for a free connection (or for the server to answer) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store on a PostgreSQL database.
pub type PgStore = SqlStore<sqlx::Postgres>;

impl Dialect for sqlx::Postgres {
    const BACKEND: &'static str = "postgres";

    // sqlx holds an advisory lock while migrating, so several servers starting at once
    // apply each migration exactly once.
    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }
}

impl PgStore {
    /// Connects to the database a `postgres://` or `postgresql://` URL names (libpq-style
    /// parameters such as `sslmode` apply). Fails when the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        SqlStore { pool }
    }

    /// The connection pool, for diagnostics and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
