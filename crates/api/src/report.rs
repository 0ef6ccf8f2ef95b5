//! Reports over stored runs, rendered to one file: a self-contained HTML page, Markdown
//! tables, CSV (one row per job) or JSON (`meshbench.report.v1`). Pure: the caller loads the
//! jobs and their results, this module only shapes and renders them, so it is tested
//! without a store.
//!
//! Every piece of text a client chose (the title; mesh and namespace labels; URLs) is
//! escaped for the format it lands in: HTML entities, Markdown backslash escapes, CSV
//! quoting (and a leading `'` against spreadsheet formulas).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use meshbench_core::compare::{self, Comparison, Gates, Run};
use meshbench_core::BenchmarkResult;
use meshbench_core::{BenchmarkJob, JobStatus, LatencySummary, TestType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::html::escape as html;

/// The schema name of a JSON report.
pub(crate) const REPORT_SCHEMA: &str = "meshbench.report.v1";
/// The mesh label whose runs the others are compared with.
const BASELINE: &str = "baseline";

/// The file format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReportFormat {
    /// One self-contained HTML page (inline CSS, no external assets).
    Html,
    /// Markdown tables.
    Markdown,
    /// CSV, one row per job.
    Csv,
    /// JSON, `meshbench.report.v1`.
    Json,
    /// The HTML page printed to PDF by headless Chromium (charts included).
    Pdf,
}

impl ReportFormat {
    /// Every format.
    pub(crate) const ALL: [ReportFormat; 5] = [
        ReportFormat::Html,
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Pdf,
    ];

    /// The name used on the wire and in the store.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "markdown",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Pdf => "pdf",
        }
    }

    /// The format named `name`, if any.
    pub(crate) fn parse(name: &str) -> Option<ReportFormat> {
        ReportFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// File name extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Pdf => "pdf",
        }
    }

    /// `Content-Type` of the rendered file. Text formats say UTF-8: titles and labels may
    /// hold any character, and RFC 7763 requires the charset for Markdown.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json => "application/json",
            ReportFormat::Pdf => "application/pdf",
        }
    }
}

/// How a run was configured, as far as its result and request tell.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct RunConfig {
    /// The target URL (the built-in target's when the request named none).
    pub url: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Connections kept open.
    pub connections: Option<u64>,
    /// Measured seconds.
    pub duration_s: Option<f64>,
    /// `closed` (fixed concurrency) or `open` (scheduled rate).
    pub model: Option<String>,
    /// Requested rate, requests per second (open model).
    pub rate_rps: Option<f64>,
}

/// One job of a report: what ran and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReportJob {
    /// The job.
    pub job_id: String,
    /// Mesh label.
    pub mesh_type: String,
    /// Workload kind.
    pub test_type: TestType,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Status (a cancelled job reports its partial result).
    pub status: JobStatus,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// The run's configuration.
    pub config: RunConfig,
    /// Requests completed.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Achieved requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 75th percentile, µs.
    pub p75_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// 99.99th percentile, µs.
    pub p9999_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// Responses per HTTP status code.
    pub status_codes: BTreeMap<String, u64>,
}

/// The percentiles a report shows: JSON name, label for people, accessor.
type Percentile = (&'static str, &'static str, fn(&ReportJob) -> u64);
const PERCENTILES: [Percentile; 8] = [
    ("p50", "p50", |j| j.p50_us),
    ("p75", "p75", |j| j.p75_us),
    ("p90", "p90", |j| j.p90_us),
    ("p95", "p95", |j| j.p95_us),
    ("p99", "p99", |j| j.p99_us),
    ("p999", "p99.9", |j| j.p999_us),
    ("p9999", "p99.99", |j| j.p9999_us),
    ("max", "max", |j| j.max_us),
];

/// One percentile of a job against the mean of its baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct PercentileOverhead {
    /// `p50`, `p75`, `p90`, `p95`, `p99`, `p999`, `p9999` or `max`.
    pub percentile: String,
    /// Mean of the baseline jobs' value, µs.
    pub baseline_us: f64,
    /// This job's value, µs.
    pub mesh_us: u64,
    /// `mesh_us - baseline_us`.
    pub overhead_us: f64,
    /// The overhead as a percentage of the baseline; null when the baseline is 0.
    pub overhead_pct: Option<f64>,
}

/// A non-baseline job against the baseline jobs of the same test type in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReportOverhead {
    /// The job compared.
    pub job_id: String,
    /// Its mesh label.
    pub mesh_type: String,
    /// Its test type (baselines are of the same).
    pub test_type: TestType,
    /// The baseline jobs averaged.
    pub baseline_job_ids: Vec<String>,
    /// Per percentile, p50 to max.
    pub latency: Vec<PercentileOverhead>,
}

