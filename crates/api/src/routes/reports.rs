//! `/reports`: generate a report over stored runs, list reports, fetch one, download its
//! file, and the share link that serves the same file inline.
//!
//! The rendered file is written once, at generation, to `RESULTS_DIR/reports/<id>.<ext>`.
//! When it has gone missing (a cleaned results directory, or another server of the same
//! PostgreSQL store without that disk), a download renders it again from the stored jobs
//! and writes it back; only when a job it covers is gone does the download answer
//! 410 `report_gone`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use meshbench_core::{BenchmarkJob, FieldError};
use meshbench_store::{validate_job_id, Report as StoredReport};
use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

use super::body;
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::report::{ReportDocument, ReportFormat};
use crate::{ApiError, AppState};

/// Most jobs one report covers.
pub(crate) const MAX_JOBS: usize = 50;
/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// What to put in a report.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GenerateReportRequest {
    /// 1–50 distinct job ids, each of a job with a result.
    #[schema(min_items = 1, max_items = 50)]
    job_ids: Vec<String>,
    /// Up to 200 characters on one line; default `meshbench report <date>`.
    #[serde(default)]
    title: Option<String>,
    /// File format; default `html`. `pdf` is the HTML page printed by Chromium on the
    /// server's host (503 `pdf_unavailable` without one).
    #[serde(default)]
    #[schema(value_type = Option<ReportFormat>)]
    format: Option<String>,
    /// Days the share link works (1–365); default 7.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    share_expires_in_days: Option<u32>,
}

/// How long a share link works when its report is made without `share_expires_in_days`.
const DEFAULT_SHARE_DAYS: u32 = 7;
/// The longest a share link may work.
const MAX_SHARE_DAYS: u32 = 365;

/// A generated report.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Report {
    /// Unique id (a UUID).
    report_id: String,
    /// Title.
    title: String,
    /// The jobs it covers, in order.
    job_ids: Vec<String>,
    /// File format.
    #[schema(value_type = ReportFormat)]
    format: String,
    /// When it was generated.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// Where to download the file (as an attachment).
    download_url: String,
    /// The share link: the same file, shown inline, for anyone with the link, until it
    /// expires or is revoked (then absent).
    share_url: Option<String>,
    /// When the share link stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    share_expires_at: Option<OffsetDateTime>,
    /// When the share link was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    share_revoked_at: Option<OffsetDateTime>,
}

impl From<StoredReport> for Report {
    fn from(r: StoredReport) -> Self {
        Report {
            download_url: format!("/reports/{}/download", r.report_id),
            share_url: r
                .share_token
                .filter(|_| share_refusal(r.share_expires_at, r.share_revoked_at).is_none())
                .map(|t| format!("/reports/shared/{t}")),
            share_expires_at: r.share_expires_at,
            share_revoked_at: r.share_revoked_at,
            report_id: r.report_id,
            title: r.title,
            job_ids: r.job_ids,
            format: r.format,
            created_at: r.created_at,
        }
    }
}

/// The paging parameters of `GET /reports`, for the API documentation.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ReportQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Reports to skip.
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
}

/// Generate a report over stored runs: per job its configuration, throughput, latency
/// percentiles and status codes, and each mesh's overhead against the baseline jobs of the
/// same test type. The file is rendered now; the answer links to it.
#[utoipa::path(post, path = "/reports/generate", tag = "reports", request_body = GenerateReportRequest,
    responses((status = 201, description = "Generated; `Location` is the report", body = Report),
              (status = 400, description = "The body is empty, not JSON or not an object (`malformed_json`)", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB (`payload_too_large`)", body = ErrorBody),
              (status = 422, description = "A field broke a rule or is given twice (`job_ids`, `job_ids[i]`, `title`, `format`); each is named", body = ErrorBody),
              (status = 503, description = "`pdf_unavailable`: a PDF was asked for and this server has no Chromium to print it with (or it failed); the message says which", body = ErrorBody)))]
