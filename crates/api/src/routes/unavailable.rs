//! The answer for paths the API does not have.

use axum::http::StatusCode;

use crate::ApiError;

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
