//! The API through its router (`tower::ServiceExt::oneshot`, no socket): an in-memory SQLite
//! store and the in-process queue, with jobs and results put straight into the store, so
//! every answer can be checked against known data. The real binary on real PostgreSQL and
//! Redis is tested in `crates/cli/tests/platform.rs`.

// The helpers are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use meshbench_core::histogram::{encode_base64, new_histogram, record_us, summarize};
use meshbench_core::{
    BenchmarkJob, BenchmarkResult, BenchmarkSpec, JobStatus, JobSummary, LoadgenInfo, TestType,
    RESULT_SCHEMA,
};
use meshbench_store::{Report, Store};
use meshbench_testkit::app::Backends;
use meshbench_testkit::{temp_dir, StoreExt, TempDir};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

struct App {
    router: Router,
    store: Arc<dyn Store>,
    results: TempDir,
}

async fn app(dashboard_dir: Option<&Path>) -> App {
    let backends = Backends::open(Some("sqlite::memory:"), Path::new("."), None).await;
    let results = temp_dir("api-results");
    let state = meshbench_testkit::app::state(&backends, results.path(), dashboard_dir);
    App {
        router: meshbench_api::router(state),
        store: backends.store,
        results,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    /// The fields a 422 names.
    fn fields(&self) -> Vec<String> {
        let json = self.json();
        assert_eq!(json["code"], "validation_error", "{json}");
        json["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["field"].as_str().expect("field").to_string())
            .collect()
    }
}

impl App {
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Body::from(body.to_string())).expect("request");
        let response = tower::ServiceExt::oneshot(self.router.clone(), request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &[], "").await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            &body.to_string(),
        )
        .await
    }

    /// A job as the store keeps it; with a result made of `latencies` when given.
    async fn job(&self, id: &str, mesh: &str, created: OffsetDateTime, latencies: Option<&[u64]>) {
        let mut job = BenchmarkJob {
            job_id: id.to_string(),
            status: JobStatus::Pending,
            test_type: TestType::Http,
            mesh_type: mesh.to_string(),
            namespace: "bench".to_string(),
            created_at: created,
            started_at: None,
            completed_at: None,
            progress: 0.0,
            error: None,
            request: json!({"test_type": "http", "mesh_type": mesh, "duration": 10,
                            "concurrent_connections": 4}),
            summary: None,
            attempts: 0,
            parent_id: None,
            series: None,
            invalid_reasons: Vec::new(),
        };
        if latencies.is_some() {
            job.status = JobStatus::Completed;
            job.started_at = Some(created + time::Duration::seconds(1));
            job.completed_at = Some(created + time::Duration::seconds(11));
        }
        self.store.insert_job(&job).await.expect("insert");
        if let Some(latencies) = latencies {
            let (result, summary) = result(latencies);
            self.store
                .save_result(id, &result, &summary, &[])
                .await
                .expect("save result");
        }
    }
}

/// A `meshbench.result.v1` whose histograms hold `latencies` (service time: half of each).
fn result(latencies: &[u64]) -> (Value, JobSummary) {
    let mut latency = new_histogram();
    let mut service = new_histogram();
    for &v in latencies {
        record_us(&mut latency, v);
        record_us(&mut service, v / 2 + 1);
    }
    let summary = summarize(&latency);
    let result = BenchmarkResult {
        schema: RESULT_SCHEMA.to_string(),
        spec: BenchmarkSpec::closed_get("http://echo.bench:8080/"),
        model: "closed".to_string(),
        started_at: datetime!(2026-01-31 12:00:01 UTC),
        ended_at: datetime!(2026-01-31 12:00:11 UTC),
        duration_s: 10.0,
        requests: latencies.len() as u64,
        errors: 0,
        rps: latencies.len() as f64 / 10.0,
        requested_rps: None,
        latency_us: summary,
        service_time_us: summarize(&service),
        status_codes: BTreeMap::from([("200".to_string(), latencies.len() as u64)]),
        error_kinds: BTreeMap::new(),
        bytes_sent: 0,
        bytes_received: 0,
        timeline: Vec::new(),
        histogram: encode_base64(&latency).expect("encode"),
        service_histogram: encode_base64(&service).expect("encode"),
        loadgen: LoadgenInfo::default(),
        websocket: None,
        grpc: None,
        ml: None,
        kernel: None,
        kernel_hops: Vec::new(),
        lab: None,
        cluster: None,
        generators: None,
        interval_histograms: Vec::new(),
    };
    let job_summary = JobSummary {
        requests: result.requests,
        errors: 0,
        rps: result.rps,
        p50_us: summary.p50,
        p90_us: summary.p90,
        p99_us: summary.p99,
        p999_us: summary.p999,
        max_us: summary.max,
    };
    (
        serde_json::to_value(&result).expect("serialize"),
        job_summary,
    )
}

