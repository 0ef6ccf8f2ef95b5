//! A Redis key space per test, on the server at 127.0.0.1:6379.
//!
//! - [`RedisPrefix`]: a fresh key prefix (and events channel), for code that takes one
//!   (`meshbench_queue::open_with_prefix`); its keys are deleted at the end.
//! - [`RedisDatabase`]: a whole logical database 1–15, for processes that use the fixed prefix
//!   `meshbench:` (the `meshbench` binary); it is claimed with a lock key in database 0 so that
//!   concurrent test processes never share one, and flushed at the end. Pub/sub is not per
//!   database: events of other deployments may still arrive, so checks filter by job id.

use redis::aio::MultiplexedConnection;

/// The Redis server the tests use.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How to get a server when there is none.
const HINT: &str =
    "The Redis tests need a server on 127.0.0.1:6379 (e.g. `redis-server --daemonize yes`).";

async fn connect(db: u8) -> Result<MultiplexedConnection, String> {
    let url = format!("{REDIS_URL}/{db}");
    let client = redis::Client::open(url.as_str()).map_err(|e| format!("{url}: {e}"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis is not reachable at {url}: {e}"))
}

/// A key prefix of one test's own: `meshbench-test:<tag>:<32 hex digits>:`.
#[derive(Debug)]
pub struct RedisPrefix {
    prefix: String,
    cleaned: bool,
}

impl RedisPrefix {
    /// A fresh prefix; `tag` (the test's name, say) makes leftovers easy to trace.
    pub fn new(tag: &str) -> RedisPrefix {
        RedisPrefix {
            prefix: format!("meshbench-test:{tag}:{}:", crate::unique()),
            cleaned: false,
        }
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The server's URL.
    pub fn url(&self) -> &'static str {
        REDIS_URL
    }

    /// Deletes every key under the prefix now; panics when Redis does not answer.
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        delete_keys(&self.prefix)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{HINT}"));
    }
}

async fn delete_keys(prefix: &str) -> Result<(), String> {
    let mut conn = connect(0).await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        if !self.cleaned {
            let _ = crate::block_on(delete_keys(&self.prefix));
        }
    }
}

/// A Redis logical database (1–15) one test has to itself: empty when claimed, flushed and
/// released on drop.
#[derive(Debug)]
pub struct RedisDatabase {
    db: u8,
    lock: String,
    token: String,
}

/// The lock key of database `db`, in database 0. Earlier copies of this helper used the same
/// name, so they and the kit never claim the same database.
fn lock_key(db: u8) -> String {
    format!("meshbench-platform-test:db:{db}")
}

impl RedisDatabase {
    /// Claims an empty, unclaimed database; panics when Redis is unreachable or none is free.
    pub fn claim() -> RedisDatabase {
        crate::block_on(async {
            let token = crate::unique();
            let mut db0 = connect(0).await.unwrap_or_else(|e| panic!("{e}\n{HINT}"));
            // Start at a random database, so concurrent claimers rarely collide.
            let first = uuid::Uuid::new_v4().as_bytes()[0] as usize;
            for i in 0..15 {
                let db = 1 + ((first + i) % 15) as u8;
                let lock = lock_key(db);
                let claimed: Option<String> = redis::cmd("SET")
                    .arg(&lock)
                    .arg(&token)
                    .arg("NX")
                    .arg("EX")
                    .arg(600)
                    .query_async(&mut db0)
                    .await
                    .unwrap_or_else(|e| panic!("{e}\n{HINT}"));
                if claimed.is_none() {
                    continue;
                }
                let size: u64 = redis::cmd("DBSIZE")
                    .query_async(&mut connect(db).await.unwrap_or_else(|e| panic!("{e}")))
                    .await
                    .unwrap_or_else(|e| panic!("DBSIZE on {db}: {e}"));
                if size == 0 {
                    return RedisDatabase { db, lock, token };
                }
                // Someone else's data: leave it alone and release the lock.
                let _ = redis::cmd("DEL")
                    .arg(&lock)
                    .query_async::<()>(&mut db0)
                    .await;
            }
            panic!("no empty, unclaimed Redis logical database 1–15 at {REDIS_URL}");
        })
    }

    /// Its number.
    pub fn number(&self) -> u8 {
        self.db
    }

    /// `redis://127.0.0.1:6379/<n>`, for `REDIS_URL`.
    pub fn url(&self) -> String {
        format!("{REDIS_URL}/{}", self.db)
    }

    /// How many keys it holds.
    pub fn dbsize(&self) -> u64 {
        let db = self.db;
        crate::block_on(async move {
            let mut conn = connect(db).await.unwrap_or_else(|e| panic!("{e}"));
            redis::cmd("DBSIZE")
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("DBSIZE on {db}: {e}"))
        })
    }
}

impl Drop for RedisDatabase {
    fn drop(&mut self) {
        let (db, lock, token) = (self.db, self.lock.clone(), self.token.clone());
        let _ = crate::block_on(async move {
            let mut conn = connect(db).await?;
            let _ = redis::cmd("FLUSHDB").query_async::<()>(&mut conn).await;
            let mut db0 = connect(0).await?;
            let holder: Option<String> = redis::cmd("GET")
                .arg(&lock)
                .query_async(&mut db0)
                .await
                .map_err(|e| e.to_string())?;
            if holder.as_deref() == Some(token.as_str()) {
                let _ = redis::cmd("DEL")
                    .arg(&lock)
                    .query_async::<()>(&mut db0)
                    .await;
            }
            Ok::<_, String>(())
        });
    }
}