/// A whole report: the JSON format, and what every other format renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReportDocument {
    /// Always `meshbench.report.v1`.
    pub schema: String,
    /// Title.
    pub title: String,
    /// When the report was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The jobs, in the order they were asked for.
    pub jobs: Vec<ReportJob>,
    /// Every non-baseline job whose test type has baseline jobs in the report.
    pub overhead: Vec<ReportOverhead>,
    /// Each mesh's runs against the baseline runs of the same test type, with 95 %
    /// intervals and verdicts (`meshbench.comparison.v1`, as `POST /metrics/compare`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub comparisons: Vec<Comparison>,
    /// Why a mesh could not be compared (no valid run on a side).
    #[serde(default)]
    pub comparison_notes: Vec<String>,
}

impl ReportDocument {
    /// The report over `jobs` (each with its stored `meshbench.result.v1`), overhead included.
    pub(crate) fn new(
        title: String,
        created_at: OffsetDateTime,
        jobs: &[(BenchmarkJob, Value)],
    ) -> ReportDocument {
        let (comparisons, comparison_notes) = comparisons(jobs);
        let jobs: Vec<ReportJob> = jobs.iter().map(|(j, r)| report_job(j, r)).collect();
        ReportDocument {
            schema: REPORT_SCHEMA.to_string(),
            title,
            created_at,
            overhead: overhead(&jobs),
            jobs,
            comparisons,
            comparison_notes,
        }
    }

    /// The file in `format`; for PDF, the HTML page that is printed to it (see
    /// [`crate::pdf`]).
    pub(crate) fn render(&self, format: ReportFormat) -> Vec<u8> {
        match format {
            ReportFormat::Html | ReportFormat::Pdf => self.html().into_bytes(),
            ReportFormat::Markdown => self.markdown().into_bytes(),
            ReportFormat::Csv => self.csv().into_bytes(),
            ReportFormat::Json => {
                // Plain data (strings, numbers, maps with string keys): serialising cannot
                // fail, and an empty file would be caught by every reader anyway.
                let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
                bytes.push(b'\n');
                bytes
            }
        }
    }

    fn created(&self) -> String {
        self.created_at.format(&Rfc3339).unwrap_or_default()
    }

