//! Who may start load, through the real `meshbench serve`: what a page on another web site
//! can make a browser do to a local meshbench, and what it cannot.

// The shared bodies are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use meshbench_testkit::server::{command, Scratch, Server, Setup};
use meshbench_testkit::{curl, PgDatabase};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// The embedded setup without workers, on the test's own PostgreSQL database.
fn on_postgres(pg: &PgDatabase) -> Setup {
    Setup {
        database_url: Some(pg.url()),
        ..Setup::sqlite(0)
    }
}

fn jobs(server: &Server) -> u64 {
    let r = server.get("/benchmarks/jobs");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().map_or(0, |a| a.len() as u64)
}

/// What a form or `fetch(…, {mode: "no-cors"})` on another site sends: a `text/plain` POST,
/// which needs no CORS preflight, with the page's origin.
#[test]
fn a_page_on_another_site_cannot_start_load_or_listen() {
    let scratch = Scratch::new(BIN, "cross-site");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    assert!(
        server.proc.tail().contains("development mode: no users"),
        "{}",
        server.proc.tail()
    );
    let base = format!("http://127.0.0.1:{}", server.port());
    let body = r#"{"test_type":"http","duration":5,"service_url":"http://127.0.0.1:9/"}"#;
    let post = |origin: &str, extra: &[&str]| {
        let header = format!("Origin: {origin}");
        let start = format!("{base}/benchmarks/start");
        let mut args = vec!["-X", "POST", &start, "-H", "Content-Type: text/plain", "-H"];
        args.push(&header);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-d", body]);
        curl(&args)
    };

    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let (code, answer) = post(origin, &[]);
        assert_eq!(code, 403, "{origin}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["code"], "cross_site_request", "{answer}");
    }
    // No Origin, but the browser's own word that the request is cross-site.
    let start = format!("{base}/benchmarks/start");
    let (code, answer) = curl(&[
        "-X",
        "POST",
        &start,
        "-H",
        "Sec-Fetch-Site: cross-site",
        "-d",
        body,
    ]);
    assert_eq!(code, 403, "{answer}");
    // Deleting is a state change too.
    let (code, answer) = curl(&[
        "-X",
        "DELETE",
        &format!("{base}/benchmarks/jobs/anything"),
        "-H",
        "Origin: https://evil.example",
    ]);
    assert_eq!(code, 403, "{answer}");
    assert_eq!(jobs(&server), 0, "a refused request left a job behind");

    // A WebSocket handshake from another site: refused before the upgrade.
    let ws = format!("{base}/ws");
    let (code, answer) = curl(&[
        "--http1.1",
        &ws,
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Origin: https://evil.example",
    ]);
    assert_eq!(code, 403, "{answer}");

    // The server's own pages (at either name it is reached by) and clients that are not
    // browsers pass.
    let (code, answer) = post(&base, &[]);
    assert_eq!(code, 202, "{answer}");
    let own = format!("http://localhost:{}", server.port());
    let host = format!("Host: localhost:{}", server.port());
    let (code, answer) = post(&own, &["-H", &host]);
    assert_eq!(code, 202, "{answer}");
    let (code, answer) = curl(&["-X", "POST", &start, "-d", body]);
    assert_eq!(code, 202, "{answer}");
    assert_eq!(jobs(&server), 3);

    // A WebSocket client may send small subscriptions, not megabytes.
    let mut ws = meshbench_testkit::ws::Ws::connect(server.addr, "/ws");
    ws.send(&json!({"subscribe": "all"}));
    assert!(!ws.closed_by(Instant::now() + Duration::from_millis(300)));
    ws.send(&json!({"subscribe": "x".repeat(10_000)}));
    assert!(
        ws.closed_by(Instant::now() + Duration::from_secs(5)),
        "a 10 kB message did not end the connection"
    );
}

