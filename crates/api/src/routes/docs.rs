//! The OpenAPI 3 document, generated from the handlers' annotations and the core types, at
//! `/openapi.json`, and `/docs`: a self-contained page (no CDN: none is reachable from many
//! benchmark labs) that lists every operation and can call it.

use axum::response::{Html, IntoResponse};
use axum::Json;
use meshbench_core::probe::{ProbeOutputFormat, ProbeTimelineEntry};
use meshbench_core::{
    BenchmarkJob, Bucket, Distribution, FieldError, JobDistribution, JobEvent, JobEventBody,
    JobSort, JobStatus, JobSummary, ProbeRequest, SortOrder, SpectrumPoint, StartRequest, TestType,
};
use utoipa::OpenApi;

use super::benchmarks::StartResponse;
use super::health::{Capability, Health, KubernetesCapability};
use super::probes::{ProbeDistribution, ProbeStarted, ProbeStatus};
use super::reports::{GenerateReportRequest, Report};
use crate::error::ErrorBody;
use crate::report::{
    PercentileOverhead, ReportDocument, ReportFormat, ReportJob, ReportOverhead, RunConfig,
};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "meshbench",
        description = "Service mesh benchmarks: jobs, results, distributions, reports, metrics and live events."
    ),
    paths(
        super::health::health,
        super::benchmarks::start,
        super::benchmarks::list,
        super::benchmarks::get_job,
        super::benchmarks::result,
        super::benchmarks::smp,
        super::benchmarks::distribution,
        super::benchmarks::cancel,
        super::metrics::results,
        super::metrics::summary,
        super::metrics::prometheus,
        super::series::start_series,
        super::series::get_series,
        super::series::compare_runs,
        super::reports::generate,
        super::reports::list,
        super::reports::get_report,
        super::reports::download,
        super::reports::shared,
        super::reports::revoke_share,
        super::auth::login,
        super::auth::logout,
        super::auth::me,
        super::auth::create_token,
        super::auth::list_tokens,
        super::auth::revoke_token,
        super::admin::list_users,
        super::admin::add_user,
        super::admin::update_user,
        super::admin::audit_log,
        super::probes::start,
        super::probes::status,
        super::probes::list,
        super::probes::get_probe,
        super::probes::cancel,
        super::probes::download,
        super::probes::distributions,
        super::kubernetes::namespaces,
        super::kubernetes::pods,
        super::kubernetes::services,
        super::kubernetes::mesh_status,
        super::lab::status,
        super::lab::up,
        super::lab::down,
        super::lab::run,
        super::lab::compare_start,
        super::lab::compare_view,
        super::ws::upgrade,
    ),
    components(schemas(
        StartRequest,
        StartResponse,
        meshbench_core::user::User,
        super::admin::NewUser,
        super::admin::UserChange,
        super::series::SeriesStart,
        super::series::SeriesView,
        super::series::CompareRequest,
        meshbench_core::SeriesPlace,
        meshbench_core::compare::Comparison,
        meshbench_core::capacity::Capacity,
        meshbench_core::capacity::Step,
        meshbench_core::capacity::CapacitySearch,
        meshbench_core::compare::SeriesStats,
        meshbench_core::compare::SeriesFigure,
        meshbench_core::compare::ComparedFigure,
        meshbench_core::compare::Side,
        meshbench_core::compare::LeftOut,
        meshbench_core::compare::Outlier,
        meshbench_core::compare::GateOutcome,
        meshbench_core::compare::Verdict,
        meshbench_core::stats::Interval,
        meshbench_core::stats::Difference,
        meshbench_core::stats::Method,
        BenchmarkJob,
        JobStatus,
        JobSort,
        SortOrder,
        TestType,
        JobSummary,
        JobDistribution,
        Distribution,
        SpectrumPoint,
        Bucket,
        JobEvent,
        JobEventBody,
        Health,
        Capability,
        KubernetesCapability,
        super::kubernetes::NamespaceList,
        super::kubernetes::PodList,
        super::kubernetes::ServiceList,
        meshbench_core::NamespaceInfo,
        meshbench_core::MeshSummary,
        meshbench_core::MeshStatus,
        meshbench_core::MeshKind,
        meshbench_core::Injection,
        meshbench_core::MtlsInfo,
        meshbench_core::ControlPlane,
        meshbench_core::Component,
        meshbench_core::PodInfo,
        meshbench_core::ContainerInfo,
        meshbench_core::ServiceInfo,
        meshbench_core::ServicePortInfo,
        GenerateReportRequest,
        Report,
        ReportFormat,
        ReportDocument,
        ReportJob,
        RunConfig,
        ReportOverhead,
        PercentileOverhead,
        FieldError,
        ErrorBody,
        ProbeRequest,
        ProbeOutputFormat,
        ProbeTimelineEntry,
        ProbeStarted,
        ProbeStatus,
        ProbeDistribution,
        meshbench_core::lab::LabTopology,
        super::lab::LabView,
        super::lab::TopologyInfo,
        super::lab::HopInfo,
        super::lab::UpRequest,
        super::lab::LabCompareRequest,
        super::lab::LabTopologyView,
        super::lab::LabComparisonView
    )),
    modifiers(&SecuritySchemes),
    security((), ("bearer" = []), ("session" = []))
)]
pub(crate) struct ApiDoc;