    fn html(&self) -> String {
        let mut out = String::with_capacity(8192);
        let title = html(&self.title);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{HTML_STYLE}</style>\n</head>\n<body>\n\
             <h1>{title}</h1>\n<p class=\"meta\">Generated {} by meshbench · {} job{}</p>\n",
            html(&self.created()),
            self.jobs.len(),
            if self.jobs.len() == 1 { "" } else { "s" }
        );
        out.push_str("<h2>Runs</h2>\n<table>\n<thead><tr>");
        for h in [
            "Job",
            "Mesh",
            "Test",
            "Namespace",
            "Status",
            "Completed",
            "URL",
            "Connections",
            "Duration",
            "Model",
            "Requests",
            "Errors",
            "Req/s",
            "Status codes",
        ] {
            let _ = write!(out, "<th>{h}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for j in &self.jobs {
            // (cell, right-aligned number)
            let cells = [
                (format!("<code>{}</code>", html(&j.job_id)), false),
                (html(&j.mesh_type), false),
                (html(j.test_type.as_str()), false),
                (html(&j.namespace), false),
                (html(j.status.as_str()), false),
                (html(&time_text(j.completed_at)), false),
                (
                    j.config
                        .url
                        .as_deref()
                        .map(|u| format!("<code>{}</code>", html(u)))
                        .unwrap_or_default(),
                    false,
                ),
                (opt(j.config.connections), true),
                (
                    j.config
                        .duration_s
                        .map(|d| format!("{d:.1} s"))
                        .unwrap_or_default(),
                    true,
                ),
                (html(&model_text(&j.config)), false),
                (j.requests.to_string(), true),
                (j.errors.to_string(), true),
                (format!("{:.1}", j.rps), true),
                (html(&codes_text(&j.status_codes)), false),
            ];
            out.push_str("<tr>");
            for (cell, numeric) in &cells {
                let class = if *numeric { " class=\"n\"" } else { "" };
                let _ = write!(out, "<td{class}>{cell}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n<h2>Latency (µs)</h2>\n<table>\n<thead><tr><th>Job</th><th>Mesh</th><th>Test</th>");
        for (_, label, _) in PERCENTILES {
            let _ = write!(out, "<th>{label}</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for j in &self.jobs {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td>",
                html(&j.job_id),
                html(&j.mesh_type),
                j.test_type
            );
            for (_, _, get) in PERCENTILES {
                let _ = write!(out, "<td class=\"n\">{}</td>", get(j));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out.push_str(&self.latency_chart());
        out.push_str("<h2>Overhead vs baseline</h2>\n");
        if self.overhead.is_empty() {
            out.push_str(
                "<p class=\"meta\">No job in this report has a baseline job of the same test type \
                 to compare with.</p>\n",
            );
        } else {
            out.push_str(
                "<p class=\"meta\">Each job's percentile minus the mean of the baseline jobs' \
                 percentile (same test type), in µs and percent.</p>\n<table>\n<thead><tr>\
                 <th>Job</th><th>Mesh</th><th>Test</th><th>Baselines</th>",
            );
            for (_, label, _) in PERCENTILES {
                let _ = write!(out, "<th>{label}</th>");
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for o in &self.overhead {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td>",
                    html(&o.job_id),
                    html(&o.mesh_type),
                    o.test_type,
                    o.baseline_job_ids.len()
                );
                for p in &o.latency {
                    let class = if p.overhead_us > 0.0 { "n up" } else { "n" };
                    let _ = write!(
                        out,
                        "<td class=\"{class}\">{}<br><small>{}</small></td>",
                        signed_us(p.overhead_us),
                        signed_pct(p.overhead_pct)
                    );
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        for c in &self.comparisons {
            let _ = write!(
                out,
                "<h2>{} against {}: 95 % intervals</h2>\n<p class=\"meta\">{} of {} runs against {} of {} valid</p>\n\
                 <table>\n<thead><tr><th>Figure</th><th>Baseline</th><th>Candidate</th>\
                 <th>Change</th><th>Interval of change</th><th>Verdict</th></tr></thead>\n<tbody>\n",
                html(&c.candidate.label),
                html(&c.baseline.label),
                c.candidate.valid_runs,
                c.candidate.runs,
                c.baseline.valid_runs,
                c.baseline.runs
            );
            for row in comparison_rows(c) {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    row[0], row[1], row[2], row[3], row[4], html(&row[5])
                );
            }
            out.push_str("</tbody>\n</table>\n");
            for line in comparison_lines(c) {
                let _ = writeln!(out, "<p><small>{}</small></p>", html(&line));
            }
        }
        for note in &self.comparison_notes {
            let _ = writeln!(out, "<p><small>{}</small></p>", html(note));
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    /// Each job's p50, p90 and p99 as horizontal bars on one linear scale, and its
    /// throughput: inline SVG, so the page (and the PDF printed from it) needs no script.
    fn latency_chart(&self) -> String {
        const WIDTH: f64 = 760.0;
        const LABEL: f64 = 190.0;
        const BAR: f64 = 9.0;
        const COLORS: [(&str, &str); 3] =
            [("p50", "#2563eb"), ("p90", "#f59e0b"), ("p99", "#dc2626")];
        if self.jobs.is_empty() {
            return String::new();
        }
        let values = |j: &ReportJob| [j.p50_us, j.p90_us, j.p99_us];
        let max = self.jobs.iter().flat_map(values).max().unwrap_or(0).max(1) as f64;
        let plot = WIDTH - LABEL - 80.0;
        let row = BAR * 3.0 + 12.0;
        let height = 28.0 + row * self.jobs.len() as f64;
        let mut out = String::new();
        let _ = write!(
            out,
            "<figure class=\"chart\"><svg role=\"img\" \
             aria-label=\"Latency percentiles by job\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" font-size=\"11\" font-family=\"system-ui,sans-serif\">"
        );
        for (i, (name, color)) in COLORS.iter().enumerate() {
            let x = LABEL + i as f64 * 70.0;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{color}\"/>\
                 <text x=\"{}\" y=\"13\">{name}</text>",
                x + 14.0
            );
        }
        for (n, j) in self.jobs.iter().enumerate() {
            let top = 24.0 + row * n as f64;
            let short: String = j.job_id.chars().take(8).collect();
            let _ = write!(
                out,
                "<text x=\"0\" y=\"{}\">{} · {}</text><text x=\"0\" y=\"{}\" fill=\"#6b7280\">{:.0} req/s</text>",
                top + BAR + 2.0,
                html(&j.mesh_type),
                html(&short),
                top + BAR * 2.0 + 6.0,
                j.rps
            );
            for (k, value) in values(j).into_iter().enumerate() {
                let y = top + k as f64 * BAR;
                let w = (value as f64 / max * plot).max(1.0);
                let _ = write!(
                    out,
                    "<rect x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{}\" font-size=\"9\">{value} µs</text>",
                    BAR - 1.0,
                    COLORS[k].1,
                    LABEL + w + 4.0,
                    y + BAR - 1.5
                );
            }
        }
        out.push_str("</svg><figcaption class=\"meta\">p50, p90 and p99 of each job (µs, one linear scale), and its throughput.</figcaption></figure>\n");
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(out, "# {}\n", md(&self.title));
        let _ = writeln!(
            out,
            "Generated {} by meshbench · {} job{}\n",
            self.created(),
            self.jobs.len(),
            if self.jobs.len() == 1 { "" } else { "s" }
        );
        out.push_str("## Runs\n\n| Job | Mesh | Test | Namespace | Status | Completed | URL | Connections | Duration | Model | Requests | Errors | Req/s | Status codes |\n");
        out.push_str("|---|---|---|---|---|---|---|--:|--:|---|--:|--:|--:|---|\n");
        for j in &self.jobs {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
                j.job_id,
                md(&j.mesh_type),
                j.test_type,
                md(&j.namespace),
                j.status,
                time_text(j.completed_at),
                md(j.config.url.as_deref().unwrap_or("")),
                opt(j.config.connections),
                j.config
                    .duration_s
                    .map(|d| format!("{d:.1} s"))
                    .unwrap_or_default(),
                md(&model_text(&j.config)),
                j.requests,
                j.errors,
                j.rps,
                md(&codes_text(&j.status_codes)),
            );
        }
        out.push_str("\n## Latency (µs)\n\n| Job | Mesh | Test |");
        for (_, label, _) in PERCENTILES {
            let _ = write!(out, " {label} |");
        }
        out.push_str("\n|---|---|---|");
        out.push_str(&"--:|".repeat(PERCENTILES.len()));
        out.push('\n');
        for j in &self.jobs {
            let _ = write!(
                out,
                "| `{}` | {} | {} |",
                j.job_id,
                md(&j.mesh_type),
                j.test_type
            );
            for (_, _, get) in PERCENTILES {
                let _ = write!(out, " {} |", get(j));
            }
            out.push('\n');
        }
        out.push_str("\n## Overhead vs baseline\n\n");
        if self.overhead.is_empty() {
            out.push_str(
                "No job in this report has a baseline job of the same test type to compare with.\n",
            );
            return out;
        }
        out.push_str(
            "Each job's percentile minus the mean of the baseline jobs' percentile (same test \
             type), in µs (percent).\n\n| Job | Mesh | Test | Baselines |",
        );
        for (_, label, _) in PERCENTILES {
            let _ = write!(out, " {label} |");
        }
        out.push_str("\n|---|---|---|--:|");
        out.push_str(&"--:|".repeat(PERCENTILES.len()));
        out.push('\n');
        for o in &self.overhead {
            let _ = write!(
                out,
                "| `{}` | {} | {} | {} |",
                o.job_id,
                md(&o.mesh_type),
                o.test_type,
                o.baseline_job_ids.len()
            );
            for p in &o.latency {
                let _ = write!(
                    out,
                    " {} ({}) |",
                    signed_us(p.overhead_us),
                    signed_pct(p.overhead_pct)
                );
            }
            out.push('\n');
        }
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "\n## {} against {}: 95 % intervals\n\n| Figure | Baseline | Candidate | Change | Interval of change | Verdict |\n|---|--:|--:|--:|--:|---|",
                md(&c.candidate.label),
                md(&c.baseline.label)
            );
            for row in comparison_rows(c) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    md(&row[5])
                );
            }
            for line in comparison_lines(c) {
                let _ = writeln!(out, "\n{}", md(&line));
            }
        }
        for note in &self.comparison_notes {
            let _ = writeln!(out, "\n{}", md(note));
        }
        out
    }

    fn csv(&self) -> String {
        const HEADER: [&str; 24] = [
            "job_id",
            "mesh_type",
            "test_type",
            "namespace",
            "status",
            "completed_at",
            "url",
            "method",
            "connections",
            "duration_s",
            "model",
            "rate_rps",
            "requests",
            "errors",
            "rps",
            "p50_us",
            "p75_us",
            "p90_us",
            "p95_us",
            "p99_us",
            "p999_us",
            "p9999_us",
            "max_us",
            "status_codes",
        ];
        let rows = self.jobs.iter().map(|j| {
            let c = &j.config;
            [
                j.job_id.clone(),
                j.mesh_type.clone(),
                j.test_type.to_string(),
                j.namespace.clone(),
                j.status.to_string(),
                time_text(j.completed_at),
                c.url.clone().unwrap_or_default(),
                c.method.clone().unwrap_or_default(),
                opt(c.connections),
                opt(c.duration_s),
                c.model.clone().unwrap_or_default(),
                opt(c.rate_rps),
                j.requests.to_string(),
                j.errors.to_string(),
                j.rps.to_string(),
                j.p50_us.to_string(),
                j.p75_us.to_string(),
                j.p90_us.to_string(),
                j.p95_us.to_string(),
                j.p99_us.to_string(),
                j.p999_us.to_string(),
                j.p9999_us.to_string(),
                j.max_us.to_string(),
                codes_text(&j.status_codes),
            ]
        });
        meshbench_core::csv::to_string(&HEADER, rows)
    }
}

/// A report row from a job and its stored result. Reads the result loosely, field by field,
/// so a partial or older result still reports what it has; the job's own request and
/// summary fill in what the result lacks.
fn report_job(job: &BenchmarkJob, result: &Value) -> ReportJob {
    let latency: LatencySummary = result
        .get("latency_us")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let summary = job.summary.unwrap_or_default();
    let spec = &result["spec"];
    let request = &job.request;
    let first = &spec["requests"][0];
    let config = RunConfig {
        url: first["url"]
            .as_str()
            .or_else(|| request["service_url"].as_str())
            .map(str::to_string),
        method: first["method"]
            .as_str()
            .or_else(|| request["method"].as_str())
            .map(str::to_string),
        connections: spec["connections"]
            .as_u64()
            .or_else(|| request["concurrent_connections"].as_u64()),
        duration_s: result["duration_s"]
            .as_f64()
            .or_else(|| request["duration"].as_f64()),
        // A start request with a rate runs the open model, without one the closed model.
        model: Some(
            result["model"]
                .as_str()
                .unwrap_or(if request["rate"].is_number() {
                    "open"
                } else {
                    "closed"
                })
                .to_string(),
        ),
        rate_rps: result["requested_rps"]
            .as_f64()
            .or_else(|| request["rate"].as_f64()),
    };
    let status_codes = result
        .get("status_codes")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    ReportJob {
        job_id: job.job_id.clone(),
        mesh_type: job.mesh_type.clone(),
        test_type: job.test_type,
        namespace: job.namespace.clone(),
        status: job.status,
        completed_at: job.completed_at,
        config,
        requests: result["requests"].as_u64().unwrap_or(summary.requests),
        errors: result["errors"].as_u64().unwrap_or(summary.errors),
        rps: result["rps"].as_f64().unwrap_or(summary.rps),
        p50_us: latency.p50,
        p75_us: latency.p75,
        p90_us: latency.p90,
        p95_us: latency.p95,
        p99_us: latency.p99,
        p999_us: latency.p999,
        p9999_us: latency.p9999,
        max_us: latency.max,
        status_codes,
    }
}

/// Each mesh's runs in the report against its test type's baseline runs.
fn comparisons(jobs: &[(BenchmarkJob, Value)]) -> (Vec<Comparison>, Vec<String>) {
    let mut groups: BTreeMap<(TestType, String), Vec<Run>> = BTreeMap::new();
    for (job, value) in jobs {
        let Ok(result) = serde_json::from_value::<BenchmarkResult>(value.clone()) else {
            continue;
        };
        groups
            .entry((job.test_type, job.mesh_type.clone()))
            .or_default()
            .push(Run {
                id: job.job_id.clone(),
                result,
            });
    }
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for ((test_type, mesh), runs) in &groups {
        if mesh == BASELINE {
            continue;
        }
        let Some(base) = groups.get(&(*test_type, BASELINE.to_string())) else {
            continue;
        };
        let baseline_label = format!("{BASELINE} ({test_type})");
        let mesh_label = format!("{mesh} ({test_type})");
        match compare::compare(
            (&baseline_label, base),
            (&mesh_label, runs),
            &Gates::default(),
            compare::DEFAULT_MAX_ERROR_RATE,
        ) {
            Ok(c) => out.push(c),
            Err(e) => notes.push(format!("{mesh_label} not compared: {e}")),
        }
    }
    (out, notes)
}

/// A comparison's figures as table cells: figure, baseline, candidate, change, interval, verdict.
fn comparison_rows(c: &Comparison) -> Vec<[String; 6]> {
    let show = |i: &meshbench_core::stats::Interval, unit: &str| {
        format!(
            "{:.1} ±{:.1} {unit}",
            i.estimate,
            (i.high - i.low).abs() / 2.0
        )
    };
    c.figures
        .iter()
        .map(|f| {
            let (change, interval) = match f.difference.relative {
                Some(r) => (
                    format!("{:+.1} %", r.estimate * 100.0),
                    format!("{:+.1} … {:+.1} %", r.low * 100.0, r.high * 100.0),
                ),
                None => ("—".into(), "—".into()),
            };
            let method = match f.difference.method {
                meshbench_core::stats::Method::Runs => "runs",
                meshbench_core::stats::Method::Seconds => "seconds",
            };
            [
                f.figure.clone(),
                show(&f.baseline, &f.unit),
                show(&f.candidate, &f.unit),
                change,
                interval,
                format!("{} ({method})", f.verdict),
            ]
        })
        .collect()
}

/// A comparison's runs left out, outliers and differing settings, one line each.
fn comparison_lines(c: &Comparison) -> Vec<String> {
    let mut lines: Vec<String> = c
        .left_out
        .iter()
        .map(|l| format!("Left out, invalid: {}: {}", l.id, l.reasons.join("; ")))
        .collect();
    lines.extend(
        c.outliers
            .iter()
            .map(|o| format!("Outlier (kept): {} on {} ({:.1})", o.id, o.figure, o.value)),
    );
    lines.extend(c.warnings.iter().map(|w| format!("Settings differ: {w}")));
    lines
}

/// Every non-baseline job against the mean of the baseline jobs of its test type.
fn overhead(jobs: &[ReportJob]) -> Vec<ReportOverhead> {
    let mut baselines: BTreeMap<TestType, Vec<&ReportJob>> = BTreeMap::new();
    for j in jobs.iter().filter(|j| j.mesh_type == BASELINE) {
        baselines.entry(j.test_type).or_default().push(j);
    }
    jobs.iter()
        .filter(|j| j.mesh_type != BASELINE)
        .filter_map(|j| {
            let base = baselines.get(&j.test_type)?;
            let latency = PERCENTILES
                .iter()
                .map(|(name, _, get)| {
                    let baseline_us =
                        base.iter().map(|b| get(b) as f64).sum::<f64>() / base.len() as f64;
                    let mesh_us = get(j);
                    let overhead_us = mesh_us as f64 - baseline_us;
                    PercentileOverhead {
                        percentile: name.to_string(),
                        baseline_us,
                        mesh_us,
                        overhead_us,
                        overhead_pct: (baseline_us > 0.0)
                            .then(|| overhead_us / baseline_us * 100.0),
                    }
                })
                .collect();
            Some(ReportOverhead {
                job_id: j.job_id.clone(),
                mesh_type: j.mesh_type.clone(),
                test_type: j.test_type,
                baseline_job_ids: base.iter().map(|b| b.job_id.clone()).collect(),
                latency,
            })
        })
        .collect()
}

const HTML_STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;\
margin:2rem auto;max-width:80rem;padding:0 1rem;color:#1f2937}h1{font-size:1.6rem;margin-bottom:.2rem}\
h2{font-size:1.15rem;margin-top:2rem}.meta{color:#6b7280}table{border-collapse:collapse;width:100%;\
font-size:13px}th,td{border:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums}td.up{color:#b91c1c}\
code{font-size:12px;word-break:break-all}small{color:#6b7280}\
@media print{body{margin:0;max-width:none}}";

/// `text` safe in a Markdown table cell or heading: punctuation that starts markup (and
/// raw HTML) is backslash-escaped, line breaks become spaces.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn time_text(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

fn model_text(c: &RunConfig) -> String {
    match (c.model.as_deref(), c.rate_rps) {
        (Some(model), Some(rate)) => format!("{model}, {rate} req/s"),
        (Some(model), None) => model.to_string(),
        (None, Some(rate)) => format!("{rate} req/s"),
        (None, None) => String::new(),
    }
}

/// `200: 1234; 503: 5`.
fn codes_text(codes: &BTreeMap<String, u64>) -> String {
    codes
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn signed_us(us: f64) -> String {
    format!("{us:+.1} µs")
}

fn signed_pct(pct: Option<f64>) -> String {
    pct.map(|p| format!("{p:+.1} %"))
        .unwrap_or_else(|| "n/a".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn job(id: &str, mesh: &str, test_type: TestType) -> BenchmarkJob {
        BenchmarkJob {
            job_id: id.to_string(),
            status: JobStatus::Completed,
            test_type,
            mesh_type: mesh.to_string(),
            namespace: "bench".to_string(),
            created_at: datetime!(2026-01-31 12:00 UTC),
            started_at: Some(datetime!(2026-01-31 12:00:01 UTC)),
            completed_at: Some(datetime!(2026-01-31 12:01:01 UTC)),
            progress: 1.0,
            error: None,
            request: json!({"test_type": test_type, "mesh_type": mesh, "duration": 60,
                            "concurrent_connections": 8, "rate": 500.0}),
            summary: None,
            attempts: 1,
            parent_id: None,
            series: None,
            invalid_reasons: Vec::new(),
        }
    }

    /// A stored result whose percentiles are `scale` × (100, 200, …, 800) µs.
    fn result(scale: u64) -> Value {
        json!({
            "schema": "meshbench.result.v1",
            "spec": {"requests": [{"method": "GET", "url": "http://echo.bench:8080/"}],
                     "connections": 8, "model": "open"},
            "model": "open",
            "duration_s": 60.0,
            "requests": 30000,
            "errors": 3,
            "rps": 500.0,
            "requested_rps": 500.0,
            "latency_us": {"min": 50, "mean": 150.0, "stdev": 20.0,
                "p50": 100 * scale, "p75": 200 * scale, "p90": 300 * scale, "p95": 400 * scale,
                "p99": 500 * scale, "p999": 600 * scale, "p9999": 700 * scale, "max": 800 * scale},
            "status_codes": {"200": 29997, "503": 3},
        })
    }

    fn document(title: &str) -> ReportDocument {
        let mut istio = job("j-istio", "istio", TestType::Http);
        istio.namespace = "ns<b>".to_string();
        ReportDocument::new(
            title.to_string(),
            datetime!(2026-02-01 08:30 UTC),
            &[
                (job("j-base-1", "baseline", TestType::Http), result(1)),
                (job("j-base-2", "baseline", TestType::Http), result(3)),
                (istio, result(4)),
                // No gRPC baseline: no overhead entry for this one.
                (job("j-grpc", "linkerd", TestType::Grpc), result(1)),
            ],
        )
    }

    #[test]
    fn rows_carry_the_configuration_and_percentiles() {
        let doc = document("t");
        let row = &doc.jobs[0];
        assert_eq!(row.config.url.as_deref(), Some("http://echo.bench:8080/"));
        assert_eq!(row.config.method.as_deref(), Some("GET"));
        assert_eq!(row.config.connections, Some(8));
        assert_eq!(row.config.duration_s, Some(60.0));
        assert_eq!(row.config.model.as_deref(), Some("open"));
        assert_eq!(row.config.rate_rps, Some(500.0));
        assert_eq!((row.requests, row.errors, row.rps), (30000, 3, 500.0));
        assert_eq!(
            [
                row.p50_us,
                row.p75_us,
                row.p90_us,
                row.p95_us,
                row.p99_us,
                row.p999_us,
                row.p9999_us,
                row.max_us
            ],
            [100, 200, 300, 400, 500, 600, 700, 800]
        );
        assert_eq!(row.status_codes["503"], 3);

        // A result missing most fields still gives a row, filled from the job.
        let mut bare = job("j-bare", "baseline", TestType::Http);
        bare.request["service_url"] = json!("http://svc/");
        let row = report_job(&bare, &json!({}));
        assert_eq!(row.config.url.as_deref(), Some("http://svc/"));
        assert_eq!(row.config.connections, Some(8));
        assert_eq!(row.config.model.as_deref(), Some("open"));
        assert_eq!(row.p99_us, 0);
    }

    #[test]
    fn overhead_is_against_the_mean_of_same_type_baselines() {
        let doc = document("t");
        assert_eq!(doc.overhead.len(), 1, "{:?}", doc.overhead);
        let o = &doc.overhead[0];
        assert_eq!(o.job_id, "j-istio");
        assert_eq!(o.baseline_job_ids, ["j-base-1", "j-base-2"]);
        let names: Vec<&str> = o.latency.iter().map(|p| p.percentile.as_str()).collect();
        assert_eq!(
            names,
            ["p50", "p75", "p90", "p95", "p99", "p999", "p9999", "max"]
        );
        // Baselines 100 and 300 µs at p50: mean 200; istio 400 → +200 µs, +100 %.
        let p50 = &o.latency[0];
        assert_eq!(
            (p50.baseline_us, p50.mesh_us, p50.overhead_us),
            (200.0, 400, 200.0)
        );
        assert_eq!(p50.overhead_pct, Some(100.0));
        let max = &o.latency[7];
        assert_eq!((max.baseline_us, max.mesh_us), (1600.0, 3200));

        // A zero baseline has no percentage.
        let zero = ReportDocument::new(
            "z".into(),
            datetime!(2026-02-01 08:30 UTC),
            &[
                (job("b", "baseline", TestType::Http), json!({})),
                (job("m", "istio", TestType::Http), result(1)),
            ],
        );
        assert_eq!(zero.overhead[0].latency[0].overhead_pct, None);
    }

    #[test]
    fn html_is_self_contained_and_escapes_user_text() {
        let doc = document("<script>alert('x')</script> & \"co\"");
        let page = String::from_utf8(doc.render(ReportFormat::Html)).unwrap();
        assert!(page.starts_with("<!doctype html>"));
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
        assert!(page.contains("ns&lt;b&gt;"));
        assert!(!page.contains("ns<b>"));
        // No external assets of any kind.
        for needle in ["src=", "href=", "@import", "url("] {
            assert!(!page.contains(needle), "{needle} in the page");
        }
        assert!(page.contains("<style>"));
        assert!(page.contains("Overhead vs baseline"));
        assert!(page.contains("+200.0 µs"));
        assert!(page.contains("+100.0 %"));
        assert!(page.contains("http://echo.bench:8080/"));
        // The chart is inline SVG, one group of bars a job.
        assert!(page.contains("aria-label=\"Latency percentiles by job\""));
        assert_eq!(
            page.matches("fill=\"#dc2626\"").count(),
            doc.jobs.len() + 1,
            "a p99 bar a job, and the legend's"
        );
    }

    #[test]
    fn markdown_tables_escape_cell_text() {
        let doc = document("A | B <i>");
        let text = String::from_utf8(doc.render(ReportFormat::Markdown)).unwrap();
        assert!(text.starts_with("# A \\| B \\<i\\>\n"), "{text}");
        assert!(
            text.contains("| `j-istio` | istio | http | ns\\<b\\> |"),
            "{text}"
        );
        assert!(text.contains("## Overhead vs baseline"));
        assert!(text.contains("+200.0 µs (+100.0 %)"));
        // Every row of a table has as many cells as its header (escaped pipes do not count).
        for table in text.split("\n\n").filter(|t| t.starts_with('|')) {
            let cells: Vec<usize> = table
                .lines()
                .map(|l| l.matches('|').count() - l.matches("\\|").count())
                .collect();
            assert!(cells.windows(2).all(|w| w[0] == w[1]), "{table}");
        }
    }

    #[test]
    fn csv_has_one_row_per_job_and_quotes_fields() {
        let mut doc = document("t");
        doc.jobs[0].config.url = Some("http://x/?a=1,b=\"2\"".to_string());
        doc.jobs[1].mesh_type = "=HYPERLINK(1)".to_string();
        let text = String::from_utf8(doc.render(ReportFormat::Csv)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + doc.jobs.len());
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(header.len(), 24);
        assert_eq!(header[0], "job_id");
        assert!(
            lines[1].contains("\"http://x/?a=1,b=\"\"2\"\"\""),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",'=HYPERLINK(1),"), "{}", lines[2]);
        assert!(
            lines[3].contains(",400,800,1200,1600,2000,2400,2800,3200,200: 29997; 503: 3"),
            "{}",
            lines[3]
        );
        assert!(lines[4].starts_with("j-grpc,linkerd,grpc,bench,completed,2026-01-31T12:01:01Z,"));
    }

    #[test]
    fn json_is_the_document() {
        let doc = document("t");
        let value: Value = serde_json::from_slice(&doc.render(ReportFormat::Json)).unwrap();
        assert_eq!(value["schema"], REPORT_SCHEMA);
        assert_eq!(value["title"], "t");
        assert_eq!(value["created_at"], "2026-02-01T08:30:00Z");
        assert_eq!(value["jobs"].as_array().unwrap().len(), 4);
        assert_eq!(value["jobs"][0]["p99_us"], 500);
        assert_eq!(value["overhead"][0]["latency"][0]["overhead_us"], 200.0);
        let back: ReportDocument = serde_json::from_value(value).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn formats_round_trip_their_names() {
        for f in ReportFormat::ALL {
            assert_eq!(ReportFormat::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        assert_eq!(ReportFormat::parse("docx"), None);
        assert_eq!(ReportFormat::Markdown.extension(), "md");
    }

    /// A complete stored result, as a worker saves it, with the given median (µs).
    fn full_result(p50: u64) -> Value {
        let spec =
            serde_json::from_value::<meshbench_core::StartRequest>(json!({"test_type": "http"}))
                .unwrap()
                .to_spec("http://127.0.0.1/");
        let timeline: Vec<Value> = (0..5)
            .map(|s| {
                json!({"second": s, "requests": 100, "errors": 0, "p50_us": p50 + s,
                            "p99_us": p50 * 2 + s, "p90_us": p50 + 10 + s, "p999_us": p50 * 3 + s,
                            "mean_us": p50 as f64 + s as f64})
            })
            .collect();
        json!({
            "schema": meshbench_core::RESULT_SCHEMA, "spec": spec, "model": "closed",
            "started_at": "2026-12-06T12:00:00Z", "ended_at": "2026-12-06T12:00:05Z",
            "duration_s": 5.0, "requests": 500, "errors": 0, "rps": 100.0,
            "latency_us": {"min": 1, "mean": p50 as f64, "stdev": 1.0, "p50": p50, "p75": p50,
                "p90": p50 + 10, "p95": p50 + 20, "p99": p50 * 2, "p999": p50 * 3, "p9999": p50 * 3,
                "max": p50 * 4},
            "service_time_us": {"min": 1, "mean": 1.0, "stdev": 0.0, "p50": 1, "p75": 1, "p90": 1,
                "p95": 1, "p99": 1, "p999": 1, "p9999": 1, "max": 1},
            "status_codes": {"200": 500}, "error_kinds": {}, "bytes_sent": 0, "bytes_received": 0,
            "timeline": timeline, "histogram": "", "service_histogram": "",
            "loadgen": {"threads": 1, "connections": 10, "cpu_s": 0.1, "cpu_user_s": 0.1,
                        "cpu_system_s": 0.0, "max_rss_bytes": 1, "saturated": false}
        })
    }

    #[test]
    fn meshes_are_compared_with_baseline_runs_with_intervals_and_verdicts() {
        let mut jobs = Vec::new();
        for i in 0..2 {
            jobs.push((
                job(&format!("b{i}"), "baseline", TestType::Http),
                full_result(1000 + i),
            ));
            jobs.push((
                job(&format!("i{i}"), "istio", TestType::Http),
                full_result(2000 + i),
            ));
        }
        let mut saturated = full_result(2000);
        saturated["loadgen"]["saturated"] = json!(true);
        jobs.push((job("i-bad", "istio", TestType::Http), saturated));
        let doc = ReportDocument::new("t".into(), datetime!(2026-02-01 08:30 UTC), &jobs);
        assert_eq!(doc.comparisons.len(), 1, "{:?}", doc.comparison_notes);
        let c = &doc.comparisons[0];
        assert_eq!(
            (
                c.baseline.valid_runs,
                c.candidate.runs,
                c.candidate.valid_runs
            ),
            (2, 3, 2)
        );
        assert_eq!(
            c.figures[0].verdict,
            meshbench_core::compare::Verdict::Worse
        );
        let html = String::from_utf8(doc.render(ReportFormat::Html)).unwrap();
        assert!(
            html.contains("istio (http) against baseline (http): 95 % intervals"),
            "{html}"
        );
        assert!(html.contains("Left out, invalid: i-bad"), "{html}");
        let markdown = String::from_utf8(doc.render(ReportFormat::Markdown)).unwrap();
        assert!(markdown.contains("| p50 |"), "{markdown}");
        assert!(markdown.contains("worse (seconds)"), "{markdown}");
    }
}
