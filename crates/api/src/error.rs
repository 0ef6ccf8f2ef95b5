//! One error shape for every answer: `{"code", "message", "details"}`. 4xx messages are for
//! the client; 5xx answers are opaque and the cause is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meshbench_core::FieldError;
use serde_json::json;

/// The JSON body of every error answer (for the API documentation).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind, e.g. `validation_error`, `job_not_found`.
    pub code: String,
    /// For a person to read.
    pub message: String,
    /// For `validation_error`: `[{"field", "message"}]`, one per broken rule.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: serde_json::Value,
}

impl ApiError {
    /// 422: fields broke rules; each is named in `details`.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_error",
            message,
            details: json!(errors),
        }
    }

    /// 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    /// 400: the body is not JSON at all.
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// 404 for an unknown job.
    pub fn job_not_found(job_id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "job_not_found",
            message: format!("no job `{job_id}`"),
            details: serde_json::Value::Null,
        }
    }

    /// Any status with a code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// 500 whose cause is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<meshbench_store::Error> for ApiError {
    fn from(e: meshbench_store::Error) -> Self {
        use meshbench_store::Error as E;
        match &e {
            E::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            E::Invalid { field, message } => ApiError::field(field, message.clone()),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<meshbench_queue::Error> for ApiError {
    fn from(e: meshbench_queue::Error) -> Self {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.code, "message": self.message, "details": self.details});
        (self.status, Json(body)).into_response()
    }
}