pub(crate) async fn generate(
    State(state): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
    raw: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let request: GenerateReportRequest = body::json(&raw)?;
    let mut errors = Vec::new();
    let mut fail = |field: String, message: String| errors.push(FieldError { field, message });
    let created_at = OffsetDateTime::now_utc();

    let title = match request.title.as_deref().map(str::trim) {
        None | Some("") => default_title(created_at),
        Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
            fail(
                "title".into(),
                format!("must be at most {MAX_TITLE_CHARS} characters"),
            );
            String::new()
        }
        Some(t) if t.chars().any(char::is_control) => {
            fail(
                "title".into(),
                "must be one line without control characters".into(),
            );
            String::new()
        }
        Some(t) => t.to_string(),
    };
    let format = match request.format.as_deref() {
        None => Some(ReportFormat::Html),
        Some(name) => {
            let format = ReportFormat::parse(name);
            if format.is_none() {
                fail(
                    "format".into(),
                    format!("unknown format `{name}` (html, markdown, csv, json, pdf)"),
                );
            }
            format
        }
    };
    let mut jobs: Vec<(BenchmarkJob, Value)> = Vec::new();
    if request.job_ids.is_empty() || request.job_ids.len() > MAX_JOBS {
        fail(
            "job_ids".into(),
            format!(
                "give 1 to {MAX_JOBS} job ids (got {})",
                request.job_ids.len()
            ),
        );
    } else {
        let mut seen = HashSet::new();
        for (i, id) in request.job_ids.iter().enumerate() {
            let field = format!("job_ids[{i}]");
            if validate_job_id(id).is_err() {
                fail(field, format!("`{}` is not a job id", id.escape_debug()));
            } else if !seen.insert(id.as_str()) {
                fail(field, format!("job `{id}` is listed twice"));
            } else {
                match load_run(&state, id).await? {
                    Ok(run) => jobs.push(run),
                    Err(message) => fail(field, message),
                }
            }
        }
    }
    let share_days = request.share_expires_in_days.unwrap_or(DEFAULT_SHARE_DAYS);
    if !(1..=MAX_SHARE_DAYS).contains(&share_days) {
        fail(
            "share_expires_in_days".into(),
            format!("must be 1 to {MAX_SHARE_DAYS}"),
        );
    }
    let Some(format) = format.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };

    let report_id = uuid::Uuid::new_v4().to_string();
    let bytes = render(
        &ReportDocument::new(title.clone(), created_at, &jobs),
        format,
    )
    .await?;
    let path = write_file(&state, &report_id, format, bytes).await?;
    let stored = StoredReport {
        report_id: report_id.clone(),
        title,
        job_ids: request.job_ids,
        format: format.as_str().to_string(),
        created_at,
        path: Some(path.to_string_lossy().into_owned()),
        share_token: Some(super::auth::secret()),
        share_expires_at: Some(created_at + time::Duration::days(i64::from(share_days))),
        share_revoked_at: None,
    };
    if let Err(e) = state.store.insert_report(&stored).await {
        // No row points at the file: do not leave it behind.
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/reports/{report_id}")) {
        headers.insert(header::LOCATION, location);
    }
    let event = Event::ok("report.generate")
        .subject(stored.report_id.clone())
        .detail(format!("{} jobs, {}", stored.job_ids.len(), stored.format));
    audit::record(&state, &caller, event).await;
    Ok((StatusCode::CREATED, headers, Json(Report::from(stored))))
}

/// `meshbench report 2026-01-31`.
fn default_title(at: OffsetDateTime) -> String {
    let date = at
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default();
    format!("meshbench report {date}")
}