fn ids(answer: &Answer) -> Vec<String> {
    answer
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|j| j["job_id"].as_str().expect("id").to_string())
        .collect()
}

const T0: OffsetDateTime = datetime!(2026-01-31 12:00 UTC);

// ---------------------------------------------------------------------------------------
// 1 & 2: listing sort, CORS

#[tokio::test]
async fn listings_sort_and_order() {
    let app = app(None).await;
    let latencies: &[u64] = &[100, 200, 300];
    app.job("j1", "istio", T0, Some(latencies)).await;
    app.job(
        "j2",
        "baseline",
        T0 + time::Duration::minutes(1),
        Some(latencies),
    )
    .await;
    app.job("j3", "linkerd", T0 + time::Duration::minutes(2), None)
        .await;

    assert_eq!(ids(&app.get("/benchmarks/jobs").await), ["j3", "j2", "j1"]);
    assert_eq!(
        ids(&app.get("/benchmarks/jobs?order=asc").await),
        ["j1", "j2", "j3"]
    );
    let sorted = app.get("/benchmarks/jobs?sort=mesh_type&order=asc").await;
    assert_eq!(ids(&sorted), ["j2", "j1", "j3"]);
    assert_eq!(sorted.header("x-total-count"), "3");
    // Unfinished jobs last, whichever the direction.
    assert_eq!(
        ids(&app
            .get("/benchmarks/jobs?sort=completed_at&order=desc")
            .await),
        ["j2", "j1", "j3"]
    );
    assert_eq!(
        ids(&app
            .get("/benchmarks/jobs?sort=completed_at&order=asc")
            .await),
        ["j1", "j2", "j3"]
    );
    // /metrics/results: completed only, same parameters.
    assert_eq!(
        ids(&app.get("/metrics/results?sort=mesh_type&order=desc").await),
        ["j1", "j2"]
    );

    for (query, field) in [
        ("sort=progress", "sort"),
        ("sort=created_at%20desc", "sort"),
        ("order=DESC", "order"),
        ("order=", "order"),
    ] {
        for path in ["/benchmarks/jobs", "/metrics/results"] {
            let r = app.get(&format!("{path}?{query}")).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}");
            assert_eq!(r.fields(), [field], "{path}?{query}");
            assert!(r.json()["message"].as_str().unwrap().contains(field));
        }
    }
    let r = app.get("/benchmarks/jobs?sort=bogus&order=up").await;
    let mut fields = r.fields();
    fields.sort();
    assert_eq!(fields, ["order", "sort"]);
}

