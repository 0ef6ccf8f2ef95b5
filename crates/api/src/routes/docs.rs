//! The OpenAPI 3 document, generated from the handlers' annotations and the core types, at
//! `/openapi.json`, and `/docs`: a self-contained page (no CDN: none is reachable from many
//! benchmark labs) that lists every operation and can call it.

use axum::response::{Html, IntoResponse};
use axum::Json;
use meshbench_core::{
    BenchmarkJob, FieldError, JobEvent, JobEventBody, JobSort, JobStatus, JobSummary, SortOrder,
    StartRequest, TestType,
};
use utoipa::OpenApi;

use super::benchmarks::StartResponse;
use crate::error::ErrorBody;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshbench",
        description = "Service mesh benchmarks: jobs, results, metrics and live events."
    ),
    paths(
        super::health::health,
        super::benchmarks::start,
        super::benchmarks::list,
        super::benchmarks::get_job,
        super::benchmarks::result,
        super::benchmarks::cancel,
        super::metrics::results,
        super::metrics::summary,
        super::metrics::prometheus,
        super::unavailable::probe_start,
        super::unavailable::probe_status,
        super::unavailable::kubernetes,
        super::ws::upgrade,
    ),
    components(schemas(
        StartRequest,
        StartResponse,
        BenchmarkJob,
        JobStatus,
        JobSort,
        SortOrder,
        TestType,
        JobSummary,
        JobEvent,
        JobEventBody,
        FieldError,
        ErrorBody
    ))
)]
pub(crate) struct ApiDoc;

/// `GET /openapi.json`.
pub(crate) async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// `GET /docs`.
pub(crate) async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