/// The job and its result; `Err` (for a 422 naming the job) when the job is unknown or has
/// no result yet. Store failures are the outer error.
async fn load_run(
    state: &AppState,
    job_id: &str,
) -> Result<Result<(BenchmarkJob, Value), String>, ApiError> {
    let Some(job) = state.store.get_job(job_id).await? else {
        return Ok(Err(format!("no job `{job_id}`")));
    };
    let Some(result) = state.store.get_result(job_id).await? else {
        return Ok(Err(format!(
            "job `{job_id}` is {} and has no result to report",
            job.status
        )));
    };
    Ok(Ok((job, result)))
}

/// Writes the rendered file under `RESULTS_DIR/reports/`; its path.
async fn write_file(
    state: &AppState,
    report_id: &str,
    format: ReportFormat,
    bytes: Vec<u8>,
) -> Result<PathBuf, ApiError> {
    let dir = state.settings.results_dir.clone();
    meshbench_store::save_report_file(dir, report_id.to_string(), format.extension(), bytes)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// Reports, newest first; the total is in `x-total-count`.
#[utoipa::path(get, path = "/reports", tag = "reports", operation_id = "list_reports", params(ReportQuery),
    responses((status = 200, body = [Report]),
              (status = 422, description = "`limit` or `offset` is invalid", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let (limit, offset) = super::paging(&query)?;
    let total = state.store.count_reports().await?;
    let reports: Vec<Report> = state
        .store
        .list_reports(limit, offset)
        .await?
        .into_iter()
        .map(Report::from)
        .collect();
    Ok((super::total_count(total), Json(reports)))
}

/// One report.
#[utoipa::path(get, path = "/reports/{report_id}", tag = "reports",
    params(("report_id" = String, Path, description = "The report's id")),
    responses((status = 200, body = Report),
              (status = 404, description = "`report_not_found`", body = ErrorBody)))]
pub(crate) async fn get_report(
    State(state): State<AppState>,
    Path(report_id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    load(&state, &report_id).await.map(|r| Json(r.into()))
}

async fn load(state: &AppState, report_id: &str) -> Result<StoredReport, ApiError> {
    state
        .store
        .get_report(report_id)
        .await?
        .ok_or_else(|| not_found(&format!("no report `{report_id}`")))
}

fn not_found(message: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "report_not_found", message)
}

/// The report's file, as an attachment (`meshbench-report-<id>.<ext>`). A file that went
/// missing is rendered again from the stored jobs.
#[utoipa::path(get, path = "/reports/{report_id}/download", tag = "reports",
    params(("report_id" = String, Path, description = "The report's id")),
    responses((status = 200, description = "The file: text/html, text/markdown, text/csv, application/json or application/pdf",
                content(("text/html"), ("text/markdown"), ("text/csv"), ("application/json"), ("application/pdf"))),
              (status = 404, description = "`report_not_found`", body = ErrorBody),
              (status = 410, description = "`report_gone`: the file is missing and a job it covers no longer exists", body = ErrorBody),
              (status = 503, description = "`pdf_unavailable`: a PDF's file is missing and cannot be printed again here", body = ErrorBody)))]
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(report_id): Path<String>,
) -> Result<Response, ApiError> {
    let report = load(&state, &report_id).await?;
    file_response(&state, &report, "attachment").await
}

/// The share link: the report's file shown inline, found by its token.
#[utoipa::path(get, path = "/reports/shared/{share_token}", tag = "reports",
    params(("share_token" = String, Path, description = "The token of the report's share link")),
    responses((status = 200, description = "The file, inline",
                content(("text/html"), ("text/markdown"), ("text/csv"), ("application/json"), ("application/pdf"))),
              (status = 404, description = "`report_not_found`; `share_link_expired`: the link expired or was revoked (the message says which, and when)", body = ErrorBody),
              (status = 410, description = "`report_gone`", body = ErrorBody),
              (status = 503, description = "`pdf_unavailable`: a PDF's file is missing and cannot be printed again here", body = ErrorBody)))]
pub(crate) async fn shared(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let report = state
        .store
        .get_report_by_share_token(&token)
        .await?
        .ok_or_else(|| not_found("no report is shared with this link"))?;
    if let Some(message) = share_refusal(report.share_expires_at, report.share_revoked_at) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "share_link_expired",
            message,
        ));
    }
    file_response(&state, &report, "inline").await
}

