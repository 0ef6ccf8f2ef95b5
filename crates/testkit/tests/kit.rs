//! The kit's own checks: each helper does what the tests rely on.

use std::net::TcpStream;

use meshbench_testkit::app::{self, App, Backends};
use meshbench_testkit::peer::Peer;
use meshbench_testkit::port::RefusingPort;
use meshbench_testkit::{temp_dir, Client, PgDatabase, RedisPrefix};

#[tokio::test]
async fn in_process_api_on_postgres_and_redis_answers_over_a_socket() {
    let pg = PgDatabase::create().await;
    let prefix = RedisPrefix::new("kit");
    let dir = temp_dir("kit");
    let backends = Backends::open(Some(&pg.url()), dir.path(), Some(&prefix)).await;
    assert_eq!(backends.store.backend(), "postgres");
    let app = App::serve(app::state(&backends, dir.path(), None)).await;
    let base = app.base_url();
    // The client is blocking: off the runtime's threads.
    let health = tokio::task::spawn_blocking(move || Client::new(base).get("/health"))
        .await
        .expect("request thread");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "healthy", "{}", health.body);
    let tables = pg
        .column("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .await;
    assert!(tables.iter().any(|t| t == "benchmark_jobs"), "{tables:?}");
    drop(app);
    backends.store.close().await;
    prefix.cleanup().await;
    pg.remove().await;
}

#[test]
fn a_refusing_port_refuses() {
    let port = RefusingPort::new();
    let err = TcpStream::connect(port.addr()).expect_err("nothing may answer");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_peer_on_port_zero_is_found() {
    let peer = Peer::spawn(
        "python3",
        &["-m", "http.server", "0", "--bind", "127.0.0.1"],
        "python3 is needed",
    );
    let r = Client::new(format!("http://127.0.0.1:{}", peer.port)).get("/");
    assert_eq!(r.status, 200);
}