/// Answers every request on `listener` with a redirect to `location`, until `until`.
fn redirect_everything(listener: TcpListener, location: String, until: Instant) {
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while Instant::now() < until {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let location = location.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                );
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
}

/// `MESHBENCH_TARGET_ALLOW` holds only 127.0.0.2: a target at 127.0.0.1 is refused before
/// any connection is made, whether written as an address or as a name resolving there, in
/// a plain start and in a series; and a target that is allowed but redirects there gets no
/// request through to it (redirects are counted, never followed).
#[test]
fn load_goes_only_where_the_policy_allows() {
    let forbidden = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = forbidden.local_addr().unwrap().port();
    let redirector = TcpListener::bind("127.0.0.2:0").unwrap();
    let allowed = redirector.local_addr().unwrap().port();
    redirect_everything(
        redirector,
        format!("http://127.0.0.1:{port}/"),
        Instant::now() + Duration::from_secs(60),
    );
    let scratch = Scratch::new(BIN, "target-policy");
    let mut setup = Setup::sqlite(1);
    setup
        .env
        .push(("MESHBENCH_TARGET_ALLOW".into(), "127.0.0.2".into()));
    let server = Server::start(&scratch, &setup);

    let job = |url: String| json!({"test_type": "http", "duration": 1, "concurrent_connections": 2, "service_url": url});
    for (url, says) in [
        (
            format!("http://127.0.0.1:{port}/"),
            format!("127.0.0.1:{port} is not allowed"),
        ),
        (
            format!("http://localhost:{port}/"),
            "`localhost` resolves there".to_string(),
        ),
    ] {
        let r = server.post("/benchmarks/start", &job(url.clone()));
        assert_eq!(r.status, 403, "{url}: {}", r.body);
        let answer = r.json();
        assert_eq!(answer["code"], "target_forbidden", "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with("service_url: "), "{message}");
        assert!(message.contains(&says), "{message}");
        assert!(
            message.contains("MESHBENCH_TARGET_ALLOW (127.0.0.2)"),
            "{message}"
        );
    }
    let r = server.post(
        "/series/start",
        &json!({"repeats": 1, "configurations": [
            job(format!("http://127.0.0.2:{allowed}/")),
            job(format!("http://localhost:{port}/")),
        ]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("configurations[1].service_url: "),
        "{}",
        r.body
    );
    assert_eq!(jobs(&server), 0, "a refused start left a job behind");

    let id = server.start_job(&job(format!("http://127.0.0.2:{allowed}/")));
    let (finished, _) = server.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(finished["status"], "completed", "{finished}");
    let result = server.get(&format!("/benchmarks/jobs/{id}/result"));
    assert_eq!(result.status, 200, "{}", result.body);
    let result = result.json();
    assert!(
        result["status_codes"]["302"].as_u64().unwrap_or(0) > 0,
        "{}",
        result["status_codes"]
    );
    forbidden.set_nonblocking(true).unwrap();
    match forbidden.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the forbidden listener saw a connection: {other:?}"),
    }
}

/// `meshbench user …` with `stdin` as its standard input: (exit code, stdout, stderr).
fn user(scratch: &Scratch, setup: &Setup, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    let mut child = command(scratch, setup, &all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Adding, listing and changing users from the command line, with every refusal said.
fn users_from_the_command_line(scratch: &Scratch, setup: &Setup) {
    let ok = |args: &[&str], stdin: &str| {
        let (code, out, err) = user(scratch, setup, args, stdin);
        assert_eq!(code, 0, "user {args:?}: {err}");
        out
    };
    ok(
        &["add", "alice", "--role", "admin"],
        "a long enough secret\n",
    );
    ok(&["add", "bob"], "another long secret\n");
    let listed: Value = serde_json::from_str(&ok(&["list", "--json"], "")).unwrap();
    let users = listed.as_array().unwrap();
    assert_eq!(users.len(), 2, "{listed}");
    assert_eq!(
        (users[0]["username"].as_str(), users[0]["role"].as_str()),
        (Some("alice"), Some("admin"))
    );
    assert_eq!(
        (users[1]["username"].as_str(), users[1]["role"].as_str()),
        (Some("bob"), Some("viewer"))
    );
    assert!(
        !listed.to_string().contains("argon2"),
        "a listing shows a hash: {listed}"
    );
    ok(&["role", "bob", "operator"], "");
    ok(&["disable", "bob"], "");
    ok(&["passwd", "bob"], "a brand new secret\n");
    let table = ok(&["list"], "");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("bob") && l.contains("operator") && l.contains("disabled")),
        "{table}"
    );
    for (args, stdin, says) in [
        (
            &["add", "alice"][..],
            "a long enough secret\n",
            "exists already",
        ),
        (&["add", "carol"][..], "short\n", "at least 10 characters"),
        (&["add", "Carol"][..], "a long enough secret\n", "username"),
        (
            &["add", "carol", "--role", "root"][..],
            "a long enough secret\n",
            "not viewer, operator or admin",
        ),
        (&["disable", "nobody"][..], "", "no user `nobody`"),
        (
            &["passwd", "nobody"][..],
            "a long enough secret\n",
            "no user `nobody`",
        ),
    ] {
        let (code, _, err) = user(scratch, setup, args, stdin);
        assert_eq!(code, 1, "user {args:?} should fail: {err}");
        assert!(err.contains(says), "user {args:?}: {err}");
    }
}

#[test]
fn users_from_the_command_line_on_sqlite() {
    let scratch = Scratch::new(BIN, "users-sqlite");
    users_from_the_command_line(&scratch, &Setup::sqlite(0));
}

#[test]
fn users_from_the_command_line_on_postgres() {
    let scratch = Scratch::new(BIN, "users-pg");
    let pg = PgDatabase::create_blocking();
    let setup = on_postgres(&pg);
    users_from_the_command_line(&scratch, &setup);
    let hashes = pg.column_blocking("SELECT password_hash FROM users ORDER BY username");
    assert_eq!(hashes.len(), 2);
    assert!(
        hashes.iter().all(|h| h.starts_with("$argon2id$")),
        "{hashes:?}"
    );
}

/// Once users exist, every API request needs a session or a token, and each role may do
/// what it may and no more; revoking a token, logging out or disabling a user takes effect
/// at the next request.
fn roles_sessions_and_tokens(scratch: &Scratch, setup: &Setup) {
    for (name, role) in [
        ("alice", "admin"),
        ("oscar", "operator"),
        ("victor", "viewer"),
    ] {
        let (code, _, err) = user(
            scratch,
            setup,
            &["add", name, "--role", role],
            &format!("{name}'s long password\n"),
        );
        assert_eq!(code, 0, "{err}");
    }
    let server = Server::start(scratch, setup);
    assert!(
        server
            .proc
            .tail()
            .contains("users exist: every API request needs a login or a token"),
        "{}",
        server.proc.tail()
    );
    let c = &server.client;
    let start = r#"{"test_type":"http","duration":1,"concurrent_connections":1,"rate":10}"#;

    // Public, and refused without credentials.
    assert_eq!(c.request("GET", "/health", &[], None).status, 200);
    assert_eq!(c.request("GET", "/openapi.json", &[], None).status, 200);
    let r = c.request("GET", "/benchmarks/jobs", &[], None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["code"], "unauthenticated");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(
        c.request("POST", "/benchmarks/start", &[], Some(start))
            .status,
        401
    );
    let live = "/socket.io/?EIO=4&transport=polling";
    assert_eq!(c.request("GET", live, &[], None).status, 401);

    // Logins: a wrong password, then a viewer's session.
    let login = |name: &str, password: &str| {
        c.request(
            "POST",
            "/auth/login",
            &[],
            Some(&json!({"username": name, "password": password}).to_string()),
        )
    };
    assert_eq!(login("victor", "not the password").status, 401);
    assert_eq!(login("nobody", "not the password").status, 401);
    let r = login("victor", "victor's long password");
    assert_eq!(r.status, 200, "{}", r.body);
    let set_cookie = r.header("set-cookie").unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let as_viewer = [("cookie", cookie.as_str())];
    assert_eq!(
        c.request("GET", "/benchmarks/jobs", &as_viewer, None)
            .status,
        200
    );
    assert_eq!(c.request("GET", live, &as_viewer, None).status, 200);
    let me = c.request("GET", "/auth/me", &as_viewer, None).json();
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("victor"), Some("viewer"))
    );
    let r = c.request("POST", "/benchmarks/start", &as_viewer, Some(start));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "forbidden_role");

    // An operator's token starts load; revoked, it stops at once.
    let r = login("oscar", "oscar's long password");
    let oscar_cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let as_oscar = [("cookie", oscar_cookie.as_str())];
    let r = c.request(
        "POST",
        "/auth/tokens",
        &as_oscar,
        Some(r#"{"name":"ci","expires_in_days":30}"#),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let made = r.json();
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("mbt_"), "{made}");
    let bearer = format!("Bearer {token}");
    let with_token = [("authorization", bearer.as_str())];
    let r = c.request("POST", "/benchmarks/start", &with_token, Some(start));
    assert_eq!(r.status, 202, "{}", r.body);
    let listed = c.request("GET", "/auth/tokens", &with_token, None).json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(
        !listed.to_string().contains(&token),
        "a listing shows the secret"
    );
    let id = made["token_id"].as_str().unwrap();
    // Another non-admin cannot see or revoke it.
    let r = c.request("DELETE", &format!("/auth/tokens/{id}"), &as_viewer, None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = c.request("DELETE", &format!("/auth/tokens/{id}"), &as_oscar, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.request("GET", "/benchmarks/jobs", &with_token, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("revoked"), "{}", r.body);

    // Logging out ends the session; disabling a user ends theirs.
    assert_eq!(
        c.request("POST", "/auth/logout", &as_viewer, None).status,
        204
    );
    assert_eq!(
        c.request("GET", "/benchmarks/jobs", &as_viewer, None)
            .status,
        401
    );
    assert_eq!(
        c.request("GET", "/benchmarks/jobs", &as_oscar, None).status,
        200
    );
    let (code, _, err) = user(scratch, setup, &["disable", "oscar"], "");
    assert_eq!(code, 0, "{err}");
    let r = c.request("GET", "/benchmarks/jobs", &as_oscar, None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);
    assert_eq!(login("oscar", "oscar's long password").status, 401);
}

#[test]
fn roles_sessions_and_tokens_on_sqlite() {
    let scratch = Scratch::new(BIN, "roles-sqlite");
    roles_sessions_and_tokens(&scratch, &Setup::sqlite(0));
}

#[test]
fn roles_sessions_and_tokens_on_postgres() {
    let scratch = Scratch::new(BIN, "roles-pg");
    let pg = PgDatabase::create_blocking();
    let setup = on_postgres(&pg);
    roles_sessions_and_tokens(&scratch, &setup);
}

/// Every operation in the OpenAPI document, called without credentials and as a viewer:
/// only the public ones answer without a login, and a viewer may read but not change
/// anything (the `/auth/` routes and `POST /metrics/compare`, a read, aside; users and the
/// audit log are an admin's). A new route cannot ship unchecked: it is in the document (a
/// test keeps the document complete), so it is called here.
fn every_documented_route_checks_the_caller(scratch: &Scratch, setup: &Setup) {
    let (code, _, err) = user(
        scratch,
        setup,
        &["add", "vera", "--role", "viewer"],
        "vera's long password\n",
    );
    assert_eq!(code, 0, "{err}");
    let server = Server::start(scratch, setup);
    let c = &server.client;
    let r = c.request(
        "POST",
        "/auth/login",
        &[],
        Some(r#"{"username":"vera","password":"vera's long password"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let document = c.request("GET", "/openapi.json", &[], None).json();
    let public = [
        ("get", "/health"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("get", "/reports/shared/{share_token}"),
        ("post", "/auth/login"),
    ];
    let mut checked = 0;
    for (template, operations) in document["paths"].as_object().unwrap() {
        // Path parameters get a value no resource has: the check comes before the lookup.
        let path: String = template
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "no-such-id"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            if !["get", "post", "delete", "put", "patch"].contains(&method.as_str()) {
                continue;
            }
            let upper = method.to_uppercase();
            let body = (method != "get").then_some("{}");
            let anonymous = c.request(&upper, &path, &[], body);
            if public.contains(&(method.as_str(), template.as_str())) {
                assert_ne!(anonymous.status, 401, "{upper} {template} is public");
                continue;
            }
            assert_eq!(
                anonymous.status, 401,
                "{upper} {template} answered without a login: {}",
                anonymous.body
            );
            if template == "/auth/logout" {
                continue;
            }
            let as_viewer = c.request(&upper, &path, &[("cookie", cookie.as_str())], body);
            // Users and the audit log are an admin's alone, reads included.
            let admin_only = template.starts_with("/users") || template == "/audit";
            let reads = !admin_only
                && (method == "get"
                    || template.starts_with("/auth/")
                    || template == "/metrics/compare");
            if reads {
                assert!(
                    ![401, 403].contains(&as_viewer.status),
                    "a viewer may {upper} {template}: {} {}",
                    as_viewer.status,
                    as_viewer.body
                );
            } else {
                assert_eq!(
                    as_viewer.status, 403,
                    "a viewer may not {upper} {template}: {}",
                    as_viewer.body
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations checked");
}

#[test]
fn every_documented_route_checks_the_caller_on_sqlite() {
    let scratch = Scratch::new(BIN, "every-route-sqlite");
    every_documented_route_checks_the_caller(&scratch, &Setup::sqlite(0));
}

#[test]
fn every_documented_route_checks_the_caller_on_postgres() {
    let scratch = Scratch::new(BIN, "every-route-pg");
    let pg = PgDatabase::create_blocking();
    every_documented_route_checks_the_caller(&scratch, &on_postgres(&pg));
}

/// A session cookie for `name`, logged in through `server`.
fn session(server: &Server, name: &str, password: &str) -> String {
    let r = server.client.request(
        "POST",
        "/auth/login",
        &[],
        Some(&json!({"username": name, "password": password}).to_string()),
    );
    assert_eq!(r.status, 200, "login {name}: {}", r.body);
    r.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The first admin made from the environment, users added by an admin through the API,
/// each role's limits on what it may start, and an audit log that says who did what,
/// against which target, from where — refusals included.
fn audit_limits_and_admins(scratch: &Scratch, setup: &Setup) {
    let mut setup = setup.clone();
    setup.env.extend([
        ("MESHBENCH_ADMIN_USER".into(), "root-admin".into()),
        (
            "MESHBENCH_ADMIN_PASSWORD".into(),
            "the first admin's password".into(),
        ),
        (
            "MESHBENCH_OPERATOR_LIMITS".into(),
            "duration=30,connections=4,rate=100,jobs=2".into(),
        ),
    ]);
    let server = Server::start(scratch, &setup);
    assert!(
        server
            .proc
            .tail()
            .contains("made the first admin `root-admin`"),
        "{}",
        server.proc.tail()
    );
    let c = &server.client;
    let admin_cookie = session(&server, "root-admin", "the first admin's password");
    let as_admin = [("cookie", admin_cookie.as_str())];

    // An admin adds an operator; names and passwords are checked; the last admin stays.
    let add = |body: Value| c.request("POST", "/users", &as_admin, Some(&body.to_string()));
    let r =
        add(json!({"username": "olga", "password": "olga's long password", "role": "operator"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["role"], "operator");
    assert!(!r.body.contains("argon2"), "{}", r.body);
    let r = add(json!({"username": "olga", "password": "olga's long password", "role": "viewer"}));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("user_exists"))
    );
    let r =
        add(json!({"username": "Bad Name", "password": "long enough password", "role": "viewer"}));
    assert_eq!(r.status, 422, "{}", r.body);
    let r = add(json!({"username": "short", "password": "short", "role": "viewer"}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("password"), "{}", r.body);
    let r = c.request(
        "PATCH",
        "/users/root-admin",
        &as_admin,
        Some(r#"{"role":"viewer"}"#),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (409, Some("last_admin"))
    );
    let users = c.request("GET", "/users", &as_admin, None).json();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");

    // The operator's limits: each refused with the field and the limit named.
    let olga_cookie = session(&server, "olga", "olga's long password");
    let as_olga = [("cookie", olga_cookie.as_str())];
    let start = |body: Value, who: &[(&str, &str)]| {
        c.request("POST", "/benchmarks/start", who, Some(&body.to_string()))
    };
    let light =
        json!({"test_type": "http", "duration": 5, "concurrent_connections": 2, "rate": 10});
    for (change, field) in [
        (
            json!({"concurrent_connections": 5}),
            "concurrent_connections",
        ),
        (json!({"duration": 31}), "duration"),
        (json!({"rate": 101}), "rate"),
    ] {
        let mut body = light.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = start(body, &as_olga);
        assert_eq!(r.status, 403, "{field}: {}", r.body);
        let answer = r.json();
        assert_eq!(answer["code"], "role_limit", "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // Two runs at once (no workers here: they stay pending), not three.
    let first = start(light.clone(), &as_olga);
    assert_eq!(first.status, 202, "{}", first.body);
    let first_id = first.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(start(light.clone(), &as_olga).status, 202);
    let r = start(light.clone(), &as_olga);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("2 runs pending or running"), "{}", r.body);
    // An admin has the server's limits only; cancelling one of olga's frees a place.
    let big = json!({"test_type": "http", "duration": 60, "concurrent_connections": 50, "rate": 500,
        "headers": {"Authorization": "Bearer s3cret-value", "Accept": "text/plain"}});
    let r = start(big, &as_admin);
    assert_eq!(r.status, 202, "{}", r.body);
    // A credential in a header is kept for the worker and never shown back.
    let big_id = r.json()["job_id"].as_str().unwrap().to_string();
    let shown = c.request(
        "GET",
        &format!("/benchmarks/jobs/{big_id}"),
        &as_admin,
        None,
    );
    assert_eq!(
        shown.json()["request"]["headers"]["Authorization"],
        "<redacted>"
    );
    assert_eq!(shown.json()["request"]["headers"]["Accept"], "text/plain");
    let listing = c.request("GET", "/benchmarks/jobs?limit=100", &as_admin, None);
    assert!(!listing.body.contains("s3cret"), "{}", listing.body);
    let r = c.request(
        "DELETE",
        &format!("/benchmarks/jobs/{first_id}"),
        &as_admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(start(light.clone(), &as_olga).status, 202);

    // An operator's probe says what it watches; only an admin may watch the whole host.
    let probe = |body: Value, who: &[(&str, &str)]| {
        c.request("POST", "/ebpf/probe/start", who, Some(&body.to_string()))
    };
    let r = probe(json!({"duration": 5}), &as_olga);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("role_limit")),
        "{}",
        r.body
    );
    assert!(r.body.contains("admin role"), "{}", r.body);
    // Past the policy, it stops only where this server cannot probe (no worker here).
    assert_ne!(
        probe(json!({"duration": 5, "ports": [8080]}), &as_olga).status,
        403
    );
    assert_ne!(probe(json!({"duration": 5}), &as_admin).status, 403);

    // Guessing passwords runs into the limit.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = c.request(
            "POST",
            "/auth/login",
            &[],
            Some(r#"{"username":"olga","password":"a wrong guess"}"#),
        );
        statuses.push(r.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 401, "{statuses:?}");

    // The log: newest first, each with who, what, target, address and outcome.
    let r = c.request("GET", "/audit?limit=1000", &as_admin, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let total: u64 = r.header("x-total-count").unwrap().parse().unwrap();
    let log = r.json();
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len() as u64, total);
    let find = |action: &str, outcome: &str, user: Option<&str>| {
        entries
            .iter()
            .filter(|e| {
                e["action"] == action && e["outcome"] == outcome && e["username"].as_str() == user
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find("user.add", "ok", None).len(),
        1,
        "the first admin, by serve"
    );
    assert_eq!(find("user.add", "ok", Some("root-admin")).len(), 1);
    let started = find("benchmark.start", "ok", Some("olga"));
    assert_eq!(started.len(), 3, "{log}");
    assert!(started.iter().any(|e| e["subject"] == first_id.as_str()));
    assert!(started.iter().all(|e| e["target"] == "built-in target"
        && e["address"] == "127.0.0.1"
        && e["role"] == "operator"));
    let refused = find("benchmark.start", "refused", Some("olga"));
    assert_eq!(refused.len(), 4, "{log}");
    assert!(refused
        .iter()
        .any(|e| e["detail"].as_str().unwrap().contains("operator limit")));
    let cancelled = find("benchmark.cancel", "ok", Some("root-admin"));
    assert_eq!(cancelled.len(), 1, "{log}");
    assert_eq!(cancelled[0]["subject"], first_id.as_str());
    assert!(!find("login", "refused", Some("olga")).is_empty());
    assert!(find("login", "refused", None)
        .iter()
        .any(|e| e["detail"].as_str().unwrap().contains("rate limited")));
    assert!(entries[0]["audit_id"].as_i64() > entries[entries.len() - 1]["audit_id"].as_i64());
    // Filters.
    let r = c.request(
        "GET",
        "/audit?action=benchmark.&username=olga",
        &as_admin,
        None,
    );
    assert_eq!(r.header("x-total-count"), Some("7"), "{}", r.body);
    // An operator cannot read it.
    assert_eq!(c.request("GET", "/audit", &as_olga, None).status, 403);
}

#[test]
fn audit_limits_and_admins_on_sqlite() {
    let scratch = Scratch::new(BIN, "audit-sqlite");
    audit_limits_and_admins(&scratch, &Setup::sqlite(0));
}

#[test]
fn audit_limits_and_admins_on_postgres() {
    let scratch = Scratch::new(BIN, "audit-pg");
    let pg = PgDatabase::create_blocking();
    audit_limits_and_admins(&scratch, &on_postgres(&pg));
}

/// Development mode needs loopback: bound anywhere else without users, serve refuses to
/// start and says how to add one.
#[test]
fn serving_beyond_loopback_needs_users() {
    let scratch = Scratch::new(BIN, "bind");
    let mut setup = Setup::sqlite(0);
    setup.env.push(("API_HOST".into(), "0.0.0.0".into()));
    let mut child = command(&scratch, &setup, &["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve on 0.0.0.0 without users kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("refusing to serve on 0.0.0.0"), "{err}");
    assert!(err.contains("meshbench user add"), "{err}");
    // With a user it serves (and says that a login is needed).
    let (code, _, err) = user(
        &scratch,
        &setup,
        &["add", "ada", "--role", "admin"],
        "ada's long password\n",
    );
    assert_eq!(code, 0, "{err}");
    let server = Server::start(&scratch, &setup);
    assert_eq!(server.get("/benchmarks/jobs").status, 401);
}
