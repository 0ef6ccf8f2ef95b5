//! One error shape for every answer: `{"code", "message", "details"}`. 4xx messages are for
//! the client; 5xx answers are opaque and the cause is logged. Rejections made before a
//! handler runs (axum's own: a body over the limit, a method a path does not have, a
//! WebSocket request without its headers) are put in the same shape by [`json_rejections`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meshbench_core::FieldError;

/// The JSON body of every error answer (for the API documentation).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind, e.g. `validation_error`, `job_not_found`.
    pub code: String,
    /// For a person to read.
    pub message: String,
    /// For `validation_error`: one entry per broken rule, naming its field; `null` for
    /// every other kind.
    #[schema(required = true)]
    pub details: Option<Vec<FieldError>>,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Vec<FieldError>>,
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
            details: Some(errors),
        }
    }

    /// 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }

    /// What the answer says, for a person.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400: the body is empty or not JSON at all.
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "malformed_json",
            message: message.into(),
            details: None,
        }
    }

    /// 404 for an unknown job.
    pub fn job_not_found(job_id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "job_not_found",
            message: format!("no job `{job_id}`"),
            details: None,
        }
    }

    /// Any status with a code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
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
        let body = ErrorBody {
            code: self.code.to_string(),
            message: self.message,
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Longest rejection text kept as the message; axum's own are one short line.
const MAX_REJECTION_BYTES: usize = 4096;

/// Puts every error answer that is not JSON yet (axum's rejections are plain text or empty)
/// into the [`ErrorBody`] shape: `code` from the status (`payload_too_large`,
/// `method_not_allowed`, `bad_request`…), `message` the rejection's own text.
pub(crate) async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("error");
    let body = ErrorBody {
        code: reason.to_ascii_lowercase().replace([' ', '-'], "_"),
        message: if text.is_empty() {
            reason.to_string()
        } else {
            text
        },
        details: None,
    };
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return Response::from_parts(parts, Body::empty());
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}
