//! A PostgreSQL database per test.
//!
//! The server is `MESHBENCH_TEST_PG_URL` (a URL without a database name), by default
//! `postgres://postgres@127.0.0.1:5432` with trust auth. The kit connects to its `postgres`
//! database (or, failing that, `test`) to create `meshbench_test_<32 hex digits>`, and drops
//! it (forcefully) when the [`PgDatabase`] drops.

use sqlx::{Connection, Executor, PgConnection};

/// Names the PostgreSQL server the tests use.
pub const PG_URL_VAR: &str = "MESHBENCH_TEST_PG_URL";

/// The databases tried, in order, for creating and dropping test databases.
const ADMIN_DATABASES: [&str; 2] = ["postgres", "test"];

/// The server URL, without a database name or a trailing slash.
pub fn server_url() -> String {
    std::env::var(PG_URL_VAR)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A connection to the first administration database that answers.
async fn admin(server: &str) -> Result<PgConnection, String> {
    let mut failures = Vec::new();
    for db in ADMIN_DATABASES {
        let url = format!("{server}/{db}");
        match PgConnection::connect(&url).await {
            Ok(conn) => return Ok(conn),
            Err(e) => failures.push(format!("{url}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// A database created for one test, dropped on drop (or by [`PgDatabase::remove`]).
#[derive(Debug)]
pub struct PgDatabase {
    server: String,
    name: String,
    removed: bool,
}

impl PgDatabase {
    /// Creates it; panics, saying how to start a server, when PostgreSQL is unreachable.
    pub async fn create() -> PgDatabase {
        let server = server_url();
        let name = format!("meshbench_test_{}", crate::unique());
        let created = async {
            let mut conn = admin(&server).await?;
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok::<_, String>(())
        }
        .await;
        if let Err(e) = created {
            panic!(
                "PostgreSQL is not usable at {server} ({e}). These tests need a running server \
                 with trust auth: start it (e.g. `pg_ctlcluster --skip-systemctl-redirect \
                 $(ls /etc/postgresql) main start`) or point {PG_URL_VAR} at one."
            );
        }
        PgDatabase {
            server,
            name,
            removed: false,
        }
    }

    /// [`PgDatabase::create`] for synchronous tests.
    pub fn create_blocking() -> PgDatabase {
        crate::block_on(PgDatabase::create())
    }

    /// Its URL, for `DATABASE_URL` or `meshbench_store::open`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn column(&self, sql: &str) -> Vec<String> {
        let mut conn = PgConnection::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url()));
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
        rows
    }

    /// [`PgDatabase::column`] for synchronous tests.
    pub fn column_blocking(&self, sql: &str) -> Vec<String> {
        crate::block_on(self.column(sql))
    }

    /// Drops the database now, closing whatever is still connected to it; panics when that
    /// fails.
    pub async fn remove(mut self) {
        self.removed = true;
        drop_database(&self.server, &self.name)
            .await
            .unwrap_or_else(|e| panic!("cannot drop test database {}: {e}", self.name));
    }
}

async fn drop_database(server: &str, name: &str) -> Result<(), String> {
    let mut conn = admin(server).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(())
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if !self.removed {
            // Best effort: a database left behind is only litter on a test server.
            let _ = crate::block_on(drop_database(&self.server, &self.name));
        }
    }
}