#[tokio::test]
async fn cors_exposes_the_total_and_the_file_name() {
    let app = app(None).await;
    let r = app
        .call(
            Method::GET,
            "/benchmarks/jobs",
            &[("origin", "http://localhost:5173")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("access-control-allow-origin"),
        "http://localhost:5173"
    );
    let exposed = r
        .header("access-control-expose-headers")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-total-count"), "{exposed}");
    assert!(exposed.contains("content-disposition"), "{exposed}");
}

// ---------------------------------------------------------------------------------------
// 3: distribution

#[tokio::test]
async fn distribution_of_a_stored_result() {
    let app = app(None).await;
    let latencies: Vec<u64> = (1..=10_000).collect();
    app.job("dist-1", "baseline", T0, Some(&latencies)).await;
    let r = app.get("/benchmarks/jobs/dist-1/distribution").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = r.json();
    assert_eq!(d["job_id"], "dist-1");
    let latency = &d["latency"];
    assert_eq!(latency["total_count"], 10_000);
    assert_eq!(latency["min_us"], 1);
    assert_eq!(latency["max_us"], 10_007);
    assert!((latency["mean_us"].as_f64().unwrap() - 5000.5).abs() < 5.0);
    let spectrum = latency["spectrum"].as_array().unwrap();
    let p50 = spectrum.iter().find(|p| p["percentile"] == 50.0).unwrap();
    assert_eq!(p50["value_us"], 5_003);
    assert_eq!(p50["count"], 5_003);
    let last = spectrum.last().unwrap();
    assert_eq!(last["percentile"], 100.0);
    assert_eq!(last["value_us"], 10_007);
    assert_eq!(last["count"], 10_000);
    let buckets = latency["buckets"].as_array().unwrap();
    assert!(
        buckets.len() >= 40 && buckets.len() <= 50,
        "{}",
        buckets.len()
    );
    let sum: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(sum, 10_000);
    // Service time is its own histogram (half the latency here).
    assert_eq!(d["service_time"]["total_count"], 10_000);
    assert!(d["service_time"]["max_us"].as_u64().unwrap() < 5_100);

    let r = app.get("/benchmarks/jobs/nope/distribution").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "job_not_found");

    app.job("dist-pending", "baseline", T0, None).await;
    let r = app.get("/benchmarks/jobs/dist-pending/distribution").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "result_not_ready");

    // A stored result whose histogram is garbage: a 500 that says so.
    app.job("dist-bad", "baseline", T0, None).await;
    let (mut bad, summary) = result(&[5, 6, 7]);
    bad["histogram"] = json!("not base64 at all!");
    app.store
        .save_result("dist-bad", &bad, &summary, &[])
        .await
        .unwrap();
    let r = app.get("/benchmarks/jobs/dist-bad/distribution").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.json();
    assert_eq!(body["code"], "histogram_unreadable");
    assert!(
        body["message"].as_str().unwrap().contains("`histogram`"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------
// 4: reports

async fn three_runs(app: &App) {
    let fast: Vec<u64> = (0..1000).map(|i| 100 + i % 50).collect();
    let slow: Vec<u64> = (0..1000).map(|i| 300 + i % 50).collect();
    app.job("base-1", "baseline", T0, Some(&fast)).await;
    app.job("base-2", "baseline", T0, Some(&fast)).await;
    app.job("mesh-1", "istio", T0, Some(&slow)).await;
}

#[tokio::test]
async fn generate_list_get_download_and_share_reports() {
    let app = app(None).await;
    three_runs(&app).await;
    let mut made = Vec::new();
    for (format, content_type, ext) in [
        ("html", "text/html; charset=utf-8", "html"),
        ("markdown", "text/markdown; charset=utf-8", "md"),
        ("csv", "text/csv; charset=utf-8", "csv"),
        ("json", "application/json", "json"),
    ] {
        let r = app
            .post(
                "/reports/generate",
                &json!({"job_ids": ["base-1", "base-2", "mesh-1"], "title": "Istio <vs> baseline",
                        "format": format}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{format}: {}", r.text());
        let report = r.json();
        let id = report["report_id"].as_str().unwrap().to_string();
        assert_eq!(r.header("location"), format!("/reports/{id}"));
        assert_eq!(report["title"], "Istio <vs> baseline");
        assert_eq!(report["format"], format);
        assert_eq!(report["job_ids"], json!(["base-1", "base-2", "mesh-1"]));
        assert_eq!(report["download_url"], format!("/reports/{id}/download"));
        let share = report["share_url"].as_str().unwrap().to_string();
        let token = share.strip_prefix("/reports/shared/").unwrap();
        assert_eq!(token.len(), 64, "256 random bits in hex: {share}");
        assert!(OffsetDateTime::parse(
            report["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok());
        assert!(app
            .results
            .path()
            .join("reports")
            .join(format!("{id}.{ext}"))
            .exists());

        let download = app.get(&format!("/reports/{id}/download")).await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.header("content-type"), content_type);
        assert_eq!(
            download.header("content-disposition"),
            format!(
                "attachment; filename=\"meshbench-report-{}.{ext}\"",
                &id[..8]
            )
        );
        let shared = app.get(&share).await;
        assert_eq!(shared.status, StatusCode::OK);
        assert_eq!(shared.header("content-type"), content_type);
        assert!(shared.header("content-disposition").starts_with("inline;"));
        assert_eq!(shared.body, download.body);
        made.push((id, format, download.text()));
    }

    let (_, _, page) = &made[0];
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("Istio &lt;vs&gt; baseline"));
    assert!(!page.contains("<vs>"));
    assert!(page.contains("Overhead vs baseline"));
    let (_, _, csv) = &made[2];
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let (_, _, json_text) = &made[3];
    let doc: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(doc["schema"], "meshbench.report.v1");
    assert_eq!(doc["jobs"].as_array().unwrap().len(), 3);
    let overhead = &doc["overhead"][0];
    assert_eq!(overhead["job_id"], "mesh-1");
    let p50 = &overhead["latency"][0];
    assert_eq!(p50["percentile"], "p50");
    // ~125 µs baseline against ~325 µs: +200 µs, +160 %.
    assert!(
        (p50["overhead_us"].as_f64().unwrap() - 200.0).abs() < 2.0,
        "{p50}"
    );
    assert!(
        (p50["overhead_pct"].as_f64().unwrap() - 160.0).abs() < 3.0,
        "{p50}"
    );

    // Listing: newest first, total in the header, paging.
    let list = app.get("/reports").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.header("x-total-count"), "4");
    let listed: Vec<String> = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 4);
    let page = app.get("/reports?limit=2&offset=1").await;
    assert_eq!(page.json().as_array().unwrap().len(), 2);
    assert_eq!(page.json()[0]["report_id"], listed[1]);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
    ] {
        let r = app.get(&format!("/reports?{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.fields(), [field]);
    }

    let (id, format, _) = &made[1];
    let one = app.get(&format!("/reports/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["format"], *format);
    for path in [
        "/reports/00000000-0000-4000-8000-000000000000",
        "/reports/00000000-0000-4000-8000-000000000000/download",
        "/reports/shared/0123456789abcdef0123456789abcdef",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json()["code"], "report_not_found", "{path}");
    }
}

#[tokio::test]
async fn share_links_expire_and_can_be_revoked() {
    let app = app(None).await;
    three_runs(&app).await;
    let r = app
        .post(
            "/reports/generate",
            &json!({"job_ids": ["base-1"], "format": "csv", "share_expires_in_days": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let report = r.json();
    let id = report["report_id"].as_str().unwrap().to_string();
    let share = report["share_url"].as_str().unwrap().to_string();
    let expires = OffsetDateTime::parse(
        report["share_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let in_two_days = OffsetDateTime::now_utc() + time::Duration::days(2);
    assert!(
        (expires - in_two_days).abs() < time::Duration::minutes(1),
        "{report}"
    );
    assert_eq!(app.get(&share).await.status, StatusCode::OK);

    // Revoked: at once, and said so; the report itself stays.
    let r = app
        .call(Method::DELETE, &format!("/reports/{id}/share"), &[], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["share_url"].is_null(), "{}", r.text());
    assert!(r.json()["share_revoked_at"].is_string(), "{}", r.text());
    let gone = app.get(&share).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["code"], "share_link_expired");
    assert!(
        gone.json()["message"].as_str().unwrap().contains("revoked"),
        "{}",
        gone.text()
    );
    assert_eq!(
        app.get(&format!("/reports/{id}/download")).await.status,
        StatusCode::OK
    );
    let r = app
        .call(Method::DELETE, "/reports/no-such-report/share", &[], "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Expired: a link past its time.
    let old = Report {
        report_id: "old-report".to_string(),
        title: "old".to_string(),
        job_ids: vec!["base-1".to_string()],
        format: "csv".to_string(),
        created_at: OffsetDateTime::now_utc() - time::Duration::days(8),
        path: None,
        share_token: Some("old-token".to_string()),
        share_expires_at: Some(OffsetDateTime::now_utc() - time::Duration::days(1)),
        share_revoked_at: None,
    };
    app.store.insert_report(&old).await.unwrap();
    let expired = app.get("/reports/shared/old-token").await;
    assert_eq!(expired.status, StatusCode::NOT_FOUND);
    assert_eq!(expired.json()["code"], "share_link_expired");
    assert!(
        expired.json()["message"]
            .as_str()
            .unwrap()
            .contains("expired at"),
        "{}",
        expired.text()
    );
    assert!(app.get("/reports/old-report").await.json()["share_url"].is_null());

    for days in [0, 366] {
        let r = app
            .post(
                "/reports/generate",
                &json!({"job_ids": ["base-1"], "share_expires_in_days": days}),
            )
            .await;
        assert_eq!(r.fields(), ["share_expires_in_days"], "{days}");
    }
}

#[tokio::test]
async fn report_defaults_and_a_missing_file_is_rendered_again() {
    let app = app(None).await;
    three_runs(&app).await;
    let r = app
        .post("/reports/generate", &json!({"job_ids": ["mesh-1"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let report = r.json();
    assert_eq!(report["format"], "html");
    let today = OffsetDateTime::now_utc().date().to_string();
    assert_eq!(report["title"], format!("meshbench report {today}"));
    let id = report["report_id"].as_str().unwrap();
    let first = app.get(&format!("/reports/{id}/download")).await;
    assert!(first
        .text()
        .contains("No job in this report has a baseline"));
    // The overhead section needs a baseline of the same test type.

    // The results directory was cleaned: the download renders the same file again.
    std::fs::remove_dir_all(app.results.path().join("reports")).unwrap();
    let again = app.get(&format!("/reports/{id}/download")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert!(app
        .results
        .path()
        .join("reports")
        .join(format!("{id}.html"))
        .exists());

    // A report whose file and job are both gone: 410 with the reason.
    let orphan = Report {
        report_id: "orphan-report".to_string(),
        title: "gone".to_string(),
        job_ids: vec!["no-such-job".to_string()],
        format: "csv".to_string(),
        created_at: T0,
        path: None,
        share_token: Some("orphan-token".to_string()),
        share_expires_at: None,
        share_revoked_at: None,
    };
    app.store.insert_report(&orphan).await.unwrap();
    let r = app.get("/reports/orphan-report/download").await;
    assert_eq!(r.status, StatusCode::GONE);
    let body = r.json();
    assert_eq!(body["code"], "report_gone");
    assert!(
        body["message"].as_str().unwrap().contains("no-such-job"),
        "{body}"
    );
    assert_eq!(
        app.get("/reports/shared/orphan-token").await.status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn bad_report_requests_name_their_fields() {
    let app = app(None).await;
    three_runs(&app).await;
    app.job("pending-1", "istio", T0, None).await;
    let many: Vec<String> = (0..51).map(|i| format!("j{i}")).collect();
    let long = "x".repeat(201);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["job_ids"]),
        (json!({"job_ids": []}), vec!["job_ids"]),
        (json!({"job_ids": many}), vec!["job_ids"]),
        (json!({"job_ids": ["base-1", "nope"]}), vec!["job_ids[1]"]),
        (
            json!({"job_ids": ["pending-1", "base-1", "../x", "base-1"]}),
            vec!["job_ids[0]", "job_ids[2]", "job_ids[3]"],
        ),
        (
            json!({"job_ids": ["base-1"], "format": "docx"}),
            vec!["format"],
        ),
        (json!({"job_ids": ["base-1"], "title": long}), vec!["title"]),
        (
            json!({"job_ids": ["base-1"], "title": "a\nb"}),
            vec!["title"],
        ),
        (
            json!({"job_ids": [], "format": "docx", "title": long}),
            vec!["title", "format", "job_ids"],
        ),
        (
            json!({"job_ids": ["base-1"], "colour": "red"}),
            vec!["colour"],
        ),
        (json!({"job_ids": "base-1"}), vec!["job_ids"]),
        (json!({"job_ids": [7]}), vec!["job_ids[0]"]),
    ];
    for (body, fields) in cases {
        let r = app.post("/reports/generate", &body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        assert_eq!(r.fields(), fields, "{body}: {}", r.text());
    }
    let r = app
        .post("/reports/generate", &json!({"job_ids": ["pending-1"]}))
        .await;
    assert!(
        r.json()["message"].as_str().unwrap().contains("no result"),
        "{}",
        r.text()
    );
    for raw in ["{\"job_ids\": ", "not json", "[1]"] {
        let r = app.call(Method::POST, "/reports/generate", &[], raw).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(r.json()["code"], "malformed_json");
    }
    // A title of exactly 200 characters (multi-byte ones count once) is fine.
    let r = app
        .post(
            "/reports/generate",
            &json!({"job_ids": ["base-1"], "title": "é".repeat(200), "format": "csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(app.get("/reports").await.header("x-total-count"), "1");
}

// ---------------------------------------------------------------------------------------
// 5: health

#[tokio::test]
async fn health_says_why_ebpf_and_kubernetes_are_unavailable() {
    let app = app(None).await;
    let health = app.get("/health").await.json();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["kubernetes_connected"], false);
    assert_eq!(health["ebpf"]["available"], false);
    assert_eq!(
        health["kubernetes"],
        json!({"configured": false, "reason": "no Kubernetes cluster is configured (set KUBECONFIG)"})
    );
    let probe = app.get("/ebpf/probe/status").await.json();
    assert_eq!(health["ebpf"]["reason"], probe["reason"]);
    let k8s = app.get("/kubernetes/namespaces").await.json();
    assert_eq!(health["kubernetes"]["reason"], k8s["message"]);
}

// ---------------------------------------------------------------------------------------
// 6: the dashboard

/// A fake adapter-static build: index, SPA fallback, one prerendered page, assets.
fn fake_build() -> TempDir {
    let dir = temp_dir("api-build");
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("index.html", "<!doctype html><title>home</title>");
    write("200.html", "<!doctype html><title>spa</title>");
    write(
        "benchmarks.html",
        "<!doctype html><title>benchmarks</title>",
    );
    write(
        "reports/index.html",
        "<!doctype html><title>reports</title>",
    );
    write("_app/immutable/entry/app.abc123.js", "export const x = 1;");
    write("_app/version.json", "{\"version\":\"1\"}");
    write("favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    dir
}

const BROWSER: (&str, &str) = (
    "accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

#[tokio::test]
async fn dashboard_pages_and_files_beside_the_api() {
    let build = fake_build();
    let app = app(Some(build.path())).await;

    let home = app.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(home.header("cache-control"), "no-cache");
    assert!(home.text().contains("<title>home</title>"));

    let asset = app.get("/_app/immutable/entry/app.abc123.js").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(asset.header("content-type").contains("javascript"));
    assert_eq!(
        asset.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let etag = asset.header("etag").to_string();
    let cached = app
        .call(
            Method::GET,
            "/_app/immutable/entry/app.abc123.js",
            &[("if-none-match", &etag)],
            "",
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    let head = app.call(Method::HEAD, "/favicon.svg", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-type"), "image/svg+xml");
    assert!(head.body.is_empty());
    assert_eq!(
        app.get("/_app/version.json").await.header("cache-control"),
        "no-cache"
    );

    // Prerendered pages (both layouts), the SPA fallback for the rest, for browsers only.
    for (path, title) in [
        ("/benchmarks", "benchmarks"),
        ("/reports", "reports"),
        ("/metrics", "spa"),
        ("/kubernetes", "spa"),
        ("/benchmarks/3f2b8c1e-9d4a-4b7e-8f00-1234567890ab", "spa"),
    ] {
        let text = app_page(&app, path).await;
        assert!(
            text.contains(&format!("<title>{title}</title>")),
            "{path}: {text}"
        );
    }

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    assert!(metrics.text().contains("meshbench_jobs"));
    assert_eq!(metrics.header("vary"), "accept");
    let reports = app.get("/reports").await;
    assert_eq!(reports.json(), json!([]));
    let jobs = app
        .call(Method::GET, "/benchmarks/jobs", &[BROWSER], "")
        .await;
    assert_eq!(jobs.status, StatusCode::OK);
    assert_eq!(jobs.json(), json!([]));
    let openapi = app.call(Method::GET, "/openapi.json", &[BROWSER], "").await;
    assert!(openapi.json()["openapi"].is_string());
    let missing = app.get("/_app/immutable/nope.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["code"], "not_found");
    let traversal = app.get("/_app/../../etc/passwd").await;
    assert_eq!(traversal.status, StatusCode::NOT_FOUND);
}

async fn app_page(app: &App, path: &str) -> String {
    let r = app.call(Method::GET, path, &[BROWSER], "").await;
    assert_eq!(r.status, StatusCode::OK, "{path}");
    assert_eq!(
        r.header("content-type"),
        "text/html; charset=utf-8",
        "{path}"
    );
    assert_eq!(r.header("vary"), "accept", "{path}");
    r.text()
}

#[tokio::test]
async fn without_a_build_the_root_explains_and_the_api_works() {
    let empty = temp_dir("api-empty-build");
    let app = app(Some(empty.path())).await;
    let home = app.call(Method::GET, "/", &[BROWSER], "").await;
    assert_eq!(home.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(home.header("content-type"), "text/html; charset=utf-8");
    assert!(home
        .text()
        .contains("npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build"));
    let metrics = app.call(Method::GET, "/metrics", &[BROWSER], "").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text().contains("meshbench_jobs"));
    let page = app
        .call(Method::GET, "/benchmarks/3f2b8c1e", &[BROWSER], "")
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// 7: every rejection in the documented error shape

/// `{"code", "message", "details"}` with `details` null, and the code.
fn plain_error(r: &Answer) -> String {
    assert_eq!(r.header("content-type"), "application/json", "{}", r.text());
    let json = r.json();
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    assert!(json["details"].is_null(), "{json}");
    json["code"].as_str().expect("code").to_string()
}

#[tokio::test]
async fn every_rejection_is_the_json_error_shape() {
    let app = app(None).await;
    // A body is required; `{}` takes every default.
    for path in [
        "/benchmarks/start",
        "/ebpf/probe/start",
        "/reports/generate",
    ] {
        for empty in ["", " \n"] {
            let r = app.call(Method::POST, path, &[], empty).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
            assert_eq!(plain_error(&r), "malformed_json");
        }
    }
    let r = app.call(Method::POST, "/benchmarks/start", &[], "{}").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(
        app.get(&format!(
            "/benchmarks/jobs/{}",
            r.json()["job_id"].as_str().unwrap()
        ))
        .await
        .json()["request"]["duration"],
        60
    );
    // No runner here: past the body, to the probe itself.
    let r = app.call(Method::POST, "/ebpf/probe/start", &[], "{}").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());

    // A key given twice is named, however deep.
    for (raw, field) in [
        (r#"{"duration": 20, "duration": 30}"#, "duration"),
        (
            r#"{"headers": {"x-a": "1", "x-b": "2", "x-a": "3"}}"#,
            "headers.x-a",
        ),
    ] {
        let r = app.call(Method::POST, "/benchmarks/start", &[], raw).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{raw}");
        assert_eq!(r.fields(), [field], "{}", r.text());
    }
    let r = app
        .call(
            Method::POST,
            "/reports/generate",
            &[],
            r#"{"job_ids": ["a"], "job_ids": ["b"]}"#,
        )
        .await;
    assert_eq!(r.fields(), ["job_ids"], "{}", r.text());

    // axum's own rejections, put in the same shape.
    let huge = format!("{{\"body\": \"{}\"}}", "x".repeat(3 << 20));
    let r = app
        .call(Method::POST, "/benchmarks/start", &[], &huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(plain_error(&r), "payload_too_large");
    let r = app.get("/ws").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(plain_error(&r), "bad_request");
    let r = app.call(Method::PUT, "/health", &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(plain_error(&r), "method_not_allowed");
    assert!(r.header("allow").contains("GET"), "{:?}", r.headers);
    let r = app.get("/benchmarks/jobs/nope").await;
    assert_eq!(plain_error(&r), "job_not_found");

    // `offset` is an int32, as documented.
    for path in ["/reports", "/ebpf/probe/jobs", "/benchmarks/jobs"] {
        let r = app.get(&format!("{path}?offset=2147483647")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        let r = app.get(&format!("{path}?offset=2147483648")).await;
        assert_eq!(r.fields(), ["offset"], "{path}");
    }
}

/// A PDF report: the HTML page printed by headless Chromium, its chart included. The first
/// page, turned into an image (poppler's pdftoppm), shows the chart's p99 bars in their red.
#[tokio::test]
async fn a_pdf_report_is_printed_with_its_chart() {
    let app = app(None).await;
    three_runs(&app).await;
    let r = app
        .post(
            "/reports/generate",
            &json!({"job_ids": ["base-1", "base-2", "mesh-1"], "title": "Istio in print",
                    "format": "pdf"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["report_id"].as_str().unwrap().to_string();
    let file = app.get(&format!("/reports/{id}/download")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header("content-type"), "application/pdf");
    assert!(file.body.starts_with(b"%PDF-"), "not a PDF");
    assert!(file.header("content-disposition").ends_with(".pdf\""));

    let dir = temp_dir("api-pdf");
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&pdf, &file.body).unwrap();
    let out = std::process::Command::new("pdftoppm")
        .args(["-r", "60", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(dir.path().join("page"))
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs pdftoppm (apt-get install poppler-utils): {e}")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "ppm"))
        .expect("pdftoppm wrote no page");
    let image = std::fs::read(page).unwrap();
    // P6 header: magic, width, height, maximum, each followed by one whitespace byte.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        let start = at;
        while !image[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&image[start..at]).to_string());
        at += 1;
    }
    assert_eq!(fields[0], "P6");
    let pixels = &image[at..];
    let red = pixels
        .chunks_exact(3)
        .filter(|p| p[0] > 180 && p[1] < 90 && p[2] < 90)
        .count();
    let dark = pixels
        .chunks_exact(3)
        .filter(|p| p[0] < 90 && p[1] < 90 && p[2] < 90)
        .count();
    assert!(red > 30, "no p99 bars on the first page ({red} red pixels)");
    assert!(dark > 500, "no text on the first page ({dark} dark pixels)");
}