/// Why a share link no longer works (revoked, or past its expiry), or `None` if it works.
fn share_refusal(
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
) -> Option<String> {
    let date = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    if let Some(at) = revoked_at {
        return Some(format!(
            "this share link expired: it was revoked at {}",
            date(at)
        ));
    }
    match expires_at {
        Some(at) if at <= OffsetDateTime::now_utc() => {
            Some(format!("this share link expired at {}", date(at)))
        }
        _ => None,
    }
}

/// Revoke a report's share link at once (the report and its download stay).
#[utoipa::path(delete, path = "/reports/{report_id}/share", tag = "reports",
    params(("report_id" = String, Path, description = "The report's id")),
    responses((status = 200, description = "Revoked; the report as it is now", body = Report),
              (status = 404, description = "`report_not_found`", body = ErrorBody)))]
pub(crate) async fn revoke_share(
    State(state): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
    Path(report_id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    if !state
        .store
        .revoke_share(&report_id, OffsetDateTime::now_utc())
        .await?
    {
        return Err(not_found(&format!("no report `{report_id}`")));
    }
    let event = Event::ok("report.share_revoke").subject(report_id.clone());
    audit::record(&state, &caller, event).await;
    load(&state, &report_id).await.map(|r| Json(r.into()))
}

async fn file_response(
    state: &AppState,
    report: &StoredReport,
    disposition: &str,
) -> Result<Response, ApiError> {
    let format = ReportFormat::parse(&report.format).ok_or_else(|| {
        ApiError::internal(&format!(
            "report `{}` has an unknown stored format `{}`",
            report.report_id, report.format
        ))
    })?;
    let bytes = read_or_render(state, report, format).await?;
    let short: String = report.report_id.chars().take(8).collect();
    let name = format!("meshbench-report-{short}.{}", format.extension());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if format == ReportFormat::Html {
        // The page is self-contained: it needs its inline style and nothing else, so even
        // text that slipped past escaping could not run or load anything.
        headers.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
    }
    Ok((headers, bytes).into_response())
}

/// The report's file in `format` (a PDF printed from its HTML page).
async fn render(document: &ReportDocument, format: ReportFormat) -> Result<Vec<u8>, ApiError> {
    let bytes = document.render(format);
    match format {
        ReportFormat::Pdf => crate::pdf::print(bytes).await,
        _ => Ok(bytes),
    }
}

/// The stored file; when it is missing, the report rendered again from the store (and
/// written back under `RESULTS_DIR/reports/`, best effort).
async fn read_or_render(
    state: &AppState,
    report: &StoredReport,
    format: ReportFormat,
) -> Result<Vec<u8>, ApiError> {
    let canonical = state.settings.results_dir.join("reports").join(format!(
        "{}.{}",
        report.report_id,
        format.extension()
    ));
    let candidates = report.path.iter().map(PathBuf::from).chain([canonical]);
    for path in candidates {
        match tokio::fs::read(&path).await {
            Ok(bytes) => return Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ApiError::internal(&format!("{}: {e}", path.display()))),
        }
    }
    let mut runs = Vec::with_capacity(report.job_ids.len());
    for id in &report.job_ids {
        match load_run(state, id).await? {
            Ok(run) => runs.push(run),
            Err(why) => {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "report_gone",
                    format!(
                        "the file of report `{}` is missing and it cannot be rendered again: {why}",
                        report.report_id
                    ),
                ))
            }
        }
    }
    let bytes = render(
        &ReportDocument::new(report.title.clone(), report.created_at, &runs),
        format,
    )
    .await?;
    if let Err(e) = write_file(state, &report.report_id, format, bytes.clone()).await {
        tracing::warn!(report_id = %report.report_id, "cannot write the re-rendered report back: {e:?}");
    }
    Ok(bytes)
}