/// Declares how a caller authenticates: a bearer token (`POST /auth/tokens`) or the
/// dashboard's session cookie (`POST /auth/login`). A server without users (development
/// mode) needs neither, hence the empty requirement.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mbt_<id>_<secret>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// `GET /openapi.json`.
pub(crate) async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// `GET /docs`.
pub(crate) async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard's TypeScript types are generated from this committed copy of the
    /// document; this fails when the server's document has moved on without it.
    #[test]
    fn openapi_snapshot() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../frontend/src/lib/openapi.json");
        let mut current = serde_json::to_string_pretty(&ApiDoc::openapi()).unwrap();
        current.push('\n');
        if std::env::var_os("MESHBENCH_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &current).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == current,
            "{} is not the server's current OpenAPI document.\nRefresh it with \
             `MESHBENCH_BLESS=1 cargo test -p meshbench-api openapi_snapshot`, then run \
             `npm run gen:api` in frontend/ and commit both.",
            path.display()
        );
    }

    /// The bounds the document states are the ones the server enforces.
    #[test]
    fn documented_bounds_are_the_enforced_ones() {
        use meshbench_core::probe::{
            MAX_PROBE_DURATION, MAX_PROBE_NEW_CONNECTIONS, MAX_PROBE_PORTS,
        };
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let probe = &doc["components"]["schemas"]["ProbeRequest"]["properties"];
        assert_eq!(probe["duration"]["maximum"], MAX_PROBE_DURATION);
        assert_eq!(
            probe["max_new_connections"]["maximum"],
            MAX_PROBE_NEW_CONNECTIONS
        );
        assert_eq!(probe["ports"]["maxItems"], MAX_PROBE_PORTS);
        let start = &doc["components"]["schemas"]["StartRequest"]["properties"];
        let limits = meshbench_core::StartLimits::default();
        assert_eq!(start["repeats"]["maximum"], limits.max_repeats);
        let report = &doc["components"]["schemas"]["GenerateReportRequest"]["properties"];
        assert_eq!(
            report["job_ids"]["maxItems"],
            super::super::reports::MAX_JOBS
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for param in op["parameters"].as_array().into_iter().flatten() {
                    let schema = &param["schema"];
                    match param["name"].as_str().unwrap() {
                        "limit" => {
                            assert_eq!(schema["minimum"], 1, "{path}");
                            assert_eq!(
                                schema["maximum"],
                                meshbench_store::MAX_LIST_LIMIT,
                                "{path}"
                            );
                        }
                        "offset" => {
                            assert_eq!(schema["maximum"], super::super::MAX_OFFSET, "{path}")
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Client generators name functions after operation ids; two handlers of the same
    /// name in different modules must not collide.
    #[test]
    fn operation_ids_are_unique() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(seen.insert(id.to_string()), "operationId `{id}` twice");
            }
        }
    }
}
